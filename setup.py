"""The server's build beside pyproject.toml: the ingest hot path's modules compiled with Cython.

The modules collector/app/compiled.py lists are plain Python; Cython compiles each to a C
extension beside its .py, which Python imports instead of it. Their annotations are ignored
(annotation_typing=False), so a compiled module keeps Python's semantics. `make` rebuilds a
module whose .py changed (`setup.py build_ext --inplace`). AEGIS_PURE_PYTHON=1 at install
builds none, and a module that cannot be built (no C compiler, no Python headers) is left out
with a warning: the same code then runs as Python, only slower, and the collector says so
when it starts.
"""

from __future__ import annotations

import os
import pathlib
import runpy
import sys
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).parent


def _skipped(what: str, exc: Exception) -> None:
    print(f"warning: {what} not compiled, it runs as Python ({exc})", file=sys.stderr)


def compiled_sources() -> tuple[list[str], list[str]]:
    """The plain Python modules (.py) and the Cython ones (.pyx) to compile."""
    # Read by path: nothing of the project is importable before it is installed.
    listed = runpy.run_path(str(ROOT / "collector" / "app" / "compiled.py"))
    return (
        [name.replace(".", "/") + ".py" for name in listed["MODULES"]],
        [name.replace(".", "/") + ".pyx" for name in listed["NATIVE"]],
    )


def extensions() -> list[Any]:
    if os.environ.get("AEGIS_PURE_PYTHON"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        _skipped("the ingest hot path", exc)
        return []

    python, native = compiled_sources()
    modules = cythonize(
        python,
        build_dir="build/cython",  # the generated C, out of the source tree
        language_level=3,
        quiet=True,
        compiler_directives={"annotation_typing": False},
    ) + cythonize(native, build_dir="build/cython", language_level=3, quiet=True)
    for module in modules:  # GCC 12 misreads CPython's small-int macros (false positives)
        module.extra_compile_args.append("-Wno-array-bounds")
    return list(modules)


class OptionalBuildExt(build_ext):
    """A module that fails to compile is left out (it runs as Python), never the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all: setuptools' errors vary by platform
            _skipped("the ingest hot path", exc)

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _skipped(ext.name, exc)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
