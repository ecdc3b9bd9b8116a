"""Command lines: `python -m collector clients create` against a running stack, and --help."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import jwt
import pytest

from collector import process
from tests.procs import Stack

CLI_TIMEOUT_S = 120


def run_module(module: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `python -m module args…`; it must exit 0. Returns its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("module", ["collector", "gateway", "stack"])
def test_help_exits_0(module: str) -> None:
    out = run_module(module, "--help")
    assert out.startswith("usage:")
    assert f"python -m {module}" in out


def test_clients_create_against_a_running_stack(stack: Stack) -> None:
    env = process.child_env(DATA_DIR=str(stack.data_dir))
    env.pop("MONGODB_URL", None)
    env.pop("JWT_SECRET", None)
    tenant = f"cli-{uuid.uuid4().hex[:12]}"
    out = run_module(
        "collector",
        "clients",
        "create",
        "--name",
        "cli client",
        "--tenant",
        tenant,
        "--scopes",
        "ingest",
        "read",
        env=env,
    )
    printed = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {"clientId", "clientSecret"} <= set(printed), out

    with httpx.Client(base_url=stack.http, timeout=30) as http:
        reply = http.post(
            "/auth/token",
            json={"clientId": printed["clientId"], "clientSecret": printed["clientSecret"]},
        )
        assert reply.status_code == 200, reply.text
        token = reply.json()["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["tenant"] == tenant
        assert sorted(claims["scopes"]) == ["ingest", "read"]
        headers = {"Authorization": f"Bearer {token}"}
        event = {"model_type": "t", "model_id": "cli-model", "prediction_count": 2}
        ingested = http.post("/ingest/ml", json={"events": [event]}, headers=headers)
        assert ingested.status_code == 200, ingested.text
        overview = http.get("/dashboard/overview", headers=headers).json()
        assert overview["total_ml_predictions"] == 2
