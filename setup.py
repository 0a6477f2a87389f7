"""Builds the Swift package and places its CPython extension(s) in the swiftsim package.

`pip install .` (or `pip install -e .`) runs `swift build -c release --product _swiftsim` with the
interpreter's own Python and NumPy include folders (passed to Package.swift through environment
variables) and copies the shared library to the extension's path.

On x86-64 the same sources are compiled once per CPU level, each into its own copy of the extension
(`swiftsim/_native/<variant>/_swiftsim.*.so`); `swiftsim/_loader.py` imports the best one the CPU
runs as `swiftsim._swiftsim`:
  x86_64_v4  skylake-avx512  (AVX-512, 512-bit vectors, FMA, F16C)
  x86_64_v3  haswell         (AVX2, FMA, F16C)
  x86_64_v2  nehalem         (SSE4.2; multiply + add where there is no FMA)

Environment:
  SWIFTSIM_TARGET_CPU   build one variant only, for this CPU name (e.g. "native")
  SWIFTSIM_SANITIZE     "address" or "thread": build with that sanitizer (`make sanitize`; the
                        process must preload the toolchain's sanitizer runtime)
  SWIFT                 the swift driver to use (default: swift on the PATH)
"""

import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

# (variant, Swift target CPU, hardware vector bits); the kernels learn FMA support from the CPU.
X86_64_VARIANTS = [
    ("x86_64_v4", "skylake-avx512", 512),
    ("x86_64_v3", "haswell", 256),
    ("x86_64_v2", "nehalem", 128),
]


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


class SwiftBuildExt(build_ext):
    def build_extension(self, ext):
        import numpy

        swift = os.environ.get("SWIFT", "swift")
        if shutil.which(swift) is None:
            sys.exit(f"swiftsim: the Swift toolchain ('{swift}') is not on the PATH; install Swift 6.x")
        version = subprocess.run([swift, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"Swift version (\S+)", version)
        variant = ext.name.split(".")[-2]
        _, cpu, bits = next(v for v in variants() if v[0] == variant)
        env = dict(os.environ)
        env.update(
            SWIFTSIM_PYTHON_INCLUDE=sysconfig.get_paths()["include"],
            SWIFTSIM_NUMPY_INCLUDE=numpy.get_include(),
            SWIFTSIM_SWIFT_VERSION=match.group(1) if match else "unknown",
            SWIFTSIM_TARGET_CPU=cpu,
            SWIFTSIM_VARIANT=variant,
            SWIFTSIM_VECTOR_BITS=str(bits),
        )
        sanitize = os.environ.get("SWIFTSIM_SANITIZE", "")
        scratch = os.path.join(HERE, ".build-variants", variant + (f"-{sanitize}" if sanitize else ""))
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
        if sanitize:
            cmd.append(f"--sanitize={sanitize}")
        print("swiftsim:", " ".join(cmd), f"(target CPU {cpu})", flush=True)
        subprocess.run(cmd, check=True, env=env)
        built = subprocess.run(cmd + ["--show-bin-path"], check=True, env=env, capture_output=True, text=True)
        lib = os.path.join(built.stdout.strip(), "lib_swiftsim.so")
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        # An editable install copies the result into the source tree afterwards: make its folder.
        os.makedirs(os.path.join(HERE, "python", *ext.name.split(".")[:-1]), exist_ok=True)
        shutil.copyfile(lib, dest)


setup(
    ext_modules=[Extension(f"swiftsim._native.{v[0]}._swiftsim", sources=[]) for v in variants()],
    cmdclass={"build_ext": SwiftBuildExt},
)
