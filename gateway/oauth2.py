"""POST /auth/token as OAuth 2.0 clients send it, decoded into an IssueTokenRequest.

Three shapes reach the same RPC:
- our JSON body, `{clientId, clientSecret}` or `{client_id, client_secret}`, with optional
  `grant_type` and `scope`;
- RFC 6749 section 4.4's form (`application/x-www-form-urlencoded`, `grant_type=
  client_credentials`), the credentials as HTTP Basic (client_secret_basic; RFC 6749 section
  2.3.1: each part form-urlencoded, then base64) or as `client_id` / `client_secret` fields
  (client_secret_post).
This module only decodes; the collector decides (the grant, the scopes, the credentials, what
a missing one means). RFC 6749 section 3.2: a form's unknown parameters are ignored, an empty
one counts as absent, and none may be repeated.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from google.protobuf.descriptor import MethodDescriptor

from aegis.v1 import auth_pb2
from gateway import openapi
from gateway.marshal import BadRequest

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# A 401 to a client that sent Basic credentials names the scheme (RFC 6749 section 5.2).
CHALLENGE = {"WWW-Authenticate": 'Basic realm="aegisai", charset="UTF-8"'}
BASIC_AUTH = "basicAuth"  # the OpenAPI security scheme
MAX_FORM_FIELDS = 32

Message = auth_pb2.IssueTokenRequest
AuthMethod = auth_pb2.IssueTokenRequest.AuthMethod
CREDENTIALS = ("clientId", "clientSecret")
SNAKE_CREDENTIALS = ("client_id", "client_secret")
OPTIONAL = ("grant_type", "scope")


def is_token_endpoint(method: MethodDescriptor) -> bool:
    return method.input_type.full_name == Message.DESCRIPTOR.full_name


@dataclass(frozen=True)
class TokenRequest:
    message: auth_pb2.IssueTokenRequest
    basic: bool  # the credentials came as HTTP Basic: a 401 carries CHALLENGE


async def token_request(request: Request) -> TokenRequest:
    """The RPC request for this HTTP request; BadRequest when it cannot be read."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if media == FORM:
        return _from_form(raw, request.headers.get("authorization"))
    return TokenRequest(_from_json(raw), basic=False)


def _from_json(raw: bytes) -> auth_pb2.IssueTokenRequest:
    if not raw.strip():
        raise BadRequest("a JSON request body is required")
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(data) - {*CREDENTIALS, *SNAKE_CREDENTIALS, *OPTIONAL})
    if unknown:
        raise BadRequest(
            f"body: unknown field {unknown[0][:64]!r}; expected clientId and clientSecret "
            "(or client_id and client_secret), and optionally grant_type and scope"
        )
    if set(CREDENTIALS) & set(data) and set(SNAKE_CREDENTIALS) & set(data):
        raise BadRequest(
            "body: spell the credentials either clientId and clientSecret or client_id and "
            "client_secret, not both ways"
        )
    values: dict[str, str] = {}
    for name, value in data.items():
        if value is None:  # proto3's JSON mapping: null is unset
            continue
        if not isinstance(value, str):
            raise BadRequest(f"{name}: expected a string, got {json.dumps(value)[:64]}")
        values[name] = value
    return Message(
        clientId=values.get("clientId", values.get("client_id", "")),
        clientSecret=values.get("clientSecret", values.get("client_secret", "")),
        grant_type=values.get("grant_type", ""),
        scope=values.get("scope", ""),
    )


def _form_fields(raw: bytes) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except UnicodeDecodeError:
        raise BadRequest("the form body is not UTF-8 (percent-encoded)") from None
    except ValueError:
        raise BadRequest(f"the form has more than {MAX_FORM_FIELDS} fields") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name not in (*SNAKE_CREDENTIALS, *OPTIONAL):
            continue
        if name in fields:
            raise BadRequest(f"{name}: given more than once")
        if value:
            fields[name] = value
    return fields


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client id, secret) of `Authorization: Basic …`, each part form-urlencoded as RFC 6749
    section 2.3.1 says; None without Basic credentials (e.g. a bearer token)."""
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest(
            "Authorization: Basic credentials must be base64 of client_id:client_secret"
        ) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise BadRequest("Authorization: Basic credentials must be client_id:client_secret")
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


def _from_form(raw: bytes, authorization: str | None) -> TokenRequest:
    fields = _form_fields(raw)
    basic = basic_credentials(authorization)
    method = AuthMethod.AUTH_METHOD_CLIENT_SECRET_POST
    client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    if basic is not None:
        if secret:
            raise BadRequest(
                "client_secret: the client authenticated with HTTP Basic already; use one "
                "method, not both (RFC 6749 section 2.3)"
            )
        if client_id and client_id != basic[0]:
            raise BadRequest("client_id: differs from the client id of the HTTP Basic credentials")
        method = AuthMethod.AUTH_METHOD_CLIENT_SECRET_BASIC
        client_id, secret = basic
    message = Message(
        clientId=client_id,
        clientSecret=secret,
        grant_type=fields.get("grant_type", ""),
        scope=fields.get("scope", ""),
        auth_method=method,
    )
    return TokenRequest(message, basic=basic is not None)


# -- The OpenAPI document -------------------------------------------------------------------


def _json_body(id_field: str, secret_field: str) -> dict[str, Any]:
    fields = Message.DESCRIPTOR.fields_by_name
    properties = {
        id_field: openapi.field_schema(fields["clientId"]),
        secret_field: openapi.field_schema(fields["clientSecret"]),
        **{name: openapi.field_schema(fields[name], nullable=True) for name in OPTIONAL},
    }
    return {
        "type": "object",
        "title": f"TokenRequest ({id_field}, {secret_field})",
        "properties": properties,
        "required": [id_field, secret_field],
        "additionalProperties": False,
    }


def _form_body() -> dict[str, Any]:
    fields = Message.DESCRIPTOR.fields_by_name
    return {
        "type": "object",
        "title": "TokenRequestForm",
        "description": "RFC 6749 section 4.4.2. The credentials as client_id and client_secret "
        "(client_secret_post), or instead as HTTP Basic (client_secret_basic). Other "
        "parameters are ignored.",
        "properties": {
            "grant_type": openapi.field_schema(fields["grant_type"]),
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
            "scope": openapi.field_schema(fields["scope"]),
        },
        "required": ["grant_type"],
    }


def document(operation: dict[str, Any]) -> dict[str, Any]:
    """The token endpoint's operation (gateway.openapi.operation) with its request forms,
    its optional Basic authentication, and the challenge of a 401."""
    body = {"oneOf": [_json_body(*CREDENTIALS), _json_body(*SNAKE_CREDENTIALS)]}
    operation["requestBody"] = {
        "required": True,
        "content": {JSON: {"schema": body}, FORM: {"schema": _form_body()}},
    }
    operation["security"] = [{}, {BASIC_AUTH: []}]
    unauthorized = operation["responses"]["401"]
    unauthorized["headers"] = {
        "WWW-Authenticate": {
            "description": "When the client sent HTTP Basic credentials.",
            "schema": {"type": "string"},
        }
    }
    return operation
