"""The bench's data is what docs/benchmarks.md says it is: every attribution field on the
ingest modes' events, agent traces for OTLP, and the explore corpus's shape, order and trees.
In-process, no stack: the figures themselves live in `make bench`."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np

from aegis.v1 import events_pb2
from bench import ml_drift
from bench.events import ATTRIBUTION, seed_ml_events, to_document
from bench.explore_corpus import (
    AGENT_LLM_CALLS,
    AGENT_SPANS,
    EVENTS_PER_TRACE,
    LONG_SESSION,
    Corpus,
    Shape,
)
from bench.otlp_ingest import LLM_PER_TRACE, SPANS_PER_TRACE, llm_calls_in, make_spans
from collector.api.proto_events import ml_event_from_proto
from collector.ingest.validation import fill_and_check_ml

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def test_ingest_events_carry_every_attribution_field() -> None:
    for event in seed_ml_events("grpc-run-0", 50, NOW):
        stored = to_document(event, "tenant", "client", NOW)
        assert all(stored.get(name) for name in ATTRIBUTION), stored


def test_otlp_sends_agent_traces() -> None:
    spans = make_spans(10, "svc")
    assert (len(spans), llm_calls_in(spans)) == (10 // LLM_PER_TRACE * SPANS_PER_TRACE, 10)
    for trace_id in {span.context.trace_id for span in spans}:
        tree = [span for span in spans if span.context.trace_id == trace_id]
        roots = [span for span in tree if span.parent is None]
        assert len(tree) == SPANS_PER_TRACE and len(roots) == 1
        assert {span.parent.span_id for span in tree if span.parent} == {roots[0].context.span_id}


def test_explore_corpus_shape_order_and_trees() -> None:
    shape = Shape(20_000)
    corpus = Corpus("run", shape, NOW)
    calls = list(corpus.calls())
    times = [call["timestamp"] for call in calls]
    assert times == sorted(times) and NOW - dt.timedelta(days=30) < times[0] and times[-1] < NOW
    corpus_calls = [call for call in calls if call["session_id"] != corpus.long_session_id]
    assert len(corpus_calls) == shape.events and len(calls) == shape.events + LONG_SESSION
    assert len({call["user_id"] for call in corpus_calls}) == shape.users == 200
    assert len({call["session_id"] for call in corpus_calls}) == shape.sessions == 1000
    assert len({call["trace_id"] for call in corpus_calls}) == shape.traces == 2000
    assert all(call.get(name) for call in corpus_calls for name in ("user_id", "release", "tags"))
    roots = [span for batch in corpus.root_spans(500) for span in batch]
    assert len(roots) == shape.traces
    parents = {(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in roots}
    assert {(c["trace_id"], c["parent_span_id"]) for c in corpus_calls} == parents
    assert len(corpus_calls) == EVENTS_PER_TRACE * len(parents)
    assert corpus.tally.events == len(calls)
    assert corpus.tally.newest_ids(3) == [call["event_id"] for call in calls[-3:]][::-1]


def test_explore_agent_trace_is_one_tree_of_50_spans() -> None:
    trace_id, spans = Corpus("run", Shape(20_000), NOW).agent_trace()
    assert len(spans) == AGENT_SPANS == 50 and llm_calls_in(spans) == AGENT_LLM_CALLS
    assert {f"{span.context.trace_id:032x}" for span in spans} == {trace_id}
    assert sum(1 for span in spans if span.parent is None) == 1


def test_ml_drift_events_differ_only_by_their_features() -> None:
    """bench.ml_drift's two ingest modes send the same event, with and without 10 feature
    columns of 100 rows and 100 predictions, which the collector's own checks accept."""
    rng = np.random.default_rng(1)
    plain = ml_drift.ml_event("run", 7, NOW, None)
    with_features = ml_drift.ml_event("run", 7, NOW, rng)
    bare = events_pb2.MLEvent()
    bare.CopyFrom(with_features)
    bare.ClearField("features")
    bare.ClearField("predictions")
    assert bare == plain
    doc = ml_event_from_proto(with_features)
    fill_and_check_ml(doc, NOW)
    assert len(doc["features"]) == ml_drift.INGEST_NUMERIC + ml_drift.INGEST_CATEGORICAL == 10
    assert {len(v) for v in doc["features"].values()} == {len(doc["predictions"])} == {100}
    assert doc["prediction_count"] == 100 and doc["input_shape"] == [100, 10]


def test_ml_drift_history_covers_the_current_and_reference_windows() -> None:
    """The history's timestamps spread over the 30 days and the 7-day reference before them,
    any prefix about evenly: each of the 37 days gets its share of the small history."""
    stamps = [ml_drift._stamp(i, NOW) for i in range(2000)]
    assert all(NOW - dt.timedelta(days=37) < at <= NOW for at in stamps)
    per_day = Counter((NOW - at).days for at in stamps)
    assert sorted(per_day) == list(range(37))
    assert min(per_day.values()) > 2000 / 37 * 0.8, per_day
