"""The ingest hot path runs compiled, as `make` builds it (collector.app.compiled, setup.py): each
listed module is imported from its C extension, none is older than its source, and the
collector says so when it starts. The rest of the suite runs on those extensions, which is
what shows that they keep the modules' behaviour. AEGIS_PURE_PYTHON=1 runs everything as
Python and skips these."""

from __future__ import annotations

import importlib.machinery
import os
import pathlib

import pytest

from collector.app.compiled import MODULES, NATIVE, hot_path, is_stale
from tests.procs import Stack

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("AEGIS_PURE_PYTHON")), reason="AEGIS_PURE_PYTHON: nothing is compiled"
)


def test_every_hot_path_module_is_compiled_and_current() -> None:
    found = hot_path()
    assert found.python == [], "not compiled: run `make` (setup.py build_ext --inplace)"
    assert found.stale == [], "older than their source: run `make`"
    assert found.compiled == list(MODULES + NATIVE)


def test_an_extension_older_than_its_source_is_stale(tmp_path: pathlib.Path) -> None:
    extension = tmp_path / f"validation{importlib.machinery.EXTENSION_SUFFIXES[0]}"
    source = tmp_path / "validation.py"
    extension.write_bytes(b"")
    source.write_text("")
    os.utime(extension, (1_000_000, 1_000_000))
    os.utime(source, (2_000_000, 2_000_000))
    assert is_stale(extension)
    os.utime(extension, (3_000_000, 3_000_000))  # rebuilt since
    assert not is_stale(extension)


def test_the_collector_says_its_hot_path_is_compiled(stack: Stack) -> None:
    log = (stack.data_dir / "stack.log").read_text()
    assert f"ingest hot path: {len(MODULES + NATIVE)} modules compiled" in log
    assert "older than their source" not in log
