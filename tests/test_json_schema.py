"""aegis_shared.json_schema: one definition of each request bound, in the protos' options, that
the gateway's document and the collector's validators both read (no process needed: these are
the reader's own rules; tests/test_schema_bounds.py checks the wiring end to end)."""

from __future__ import annotations

import re

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from aegis.v1 import alerts_pb2, options_pb2
from aegis_shared import json_schema
from collector.alerts import metrics
from collector.auth import clients
from gateway import openapi


def test_update_rule_takes_the_create_rule_keywords() -> None:
    update = alerts_pb2.UpdateRuleRequest.DESCRIPTOR
    for field in update.fields:
        if field.name in ("id", "webhook_secret"):
            continue
        assert field.GetOptions().Extensions[options_pb2.json_schema] == "", field.name
        assert json_schema.keywords(field) == json_schema.of(
            "aegis.v1.CreateRuleRequest", field.name
        ), field.name
        assert openapi.field_schema(field) == openapi.field_schema(
            alerts_pb2.CreateRuleRequest.DESCRIPTOR.fields_by_name[field.name]
        ), field.name
    # An empty secret keeps the current one; any other has the create's bounds.
    empty, secret = json_schema.of("aegis.v1.UpdateRuleRequest", "webhook_secret")["anyOf"]
    assert empty == {"maxLength": 0}
    assert secret == json_schema.of("aegis.v1.CreateRuleRequest", "webhook_secret")


def test_each_call_answers_a_dict_of_its_own() -> None:
    first = json_schema.of("aegis.v1.CreateRuleRequest", "metric")
    first["enum"].append("cpu")
    assert "cpu" not in json_schema.of("aegis.v1.CreateRuleRequest", "metric")["enum"]
    assert "cpu" not in metrics.METRICS


def test_the_alert_tables_have_exactly_the_proto_metrics() -> None:
    assert tuple(json_schema.of("aegis.v1.CreateRuleRequest", "metric")["enum"]) == metrics.METRICS
    assert set(metrics.KINDS) == set(metrics.METRICS) == set(metrics.RANGES)
    with pytest.raises(json_schema.SchemaError, match="KINDS must have exactly"):
        json_schema.agree("KINDS", [*metrics.KINDS, "cpu"], metrics.METRICS)


def test_the_token_scope_pattern_names_the_client_scopes() -> None:
    """IssueTokenRequest.scope is a pattern (space-separated names) that repeats the scope
    names; it must name exactly the scopes a client can have."""
    regex = json_schema.of("aegis.v1.IssueTokenRequest", "scope")["pattern"]
    groups = re.findall(r"\(([a-z|]+)\)", regex)
    assert groups and all(set(g.split("|")) == clients.SCOPES for g in groups), regex


@pytest.mark.parametrize(
    ("regex", "text", "found"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),  # Python's own $ would match here
        ("^[$]$", "$", True),  # a $ in a class is the character
        (r"^\$$", "$", True),  # so is an escaped one
        (r"^[^\]$]*$", "ab", True),
        (r"^[^\]$]*$", "a$", False),
        ("[^\\s]", "  x ", True),  # unanchored: JSON Schema searches
    ],
)
def test_a_pattern_means_what_json_schema_says(regex: str, text: str, found: bool) -> None:
    assert bool(json_schema.pattern(regex).search(text)) is found


def _add_file(name: str, fields: dict[str, tuple[int, str]]) -> None:
    """A message `aegistest.<name>.M` whose fields (name: (type, json_schema_as)) are added to
    the default pool, as protoc's output would add them."""
    proto = descriptor_pb2.FileDescriptorProto(
        name=f"aegistest/{name}.proto", package=f"aegistest.{name}", syntax="proto3"
    )
    message = proto.message_type.add(name="M")
    for number, (field_name, (kind, same)) in enumerate(fields.items(), start=1):
        field = message.field.add(name=field_name, number=number, type=kind, label=1)
        if same:
            field.options.Extensions[options_pb2.json_schema_as] = same
    descriptor_pool.Default().AddSerializedFile(proto.SerializeToString())


STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
INT32 = descriptor_pb2.FieldDescriptorProto.TYPE_INT32


def test_a_wrong_reference_is_an_error_not_an_empty_schema() -> None:
    _add_file(
        "refs",
        {
            "nowhere": (STRING, "aegis.v1.CreateRuleRequest.nmae"),
            "other_type": (STRING, "aegis.v1.CreateRuleRequest.window_minutes"),
            "round_a": (INT32, "aegistest.refs.M.round_b"),
            "round_b": (INT32, "aegistest.refs.M.round_a"),
            "chained": (STRING, "aegis.v1.UpdateRuleRequest.name"),
        },
    )
    with pytest.raises(json_schema.SchemaError, match="names no field"):
        json_schema.of("aegistest.refs.M", "nowhere")
    with pytest.raises(json_schema.SchemaError, match="another type"):
        json_schema.of("aegistest.refs.M", "other_type")
    with pytest.raises(json_schema.SchemaError, match="goes round"):
        json_schema.of("aegistest.refs.M", "round_a")
    with pytest.raises(json_schema.SchemaError, match="no field 'absent'"):
        json_schema.of("aegistest.refs.M", "absent")
    assert json_schema.of("aegistest.refs.M", "chained") == json_schema.of(
        "aegis.v1.CreateRuleRequest", "name"
    )
