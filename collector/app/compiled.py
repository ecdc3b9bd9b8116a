"""The ingest hot path's modules that setup.py compiles with Cython, and whether they are.

Each is plain Python, typed for mypy and readable as such. Compiled (setup.py, `make`), a
module is a C extension beside its .py that Python imports instead of it; Cython ignores
the annotations (annotation_typing=False), so the compiled module keeps Python's semantics.
They are the per-event code of ingest: conversion, validation, pricing, partials, rows.
Compiled, that code costs 2-3 µs (~15 %) less per event (docs/benchmarks.md, issue 21).

A module whose .py is newer than its extension would run its old code: the collector warns
at start (`stale`), and tests/test_compiled.py fails. Only the standard library is imported
here: setup.py reads MODULES from this file before anything is installed.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import pathlib
from dataclasses import dataclass

MODULES = (
    "aegis_shared.structs",
    "collector.api.fast_json",
    "collector.api.json_events",
    "collector.api.proto_events",
    "collector.api.proto_values",
    "collector.drift.partials",
    "collector.explore.notes",
    "collector.explore.rows",
    "collector.ingest.attribution",
    "collector.ingest.batch",
    "collector.ingest.content",
    "collector.ingest.features",
    "collector.ingest.instants",
    "collector.ingest.listing",
    "collector.ingest.pricing",
    "collector.ingest.span_records",
    "collector.ingest.validation",
    "collector.otlp.content",
    "collector.otlp.mapping",
    "collector.otlp.records",
    "collector.otlp.spans",
    "collector.rollups.cells",
    "collector.rollups.histogram",
    "collector.rollups.partials",
)
# Written in Cython proper (.pyx, typed): compiled, each does in C a step that costs most in
# Python objects (its docstring says which, and what it is checked against); not built, the
# collector does without it, as before. collector.api.wire_events and collector.otlp.wire_spans
# read gRPC batches and OTLP exports off the wire, collector.ingest.event_checks passes the
# events that pass validation's common checks, collector.explore.row_columns makes explore's
# row columns, collector.rollups.cell_sums makes the partial's cells,
# collector.ingest.metadata_walk checks
# metadata, collector.ingest.text_scans checks ids and finds long numbers, and
# collector.store.bson_documents encodes documents for PyMongo.
NATIVE = (
    "collector.api.wire_events",
    "collector.explore.row_columns",
    "collector.ingest.event_checks",
    "collector.ingest.metadata_walk",
    "collector.ingest.text_scans",
    "collector.otlp.wire_spans",
    "collector.rollups.cell_sums",
    "collector.store.bson_documents",
)


@dataclass(frozen=True)
class HotPath:
    compiled: list[str]  # imported from their C extension
    python: list[str]  # imported from their .py: not built (AEGIS_PURE_PYTHON, no compiler)
    stale: list[str]  # compiled from an older .py than the one beside it: `make` rebuilds


def _is_extension(path: pathlib.Path) -> bool:
    return any(path.name.endswith(suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def is_stale(extension: pathlib.Path) -> bool:
    """Whether the .py (or .pyx) beside a module's extension was changed after it was built."""
    stem = extension.name.partition(".")[0]
    return any(
        source.exists() and source.stat().st_mtime > extension.stat().st_mtime
        for source in (extension.with_name(stem + ".py"), extension.with_name(stem + ".pyx"))
    )


def hot_path() -> HotPath:
    """How each of MODULES and NATIVE is imported in this process."""
    compiled: list[str] = []
    python: list[str] = []
    stale: list[str] = []
    for name in MODULES + NATIVE:
        try:
            path = pathlib.Path(importlib.import_module(name).__file__ or "")
        except ImportError:  # a NATIVE module not built
            python.append(name)
            continue
        if not _is_extension(path):
            python.append(name)
            continue
        compiled.append(name)
        if is_stale(path):
            stale.append(name)
    return HotPath(compiled, python, stale)
