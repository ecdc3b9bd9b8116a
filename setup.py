"""The server's build beside pyproject.toml: the ingest hot path's modules compiled with Cython.

The modules collector/app/compiled.py lists are plain Python; Cython compiles each to a C
extension beside its .py, which Python imports instead of it. Their annotations are ignored
(annotation_typing=False), so a compiled module keeps Python's semantics. `make` rebuilds a
module whose .py changed (`setup.py build_ext --inplace`). AEGIS_PURE_PYTHON=1 at install
builds none: the same code then runs as Python.
"""

from __future__ import annotations

import os
import pathlib
import runpy
from typing import Any

from setuptools import setup

ROOT = pathlib.Path(__file__).parent


def compiled_sources() -> list[str]:
    # Read by path: nothing of the project is importable before it is installed.
    modules = runpy.run_path(str(ROOT / "collector" / "app" / "compiled.py"))["MODULES"]
    return [name.replace(".", "/") + ".py" for name in modules]


def extensions() -> list[Any]:
    if os.environ.get("AEGIS_PURE_PYTHON"):
        return []
    from Cython.Build import cythonize

    modules = cythonize(
        compiled_sources(),
        build_dir="build/cython",  # the generated C, out of the source tree
        language_level=3,
        quiet=True,
        compiler_directives={"annotation_typing": False},
    )
    for module in modules:  # GCC 12 misreads CPython's small-int macros (false positives)
        module.extra_compile_args.append("-Wno-array-bounds")
    return list(modules)


setup(ext_modules=extensions())
