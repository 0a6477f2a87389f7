"""Builds the Swift package and places its CPython extension in the swiftsim package.

`pip install .` (or `pip install -e .`) runs `swift build -c release --product _swiftsim` with the
interpreter's own Python and NumPy include folders (passed to Package.swift through environment
variables) and copies the resulting shared library to the extension's path.

Environment:
  SWIFTSIM_TARGET_CPU   CPU the kernels are compiled for (default: native)
  SWIFT                 the swift driver to use (default: swift on the PATH)
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class SwiftBuildExt(build_ext):
    def build_extension(self, ext):
        import numpy

        swift = os.environ.get("SWIFT", "swift")
        if shutil.which(swift) is None:
            sys.exit(f"swiftsim: the Swift toolchain ('{swift}') was not found on the PATH; install Swift 6.x")
        version = subprocess.run([swift, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"Swift version (\S+)", version)
        version = match.group(1) if match else "unknown"
        env = dict(os.environ)
        env["SWIFTSIM_PYTHON_INCLUDE"] = sysconfig.get_paths()["include"]
        env["SWIFTSIM_NUMPY_INCLUDE"] = numpy.get_include()
        env["SWIFTSIM_SWIFT_VERSION"] = version
        scratch = os.path.join(HERE, ".build")
        cmd = [swift, "build", "-c", "release", "--product", "_swiftsim", "--package-path", HERE,
               "--scratch-path", scratch]
        print("swiftsim:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env)
        built = subprocess.run(cmd + ["--show-bin-path"], check=True, env=env, capture_output=True, text=True)
        lib = os.path.join(built.stdout.strip(), "lib_swiftsim.so")
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(lib, dest)


setup(
    ext_modules=[Extension("swiftsim._swiftsim", sources=[])],
    cmdclass={"build_ext": SwiftBuildExt},
)
