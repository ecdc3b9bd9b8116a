"""Common mistakes over REST and the exact messages they get: what was wrong, where (body,
field, query parameter, header), what is expected, and the value that was sent. Never
protobuf's or gRPC's words (message types, `repeated` fields, metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest

from aegis.v1 import ingest_pb2
from tests.conftest import ApiClient, Stubs, rpc_error

JSON = {"Content-Type": "application/json"}
RULE = {
    "name": "spend",
    "metric": "cost",
    "comparison": "gt",
    "threshold": 5,
    "window_minutes": 60,
    "webhook_url": "https://hooks.example.com/aegis",
    "webhook_secret": "0123456789abcdef",
}
PROTOBUF_WORDS = (
    "Message type",
    "aegis.v1",
    "repeated field",
    "Failed to parse",
    "google.protobuf",
    "Struct",
    "time data",
    "metadata'",
    "invalid literal",
)


@dataclass(frozen=True)
class Mistake:
    """A request and its exact answer: an error body's message (`message`), or, for an
    ingest whose one event is refused, that event's `(field, reason)`."""

    method: str
    path: str
    status: int
    message: str = ""
    event_error: tuple[str, str] | None = None
    who: str | None = "tenant"  # "tenant", "admin", or None: no Authorization header
    body: Any = None  # sent as JSON
    content: bytes | None = None  # sent as it is
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def event(kind: str, **fields: Any) -> Mistake:
    """POST /ingest/{kind} of one event, which is refused on its own (200)."""
    return Mistake("POST", f"/ingest/{kind}", 200, body={"events": [fields]})


ML = {"model_id": "m", "model_type": "t"}
LLM = {"model_name": "gpt-4o"}
MISTAKES: dict[str, tuple[Mistake, str | tuple[str, str]]] = {
    # -- the body is not the documented shape ---------------------------------------------
    "a bare event, without {events: [...]}": (
        Mistake("POST", "/ingest/llm", 400, body={"model_name": "gpt-4o", "tokens_used": 5}),
        'body: unknown field "model_name"; expected {"events": [...]}',
    ),
    "events as an object, not a list": (
        Mistake("POST", "/ingest/llm", 400, body={"events": {"model_name": "x"}}),
        'events: expected a list of JSON objects, got {"model_name": "x"}',
    ),
    "a JSON array as the body": (
        Mistake("POST", "/ingest/ml", 400, body=[ML]),
        'body: expected a JSON object, got [{"model_id": "m", "model_type": "t"}]',
    ),
    "broken JSON": (
        Mistake("POST", "/ingest/llm", 400, content=b'{"events": [{"model_name": "x",}]}'),
        "body: not valid JSON (Expecting property name enclosed in double quotes at line 1, "
        "column 32)",
    ),
    "no body": (
        Mistake("POST", "/ingest/ml", 400, content=b""),
        "body: missing; expected a JSON object",
    ),
    "a text body": (
        Mistake(
            "POST", "/ingest/llm", 415, content=b"hello", headers={"Content-Type": "text/plain"}
        ),
        'header Content-Type: "text/plain" is not supported; expected "application/json" '
        "with a JSON body",
    ),
    "a form body (curl -d without a JSON body)": (
        Mistake(
            "POST",
            "/ingest/llm",
            415,
            content=b"model_name=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        'header Content-Type: "application/x-www-form-urlencoded" is not supported; '
        'expected "application/json" with a JSON body',
    ),
    "a misspelt body field": (
        Mistake("POST", "/admin/clients", 400, who="admin", body={"nmae": "a", "tenant": "t"}),
        'body: unknown field "nmae"; did you mean "name"?',
    ),
    "an unknown body field": (
        Mistake("POST", "/admin/clients", 400, who="admin", body={"role": "admin"}),
        'body: unknown field "role"; expected {"name": "...", "tenant": "...", "scopes": [...]}',
    ),
    "a string where a list goes": (
        Mistake(
            "POST",
            "/admin/clients",
            400,
            who="admin",
            body={"name": "a", "tenant": "t", "scopes": "read"},
        ),
        'scopes: expected a list of strings, got "read"',
    ),
    "a number as the client id": (
        Mistake("POST", "/auth/token", 400, who=None, body={"clientId": 42, "clientSecret": "x"}),
        "clientId: expected a string, got 42",
    ),
    "a word as a number": (
        Mistake("POST", "/alerts/rules", 400, who="admin", body={**RULE, "threshold": "high"}),
        'threshold: expected a number, got "high"',
    ),
    "a fraction as an integer": (
        Mistake("POST", "/alerts/rules", 400, who="admin", body={**RULE, "window_minutes": 1.5}),
        "window_minutes: expected an integer, got 1.5",
    ),
    "an integer out of range": (
        Mistake("POST", "/alerts/rules", 400, who="admin", body={**RULE, "window_minutes": 2**40}),
        "window_minutes: expected an integer from -2^31 to 2^31-1, got 1099511627776",
    ),
    # -- one event of a batch ---------------------------------------------------------------
    "a date without a time": (
        event("llm", **LLM, timestamp="2024-01-02"),
        ("timestamp", '"2024-01-02" is not an RFC 3339 date-time (e.g. "2024-01-02T10:00:00Z")'),
    ),
    "a shape written as text": (
        event("ml", **ML, input_shape="100x10"),
        ("input_shape", 'expected a list of integers, got "100x10"'),
    ),
    "a word in a shape": (
        event("ml", **ML, input_shape=[100, "ten"]),
        ("input_shape", 'input_shape[1]: expected an integer, got "ten"'),
    ),
    "a negative dimension": (
        event("ml", **ML, input_shape=[100, -10]),
        ("input_shape", "expected at most 16 non-negative integers, got [100, -10]"),
    ),
    "a word as a count": (
        event("llm", **LLM, tokens_used="many"),
        ("tokens_used", 'expected an integer, got "many"'),
    ),
    "a fractional count": (
        event("llm", **LLM, tokens_used=1.5),
        ("tokens_used", "expected an integer, got 1.5"),
    ),
    "a negative count": (
        event("llm", **LLM, tokens_used=-5),
        ("tokens_used", "must not be negative, got -5"),
    ),
    "a negative cost": (
        event("llm", **LLM, cost=-0.5),
        ("cost", "must be a finite number, not negative, got -0.5"),
    ),
    "a word as a cost": (
        event("llm", **LLM, cost="cheap"),
        ("cost", 'expected a number, got "cheap"'),
    ),
    "true as a cost": (event("llm", **LLM, cost=True), ("cost", "expected a number, got true")),
    "no model name": (
        event("llm", tokens_used=5),
        ("model_name", "missing; expected a non-empty string"),
    ),
    "a misspelt event field": (
        event("llm", model="gpt-4o"),
        ("model", 'unknown field; did you mean "model_name"?'),
    ),
    "metadata as text": (
        event("llm", **LLM, metadata="temperature=0.7"),
        ("metadata", 'expected a JSON object, got "temperature=0.7"'),
    ),
    "a time before 2000": (
        event("ml", **ML, timestamp="1990-01-01T00:00:00Z"),
        ("timestamp", '"1990-01-01T00:00:00Z" is outside 2000-01-01 .. one day from now'),
    ),
    "an event that is not an object": (
        Mistake("POST", "/ingest/llm", 200, body={"events": ["gpt-4o"]}),
        ("", 'expected a JSON object (an event), got "gpt-4o"'),
    ),
    # -- query parameters -------------------------------------------------------------------
    "a date that is not one": (
        Mistake("GET", "/dashboard/llm-metrics", 400, params={"start_date": "yesterday"}),
        'start_date: "yesterday" is not a date (YYYY-MM-DD) or an RFC 3339 date-time '
        '(e.g. "2024-01-02T10:00:00Z")',
    ),
    "a time without an offset": (
        Mistake("GET", "/dashboard/ml-metrics", 400, params={"end_date": "2024-01-02T10:00:00"}),
        'end_date: "2024-01-02T10:00:00" has no offset; an RFC 3339 date-time needs one such '
        "as Z or +02:00",
    ),
    "a range that ends before it starts": (
        Mistake(
            "GET",
            "/dashboard/llm-metrics",
            400,
            params={"start_date": "2024-02-01", "end_date": "2024-01-01"},
        ),
        'start_date must not be after end_date ("2024-02-01" is after "2024-01-01")',
    ),
    "an unknown interval": (
        Mistake("GET", "/dashboard/llm-metrics", 400, params={"interval": "week"}),
        'interval: "week" is not one of minute, hour, day',
    ),
    "a misspelt query parameter": (
        Mistake("GET", "/dashboard/llm-metrics", 400, params={"start": "2024-01-01"}),
        'query: unknown parameter "start"; did you mean "start_date"?',
    ),
    "dates on the overview": (
        Mistake("GET", "/dashboard/overview", 400, params={"start_date": "2024-01-01"}),
        'query: unknown parameter "start_date"; expected no query parameters',
    ),
    "a word as a limit": (
        Mistake("GET", "/alerts/events", 400, params={"limit": "ten"}),
        'query parameter limit: expected an integer, got "ten"',
    ),
    "a bad date on an export": (
        Mistake("GET", "/export/llm", 400, params={"start_date": "2024-13-01"}),
        'start_date: "2024-13-01" is not a date (YYYY-MM-DD) or an RFC 3339 date-time '
        '(e.g. "2024-01-02T10:00:00Z")',
    ),
    # -- headers ----------------------------------------------------------------------------
    "no token": (
        Mistake("POST", "/ingest/ml", 401, who=None, body={"events": []}),
        'header Authorization: missing; expected "Bearer <token>"',
    ),
    "a token without Bearer": (
        Mistake(
            "GET", "/dashboard/overview", 401, who=None, headers={"Authorization": "abc.def.ghi"}
        ),
        'header Authorization: not a Bearer token; expected "Bearer <token>"',
    ),
    "Bearer without a token": (
        Mistake("GET", "/dashboard/overview", 401, who=None, headers={"Authorization": "Bearer"}),
        'header Authorization: no token after Bearer; expected "Bearer <token>"',
    ),
    "OTLP without credentials": (
        Mistake("POST", "/v1/traces", 401, who=None, body={}),
        'header Authorization: missing; expected "Bearer <token>" or '
        '"Basic <base64 of clientId:clientSecret>"',
    ),
    "OTLP as text": (
        Mistake(
            "POST", "/v1/traces", 415, content=b"spans", headers={"Content-Type": "text/plain"}
        ),
        'header Content-Type: "text/plain" is not supported; expected "application/x-protobuf" '
        'or "application/json"',
    ),
    "an OTLP trace id that is not hex": (
        Mistake(
            "POST",
            "/v1/traces",
            400,
            body={"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]},
        ),
        'resourceSpans[0].scopeSpans[0].spans[0].traceId: expected a hex string, got "zz"',
    ),
    "an OTLP span name that is a number": (
        Mistake(
            "POST",
            "/v1/traces",
            400,
            body={"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]},
        ),
        "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got 5",
    ),
}


@pytest.mark.parametrize("name", list(MISTAKES))
async def test_a_common_mistake_gets_a_message_a_person_can_act_on(
    http: httpx.AsyncClient, admin: ApiClient, tenant_client: ApiClient, name: str
) -> None:
    mistake, expected = MISTAKES[name]
    headers = dict(mistake.headers)
    if mistake.who is not None:
        headers.update((admin if mistake.who == "admin" else tenant_client).headers)
    reply = await http.request(
        mistake.method,
        mistake.path,
        json=mistake.body if mistake.content is None and mistake.body is not None else None,
        content=mistake.content,
        headers={**JSON, **headers} if mistake.content is not None else headers,
        params=mistake.params,
    )
    assert reply.status_code == mistake.status, reply.text
    for word in PROTOBUF_WORDS:
        assert word not in reply.text, (word, reply.text)
    body = reply.json()
    if isinstance(expected, tuple):
        assert (body["accepted"], body["rejected"]) == (0, 1), body
        (error,) = body["errors"]
        assert (error["index"], error["field"], error["reason"]) == (0, *expected)
    elif mistake.path == "/auth/token":
        assert body == {"error": "invalid_request", "error_description": expected}
    else:
        assert body == {"code": body["code"], "message": expected, "details": []}


async def test_a_grpc_caller_gets_the_same_words_for_a_missing_token(stubs: Stubs) -> None:
    """The collector says it once for both transports: gRPC metadata travels as HTTP/2
    headers, and the gateway forwards the Authorization header as that metadata."""
    error = await rpc_error(stubs.ingest.IngestML(ingest_pb2.IngestMLRequest()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == 'header Authorization: missing; expected "Bearer <token>"'
