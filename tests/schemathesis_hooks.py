"""What schemathesis cannot learn from a JSON Schema, taught by hooks (SCHEMATHESIS_HOOKS).

- Cross-field rules: start_date after end_date, or a series interval over a longer range
  than it may cover, are 400s that no schema of single parameters can express. Generated
  queries that break one of them are dropped; a malformed date alone is still sent.
- A webhook URL must name a host that resolves; generated host names do not (no DNS in
  tests). Their host is replaced by 127.0.0.1, which the test's collector allows
  (ALLOW_PRIVATE_WEBHOOKS=true). Everything else of the URL is left as generated.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis.internal import lambda_sources

from collector.dates import parse_interval, parse_range
from collector.errors import InvalidArgument

CROSS_FIELD = ("start_date must not be after end_date", "interval: a ")


def _tolerant(describe: Callable[[Any], str]) -> Callable[[Any], str]:
    """CPython 3.11.7's ast.parse can fail with "SystemError: AST constructor recursion depth
    mismatch" (a CPython bug, gh-106905) when hypothesis parses a source file to describe a
    lambda for a repr. A description is cosmetic: fall back to hypothesis' own placeholder
    rather than let the run stop with a runtime error of the tool."""

    @functools.wraps(describe)
    def tolerant(f: Any) -> str:
        try:
            return describe(f)
        except SystemError:
            return "lambda: <unknown>"

    return tolerant


lambda_sources._lambda_description = _tolerant(lambda_sources._lambda_description)


@schemathesis.hook
def filter_query(ctx: Any, query: Any) -> bool:
    if not isinstance(query, dict) or not {"start_date", "end_date", "interval"} & set(query):
        return True
    try:
        values = {k: query.get(k, "") for k in ("start_date", "end_date", "interval")}
        if not all(isinstance(v, str) for v in values.values()):
            return True
        dates = parse_range(values["start_date"], values["end_date"])
        parse_interval(values["interval"], dates)
    except InvalidArgument as exc:
        return not str(exc).startswith(CROSS_FIELD)
    return True


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("webhook_url"), str):
        return
    try:
        parts = urllib.parse.urlsplit(body["webhook_url"])
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    if host and parts.scheme in ("http", "https"):
        netloc = "127.0.0.1" + (f":{port}" if port else "")
        case.body = {**body, "webhook_url": parts._replace(netloc=netloc).geturl()}
