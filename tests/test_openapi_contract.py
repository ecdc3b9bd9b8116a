"""The OpenAPI document is an exact contract: `schemathesis run --checks all` against the live
gateway finds no failure. Every status a route answers is documented with its body, every
required field is marked, dates have formats, schema-valid requests are accepted and
schema-violating ones refused.

Hooks (tests/schemathesis_hooks.py) teach it the two things a JSON Schema cannot say: rules
across query parameters, and webhook hosts that resolve. The example count is bounded and the
seed fixed so the run is short and repeatable; `AEGIS_SCHEMATHESIS_EXAMPLES` raises it.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import httpx
import pytest

from tests.procs import ADMIN_ID, ADMIN_SECRET, start_stack

pytestmark = pytest.mark.timeout(600)
ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = os.environ.get("AEGIS_SCHEMATHESIS_EXAMPLES", "10")


def test_schemathesis_finds_no_failure(tmp_path: pathlib.Path) -> None:
    stack = start_stack(tmp_path, ALLOW_PRIVATE_WEBHOOKS="true")
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
