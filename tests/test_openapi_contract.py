"""The OpenAPI document is an exact contract: `schemathesis run --checks all` against the live
gateway finds no failure. Every status a route answers is documented with its body, every
required field is marked, dates have formats, schema-valid requests are accepted and
schema-violating ones refused.

Hooks (tests/schemathesis_hooks.py) teach it the two things a JSON Schema cannot say: rules
across query parameters, and webhook hosts that resolve. The example count is bounded and the
seed fixed so the run is short and repeatable; `AEGIS_SCHEMATHESIS_EXAMPLES` raises it.
"""

from __future__ import annotations

import ipaddress
import os
import pathlib
import re
import subprocess
import sys

import httpx
import pytest

from collector.alerts.ssrf import is_public
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.procs import ADMIN_ID, ADMIN_SECRET, start_stack

pytestmark = pytest.mark.timeout(600)
ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = os.environ.get("AEGIS_SCHEMATHESIS_EXAMPLES", "10")


def test_schemathesis_finds_no_failure(tmp_path: pathlib.Path) -> None:
    # No alerts job: the webhooks of the rules it creates are never called (see the hooks).
    stack = start_stack(tmp_path, ALERTS_INTERVAL_S="0")
    try:
        token = httpx.post(
            f"{stack.http}/auth/token", json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET}
        ).json()["access_token"]
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{stack.http}/openapi.json",
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {token}",
                "--max-examples",
                EXAMPLES,
                "--seed",
                "1",
                "--workers",
                "2",
                "--no-color",
            ],
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
                "PYTHONPATH": str(ROOT),
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=500,
        )
    finally:
        assert stack.child.stop() == 0
    summary = [
        line for line in run.stdout.splitlines() if re.search(r"generated|passed|failures?", line)
    ]
    print("\n".join(summary[-3:]))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert re.search(r"\d+ generated", run.stdout), run.stdout[-2000:]


def _webhook_url_patterns() -> list[re.Pattern[str]]:
    paths = create_app(GatewaySettings()).openapi()["paths"]
    found = [
        re.compile(
            paths[path][verb]["requestBody"]["content"]["application/json"]["schema"]["properties"][
                "webhook_url"
            ]["pattern"]
        )
        for path, verb in (("/alerts/rules", "post"), ("/alerts/rules/{id}", "put"))
    ]
    assert found[0].pattern == found[1].pattern
    return found


def test_webhook_url_pattern_states_what_the_ssrf_guard_decides_without_dns() -> None:
    """The document refuses what the guard refuses without resolving the host: IPv4 literals
    that are not public (the same verdict as the guard's is_public, first octet by first
    octet across the special ranges), localhost, numeric host forms that resolve to an
    address (HTTP://0, 2130706433, 0x7f.1), ports past 65535. It accepts every port the
    server does (http://host:18080/). Only a host name's resolution is left to the server."""
    for pattern in _webhook_url_patterns():
        seconds = (0, 1, 15, 16, 31, 32, 51, 63, 64, 88, 99, 127, 128, 167, 168, 169, 254, 255)
        ends = ((0, 0), (0, 7), (0, 8), (0, 170), (0, 172), (2, 1), (100, 1), (113, 5))
        for a in range(256):
            for b in seconds:
                for c, d in ends:
                    address = ipaddress.IPv4Address(f"{a}.{b}.{c}.{d}")
                    documented = bool(pattern.match(f"http://{address}:8080/hook"))
                    assert documented == is_public(address), address
        for refused in (
            "HTTP://0",
            "http://0/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://010.0.0.1/",
            "http://localhost:8080/hook",
            "http://LOCALHOST./",
            "http://hooks.example.com:65536/",
            "ftp://hooks.example.com/",
        ):
            assert not pattern.match(refused), refused
        for accepted in (
            "http://hooks.example.com:18080/",
            "https://1.1.1.1:65535/a?b=c",
            "HTTPS://Hooks.Example.COM./x",
            "http://localhost.example.com/",
            "http://hooks.example.com:08080/",
        ):
            assert pattern.match(accepted), accepted
