"""Attribution on every event (user, session, trace, span, environment, release, tags), and on
LLM events content and the cache and reasoning token counts:
- each bound as the OpenAPI document states it is the one enforced, over REST and over gRPC: at
  the bound accepted, past it that event rejected naming the field, its siblings stored;
- every field sent over REST, over gRPC and through the SDK (both transports) is stored as sent
  (read back through export), and an event that sends none stores none;
- the SDK takes trace_id / span_id from the active OpenTelemetry span unless given.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from google.protobuf import json_format, struct_pb2
from opentelemetry.sdk.trace import TracerProvider

from aegis.v1 import events_pb2, ingest_pb2
from aegis_sdk import AegisClient
from aegis_sdk.events import llm_event as sdk_llm_event
from collector.ingest.validation import MAX_COUNT
from tests.conftest import ApiClient, Stubs, llm_event, ml_event
from tests.procs import Stack, grpc_client_for

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = "b7ad6b7169203331"
ATTRIBUTION: dict[str, Any] = {
    "user_id": "user-42",
    "session_id": "chat-7",
    "trace_id": TRACE,
    "span_id": SPAN,
    "parent_span_id": PARENT,
    "environment": "production",
    "release": "2.3.1",
    "tags": ["beta", "eu-west"],
}
LLM_ONLY: dict[str, Any] = {
    "cache_read_tokens": 1000,
    "cache_write_tokens": 100,
    "reasoning_tokens": 30,
    "system": "Be terse. Ça va ?",
    "input": [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "Hi — what is 2+2?"},
    ],
    "output": "4.",
}
NEW_FIELDS = {*ATTRIBUTION, *LLM_ONLY, "content_truncated"}


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field's schema without its null branch."""
    if "anyOf" in schema and {"type": "null"} in schema["anyOf"]:
        (schema,) = [s for s in schema["anyOf"] if s != {"type": "null"}]
    return schema


@pytest.fixture(scope="module")
async def documented(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Per kind, the documented schema of each field of an ingested event."""
    doc = (await http.get("/openapi.json")).json()
    out = {}
    for kind in ("ml", "llm"):
        body = doc["paths"][f"/ingest/{kind}"]["post"]["requestBody"]["content"]
        events = _non_null(body["application/json"]["schema"]["properties"]["events"])
        message = events["items"]["anyOf"][0]
        out[kind] = {name: _non_null(s) for name, s in message["properties"].items()}
    return out


@dataclass
class Cases:
    """Events at a bound (accepted) and past it (rejected, naming `field`). `rest_only`: a
    value the protobuf types cannot even hold."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)

    def inside(self, **fields: Any) -> None:
        self.accepted.append(fields)

    def outside(self, name: str, *, rest_only: bool = False, **fields: Any) -> None:
        self.rejected.append((name, fields, rest_only))


def bound_cases(kind: str, schemas: dict[str, Any]) -> Cases:
    """The cases, built from the documented bounds; each documented pattern must judge an id
    as the collector does."""
    cases = Cases()
    for name in ("user_id", "session_id", "environment", "release"):
        limit = schemas[name]["maxLength"]
        cases.inside(**{name: "é" * limit})  # characters, not bytes
        cases.outside(name, **{name: "x" * (limit + 1)})
    for name, digits in (("trace_id", 32), ("span_id", 16), ("parent_span_id", 16)):
        pattern = re.compile(schemas[name]["pattern"].replace("$", r"\Z"))
        good = ("0123456789abcdef" * 2)[:digits]
        assert pattern.search(good), (name, good)
        cases.inside(**{name: good})
        cases.inside(**{name: "0" * (digits - 1) + "1"})
        for bad in (good[:-1], good + "a", good.upper(), "0" * digits, "g" * digits):
            assert not pattern.search(bad), (name, bad)
            cases.outside(name, **{name: bad})
    tags = schemas["tags"]
    most, longest = tags["maxItems"], tags["items"]["maxLength"]
    assert tags["items"]["minLength"] == 1
    cases.inside(tags=[f"{i:02d}".ljust(longest, "t") for i in range(most)])
    cases.outside("tags", tags=[f"t{i}" for i in range(most + 1)])
    cases.outside("tags", tags=["t" * (longest + 1)])
    cases.outside("tags", tags=["ok", ""])
    cases.outside("tags", rest_only=True, tags="not-a-list")
    if kind == "ml":
        return cases
    for name in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        cases.inside(**{name: MAX_COUNT})
        cases.inside(**{name: 0})
        cases.outside(name, **{name: MAX_COUNT + 1})
        cases.outside(name, **{name: -1})
    role = schemas["input"]["anyOf"][1]["items"]["properties"]["role"]["maxLength"]
    cases.inside(input="", output="x", system="s")
    cases.inside(input=[], output=[{"role": "r" * role, "content": ""}])
    cases.outside("input", input=[{"role": "r" * (role + 1), "content": "c"}])
    cases.outside("output", output=[{"role": "", "content": "c"}])
    cases.outside("input", input=[{"role": "user"}])
    cases.outside("input", input=[{"role": "user", "content": "c", "name": "n"}])
    cases.outside("output", output=[{"role": "user", "content": 5}])
    cases.outside("output", output={"role": "user", "content": "c"})
    cases.outside("input", input=42)
    cases.outside("system", rest_only=True, system=["not", "a", "string"])
    return cases


def _full(kind: str, **fields: Any) -> dict[str, Any]:
    return ml_event(**fields) if kind == "ml" else llm_event(**fields)


@pytest.mark.parametrize("kind", ["ml", "llm"])
async def test_each_documented_bound_is_enforced_over_rest(
    kind: str,
    documented: dict[str, dict[str, Any]],
    http: httpx.AsyncClient,
    tenant_client: ApiClient,
) -> None:
    cases = bound_cases(kind, documented[kind])
    events = [_full(kind, **f) for f in cases.accepted]
    events += [_full(kind, **f) for _, f, _ in cases.rejected]
    reply = await http.post(
        f"/ingest/{kind}", json={"events": events}, headers=tenant_client.headers
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()
    errors = {e["index"]: e for e in result["errors"]}
    first = len(cases.accepted)
    for offset, (name, fields, _) in enumerate(cases.rejected):
        assert errors.get(first + offset, {}).get("field") == name, (fields, errors.get(offset))
        assert errors[first + offset]["reason"], fields
    assert set(errors) == set(range(first, len(events))), result
    assert result["accepted"] == first, result


def _proto(kind: str, fields: dict[str, Any]) -> events_pb2.MLEvent | events_pb2.LLMEvent:
    message = events_pb2.MLEvent() if kind == "ml" else events_pb2.LLMEvent()
    return json_format.ParseDict(_full(kind, **fields), message)


@pytest.mark.parametrize("kind", ["ml", "llm"])
async def test_each_documented_bound_is_enforced_over_grpc(
    kind: str,
    documented: dict[str, dict[str, Any]],
    stubs: Stubs,
    tenant_client: ApiClient,
) -> None:
    cases = bound_cases(kind, documented[kind])
    rejected = [(name, f) for name, f, rest_only in cases.rejected if not rest_only]
    events = [_proto(kind, f) for f in cases.accepted] + [_proto(kind, f) for _, f in rejected]
    if kind == "llm":  # the JSON-text form, as the SDK sends content: not JSON at all
        broken = events_pb2.LLMEvent(model_name="m", input_json=b"[{not json")
        events.append(broken)
        rejected.append(("input", {"input_json": "[{not json"}))
        assert isinstance(events[0], events_pb2.LLMEvent)
        result = await stubs.ingest.IngestLLM(
            ingest_pb2.IngestLLMRequest(events=events),
            metadata=tenant_client.metadata,
        )
    else:
        result = await stubs.ingest.IngestML(
            ingest_pb2.IngestMLRequest(events=events),
            metadata=tenant_client.metadata,
        )
    errors = {e.index: e.field for e in result.errors}
    first = len(cases.accepted)
    assert errors == {first + i: name for i, (name, _) in enumerate(rejected)}, result
    assert result.accepted == first, result


async def exported(http: httpx.AsyncClient, headers: dict[str, str], kind: str) -> dict[str, Any]:
    """The tenant's stored events of a kind, by event id, as export returns them."""
    reply = await http.get(f"/export/{kind}", headers=headers)
    assert reply.status_code == 200, reply.text
    events = [json.loads(line) for line in reply.text.splitlines()]
    return {e["event_id"]: e for e in events}


def assert_stored_as_sent(stored: dict[str, Any], sent: dict[str, Any]) -> None:
    for key, value in sent.items():
        if key in NEW_FIELDS:
            assert stored.get(key) == value, (key, stored.get(key), value)
    assert "content_truncated" not in stored


def assert_none_stored(stored: dict[str, Any]) -> None:
    assert not NEW_FIELDS & set(stored), stored


async def test_every_field_sent_over_rest_is_stored_as_sent(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    ml = ml_event(event_id="ml-full", **ATTRIBUTION)
    llm = llm_event(event_id="llm-full", **ATTRIBUTION, **LLM_ONLY)
    text = llm_event(event_id="llm-text", input="plain prompt", output=[], tags=[])
    bare_ml, bare_llm = ml_event(event_id="ml-bare"), llm_event(event_id="llm-bare")
    empty = llm_event(event_id="llm-empty", user_id="", trace_id="", system="", input=None)
    for kind, events in (("ml", [ml, bare_ml]), ("llm", [llm, text, bare_llm, empty])):
        reply = await http.post(
            f"/ingest/{kind}", json={"events": events}, headers=tenant_client.headers
        )
        assert reply.json()["accepted"] == len(events), reply.text
    stored_ml = await exported(http, tenant_client.headers, "ml")
    stored_llm = await exported(http, tenant_client.headers, "llm")
    assert_stored_as_sent(stored_ml["ml-full"], ml)
    assert_stored_as_sent(stored_llm["llm-full"], llm)
    assert stored_llm["llm-text"]["input"] == "plain prompt"
    assert not {"output", "tags"} & set(stored_llm["llm-text"])  # [] is "none given"
    for bare in (stored_ml["ml-bare"], stored_llm["llm-bare"], stored_llm["llm-empty"]):
        assert_none_stored(bare)


async def test_every_field_sent_over_grpc_is_stored_as_sent(
    http: httpx.AsyncClient, stubs: Stubs, tenant_client: ApiClient
) -> None:
    ml = ml_event(event_id="ml-full", **ATTRIBUTION)
    llm = llm_event(event_id="llm-full", **ATTRIBUTION, **LLM_ONLY)
    # The JSON-text form of content, as the SDK sends it.
    as_text = events_pb2.LLMEvent(
        event_id="llm-json",
        model_name="m",
        input_json=json.dumps(LLM_ONLY["input"]).encode(),
        output_json=b'"answer"',
    )
    null_content = events_pb2.LLMEvent(
        event_id="llm-null", model_name="m", input=struct_pb2.Value(null_value=0)
    )
    await stubs.ingest.IngestML(
        ingest_pb2.IngestMLRequest(
            events=[
                _proto("ml", ml),
                events_pb2.MLEvent(event_id="ml-bare", model_type="t", model_id="m"),
            ]
        ),
        metadata=tenant_client.metadata,
    )
    result = await stubs.ingest.IngestLLM(
        ingest_pb2.IngestLLMRequest(
            events=[
                _proto("llm", llm),
                as_text,
                null_content,
                events_pb2.LLMEvent(event_id="llm-bare", model_name="m"),
            ]
        ),
        metadata=tenant_client.metadata,
    )
    assert result.accepted == 4, result
    stored_ml = await exported(http, tenant_client.headers, "ml")
    stored_llm = await exported(http, tenant_client.headers, "llm")
    assert_stored_as_sent(stored_ml["ml-full"], ml)
    assert_stored_as_sent(stored_llm["llm-full"], llm)
    assert stored_llm["llm-json"]["input"] == LLM_ONLY["input"]
    assert stored_llm["llm-json"]["output"] == "answer"
    for bare in (stored_ml["ml-bare"], stored_llm["llm-bare"], stored_llm["llm-null"]):
        assert_none_stored(bare)


@pytest.fixture
def sdk_tenant(stack: Stack) -> tuple[str, str, dict[str, str]]:
    """(client id, secret, REST headers) of a fresh tenant on the shared stack."""
    client_id, secret = grpc_client_for(stack.grpc_target, f"attr-{uuid.uuid4().hex[:12]}")
    reply = httpx.post(
        f"{stack.http}/auth/token", json={"clientId": client_id, "clientSecret": secret}
    )
    return client_id, secret, {"Authorization": f"Bearer {reply.json()['access_token']}"}


@pytest.mark.parametrize("transport", ["grpc", "rest"])
async def test_every_field_logged_through_the_sdk_is_stored_as_sent(
    transport: str,
    stack: Stack,
    http: httpx.AsyncClient,
    sdk_tenant: tuple[str, str, dict[str, str]],
) -> None:
    client_id, secret, headers = sdk_tenant
    with AegisClient(
        stack.grpc_target,
        client_id,
        secret,
        rest_url=stack.http,
        transport=transport,
    ) as client:
        ml = client.log_ml(model_type="t", model_id="m", **ATTRIBUTION)
        llm = client.log_llm(model_name="m", **ATTRIBUTION, **LLM_ONLY)
        text = client.log_llm(model_name="m", input="a prompt", output="an answer")
        bare = client.log_llm(model_name="m")
        client.flush(timeout=60)
        assert client.stats.accepted == 4, client.stats
    stored_ml = await exported(http, headers, "ml")
    stored_llm = await exported(http, headers, "llm")
    assert_stored_as_sent(stored_ml[ml], ATTRIBUTION)
    assert_stored_as_sent(stored_llm[llm], {**ATTRIBUTION, **LLM_ONLY})
    assert (stored_llm[text]["input"], stored_llm[text]["output"]) == ("a prompt", "an answer")
    assert_none_stored(stored_llm[bare])


async def test_the_sdk_takes_trace_ids_from_the_active_span_unless_given(
    stack: Stack, http: httpx.AsyncClient, sdk_tenant: tuple[str, str, dict[str, str]]
) -> None:
    client_id, secret, headers = sdk_tenant
    tracer = TracerProvider().get_tracer("test")
    with AegisClient(stack.grpc_target, client_id, secret) as client:
        with tracer.start_as_current_span("agent") as span:
            context = span.get_span_context()
            inside = client.log_llm(model_name="m")
            inside_ml = client.log_ml(model_type="t", model_id="m")
            explicit = client.log_llm(model_name="m", trace_id=TRACE, span_id=SPAN)
            only_trace = client.log_llm(model_name="m", trace_id=TRACE)
            opted_out = client.log_llm(model_name="m", trace_id="")
        outside = client.log_llm(model_name="m")
        client.flush(timeout=60)
        assert client.stats.accepted == 6, client.stats
    stored = await exported(http, headers, "llm")
    stored.update(await exported(http, headers, "ml"))
    ids = {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}
    assert len(ids["trace_id"]) == 32 and len(ids["span_id"]) == 16

    def stored_ids(event_id: str) -> dict[str, str]:
        return {k: stored[event_id][k] for k in ("trace_id", "span_id") if k in stored[event_id]}

    assert stored_ids(inside) == ids
    assert stored_ids(inside_ml) == ids
    assert stored_ids(explicit) == {"trace_id": TRACE, "span_id": SPAN}
    assert stored_ids(only_trace) == {"trace_id": TRACE}
    assert stored_ids(opted_out) == {}
    assert stored_ids(outside) == {}


def test_the_sdk_sends_messages_as_json_text_and_refuses_wrong_types_in_the_caller() -> None:
    event = sdk_llm_event(model_name="m", input=LLM_ONLY["input"], output="4.", tags=("a",))
    assert json.loads(event.input_json) == LLM_ONLY["input"]
    assert event.output.string_value == "4." and list(event.tags) == ["a"]
    with pytest.raises(TypeError, match="input must be a string or a list"):
        sdk_llm_event(model_name="m", input={"role": "user"})
    with pytest.raises(TypeError, match="tags must be a list"):
        sdk_llm_event(model_name="m", tags="one-tag")
