"""Builds the Swift package into one CPython extension that holds every per-CPU build of the kernels.

`pip install .` (or `pip install -e .`) checks the toolchain first (setuptools 77+, Swift 6.3+, the
interpreter's Python.h, a linker and objcopy) and stops with one line saying what to install when something is
missing. It then runs `swift build -c release --product _swiftsim` once per CPU level, with the
interpreter's own Python and NumPy include folders (passed to Package.swift through environment
variables), and links the results into a single stripped shared library,
`swiftsim/_native/_swiftsim.*.so`:

  x86_64_v4_bf16  cooperlake  (x86_64_v4 + AVX512_BF16: bfloat16 all-pairs products with vdpbf16ps)
  x86_64_v4  skylake-avx512  (AVX-512, 512-bit vectors, FMA, F16C)
  x86_64_v3  haswell         (AVX2, FMA, F16C)
  x86_64_v2  nehalem         (SSE4.2; multiply + add where there is no FMA)

Each build's objects are first linked into one relocatable object (`ld -r`) in which every symbol
is made local except the module's init function, renamed `PyInit_<variant>` (objcopy); the three
objects and one copy of the static Swift runtime are then linked together. Nothing of one build can
resolve to another's code, and `swiftsim/_loader.py` imports the best build the CPU runs by asking
for the module of that name (one library, several modules: PEP 489). One runtime instead of three
is what makes the wheel small (see docs/packaging.md for the measured sizes).

Environment:
  SWIFTSIM_TARGET_CPU   build one variant only ("custom"), for this CPU name (e.g. "native")
  SWIFTSIM_SANITIZE     "address" or "thread": build with that sanitizer (`make sanitize`; the
                        interpreter must preload the toolchain's sanitizer runtime)
  SWIFT                 the swift driver to use (default: swift on the PATH)
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
# A sanitizer build (`make sanitize`): "address" or "thread", or "" for the shipped build.
SANITIZE = os.environ.get("SWIFTSIM_SANITIZE", "")
if SANITIZE not in ("", "address", "thread"):
    raise SystemExit(f"swiftsim: SWIFTSIM_SANITIZE must be address or thread, got {SANITIZE!r}")

# The kernels implement the C ABI with `@c @implementation`, which Swift accepts from 6.3 on.
SWIFT_MIN = (6, 3)
# pyproject.toml's SPDX `license` string and `license-files` (as its [build-system] requires).
SETUPTOOLS_MIN = (77, 0)

# (variant, Swift target CPU, hardware vector bits); the kernels learn FMA support from the CPU.
X86_64_VARIANTS = [
    ("x86_64_v4_bf16", "cooperlake", 512),
    ("x86_64_v4", "skylake-avx512", 512),
    ("x86_64_v3", "haswell", 256),
    ("x86_64_v2", "nehalem", 128),
]

# Vector registers a build's own code must not use: a v3 build that touched zmm registers, or a
# v2 build that touched ymm ones, would crash with an illegal instruction on the CPUs it is for.
FORBIDDEN_REGISTERS = {"x86_64_v3": ("%zmm",), "x86_64_v2": ("%zmm", "%ymm")}


class ToolchainError(SystemExit):
    """A missing or too old build tool: one line that says what to install."""

    def __init__(self, message: str):
        super().__init__(f"swiftsim: {message}")


def parse_swift_version(output: str) -> tuple[int, int, str] | None:
    """(major, minor, full version) from `swift --version` output, or None if none is found."""
    match = re.search(r"Swift version (\d+)\.(\d+)(\S*)", output)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(1) + "." + match.group(2) + match.group(3)


def check_swift(swift: str, version_output: str | None = None) -> str:
    """Returns the version of the Swift driver `swift`; a ToolchainError if it is missing or too old."""
    need = ".".join(map(str, SWIFT_MIN))
    hint = f"install Swift {need}+ for Linux x86-64 from swift.org, or install a prebuilt swiftsim wheel"
    if version_output is None:
        if shutil.which(swift) is None:
            raise ToolchainError(
                f"building from source needs Swift {need}+, and '{swift}' is not on the PATH: {hint}"
            )
        run = subprocess.run([swift, "--version"], capture_output=True, text=True)
        version_output = run.stdout + run.stderr
    parsed = parse_swift_version(version_output)
    if parsed is None:
        raise ToolchainError(
            f"'{swift} --version' does not name a Swift version; building needs Swift {need}+: {hint}"
        )
    if parsed[:2] < SWIFT_MIN:
        raise ToolchainError(
            f"building from source needs Swift {need}+, found Swift {parsed[2]} ('{swift}'): {hint}"
        )
    return parsed[2]


def check_python_headers(include: str) -> None:
    """A ToolchainError unless the interpreter's Python.h is in `include`."""
    if not os.path.exists(os.path.join(include, "Python.h")):
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise ToolchainError(
            f"Python.h is not in {include}: install the headers of Python {version} "
            f"(Debian/Ubuntu: apt-get install python{version}-dev or python3-dev)"
        )


def check_setuptools(version: str) -> None:
    """A ToolchainError for a setuptools too old to read pyproject.toml (a --no-build-isolation build)."""
    if tuple(int(part) for part in re.findall(r"\d+", version)[:2]) < SETUPTOOLS_MIN:
        need = ".".join(map(str, SETUPTOOLS_MIN))
        raise ToolchainError(
            f"building needs setuptools>={need} (found {version}): pip install 'setuptools>={need}', "
            "or build without --no-build-isolation"
        )


def find_tool(names: list[str], swift: str) -> str:
    """The first of `names` on the PATH or beside the swift driver; a ToolchainError if none is."""
    folders = [None, os.path.dirname(os.path.realpath(shutil.which(swift) or swift))]
    for name in names:
        for folder in folders:
            found = shutil.which(name, path=folder)
            if found:
                return found
    raise ToolchainError(
        f"building needs {' or '.join(names)}: install binutils (Debian/Ubuntu: apt-get install binutils)"
    )


def forbidden_instructions(variant: str, disassembly: str) -> list[str]:
    """The lines of `disassembly` that use vector registers the CPUs of `variant` may not have."""
    registers = FORBIDDEN_REGISTERS.get(variant, ())
    return [line.strip() for line in disassembly.splitlines() if any(r in line for r in registers)]


def _native_vector_bits() -> int:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return 128
    return 512 if "avx512f" in flags else 256 if "avx2" in flags else 128


def variants():
    cpu = os.environ.get("SWIFTSIM_TARGET_CPU")
    if cpu:
        return [("custom", cpu, _native_vector_bits())]
    if platform.machine().lower() in ("x86_64", "amd64"):
        return X86_64_VARIANTS
    return [("generic", "generic", 128)]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def build_variant(
    swift: str, swift_version: str, variant: str, cpu: str, bits: int, tools: dict, work: str
) -> str:
    """Compiles one CPU level with SwiftPM; returns its object, PyInit_<variant> its only global."""
    import numpy

    env = dict(os.environ)
    env.update(
        SWIFTSIM_PYTHON_INCLUDE=sysconfig.get_paths()["include"],
        SWIFTSIM_NUMPY_INCLUDE=numpy.get_include(),
        SWIFTSIM_SWIFT_VERSION=swift_version,
        SWIFTSIM_TARGET_CPU=cpu,
        SWIFTSIM_VARIANT=variant,
        SWIFTSIM_VECTOR_BITS=str(bits),
    )
    scratch = os.path.join(HERE, ".build-variants", variant + (f"-{SANITIZE}" if SANITIZE else ""))
    cmd = [
        swift,
        "build",
        "-c",
        "release",
        "--product",
        "_swiftsim",
        "--package-path",
        HERE,
        "--scratch-path",
        scratch,
    ]
    if SANITIZE:
        cmd.append(f"--sanitize={SANITIZE}")
    print("swiftsim:", " ".join(cmd), f"(target CPU {cpu})", flush=True)
    _run(cmd, env=env)
    bin_path = _run(cmd + ["--show-bin-path"], env=env, capture_output=True, text=True).stdout.strip()
    # The product's own link list: every object of CPyBridge and the targets it depends on.
    with open(os.path.join(bin_path, "_swiftsim.product", "Objects.LinkFileList")) as f:
        objects = shlex.split(f.read())
    part = os.path.join(work, f"{variant}.part.o")
    local = os.path.join(work, f"{variant}.local.o")
    final = os.path.join(work, f"{variant}.o")
    _run([tools["ld"], "-r", "-o", part, *objects])
    _run([tools["objcopy"], "--keep-global-symbol=PyInit__swiftsim", part, local])
    _run([tools["objcopy"], f"--redefine-sym=PyInit__swiftsim=PyInit_{variant}", local, final])
    os.remove(part)
    os.remove(local)
    if variant in FORBIDDEN_REGISTERS and tools.get("objdump"):
        disassembly = _run(
            [tools["objdump"], "-d", "--no-show-raw-insn", final], capture_output=True, text=True
        )
        bad = forbidden_instructions(variant, disassembly.stdout)
        if bad:
            raise SystemExit(
                f"swiftsim: the {variant} build uses instructions its CPUs lack, e.g. {bad[0]!r}"
            )
    return final


def link_library(swift: str, objects: dict[str, str], dest: str, work: str) -> None:
    """Links the per-CPU objects and one static Swift runtime into the stripped extension `dest`."""
    exports = os.path.join(work, "exports.map")
    with open(exports, "w") as f:
        f.write("{\n  global: " + " ".join(f"PyInit_{v};" for v in objects) + "\n  local: *;\n};\n")
    driver = shutil.which(swift) or swift
    swiftc = os.path.join(os.path.dirname(driver), "swiftc")
    cmd = [
        swiftc if os.path.exists(swiftc) else "swiftc",
        "-emit-library",
        "-module-name",
        "_swiftsim",
        "-o",
        dest,
        *objects.values(),
        # The Swift runtime is linked in statically, so the module imports without a toolchain
        # (dynamically for ThreadSanitizer, which must see the runtime's synchronisation);
        # `none`: no back-deployment shims, as SwiftPM links it.
        *([] if SANITIZE == "thread" else ["-static-stdlib"]),
        *([f"-sanitize={SANITIZE}"] if SANITIZE else []),
        "-runtime-compatibility-version",
        "none",
        # Drop unreferenced sections; export the init functions alone (libpython is never linked:
        # the interpreter provides its symbols); drop the symbol tables and debug information
        # (11.3 MB -> 6.9 MB for one build; the C ABI needs no exported symbols).
        "-Xlinker",
        "--gc-sections",
        "-Xlinker",
        f"--version-script={exports}",
        "-Xlinker",
        "--strip-all",
    ]
    print("swiftsim:", " ".join(cmd), flush=True)
    _run(cmd)


def _build_ext_class():
    from setuptools.command.build_ext import build_ext

    class SwiftBuildExt(build_ext):
        def build_extension(self, ext):
            swift = os.environ.get("SWIFT", "swift")
            swift_version = check_swift(swift)
            check_python_headers(sysconfig.get_paths()["include"])
            tools = {
                "ld": find_tool(["ld", "ld.lld"], swift),
                "objcopy": find_tool(["objcopy", "llvm-objcopy"], swift),
                "objdump": shutil.which("objdump") or shutil.which("llvm-objdump"),
            }
            work = os.path.join(HERE, ".build-variants", "combined" + (f"-{SANITIZE}" if SANITIZE else ""))
            os.makedirs(work, exist_ok=True)
            objects = {
                v: build_variant(swift, swift_version, v, cpu, bits, tools, work)
                for v, cpu, bits in variants()
            }
            dest = self.get_ext_fullpath(ext.name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            # An editable install copies the result into the source tree afterwards: make its folder.
            os.makedirs(os.path.join(HERE, "python", *ext.name.split(".")[:-1]), exist_ok=True)
            link_library(swift, objects, dest, work)

    return SwiftBuildExt


if __name__ == "__main__":
    import setuptools

    check_setuptools(setuptools.__version__)
    from setuptools import Extension, setup

    setup(
        ext_modules=[Extension("swiftsim._native._swiftsim", sources=[])],
        cmdclass={"build_ext": _build_ext_class()},
    )
