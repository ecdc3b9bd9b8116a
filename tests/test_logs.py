"""LOG_FORMAT=json: one JSON object per line, with the request id; never a token."""

from __future__ import annotations

import json
import pathlib
import subprocess

import httpx

from aegis_shared import child_process
from stack import supervision
from tests.procs import START_TIMEOUT_S, refusing_port


def test_gateway_json_logs_carry_the_request_id_and_no_token(tmp_path: pathlib.Path) -> None:
    stderr = tmp_path / "gateway.stderr"
    with refusing_port() as dead, stderr.open("wb") as err:
        env = supervision.child_env(
            COLLECTOR_ADDR=f"127.0.0.1:{dead}",
            HTTP_PORT="0",
            HTTP_HOST="127.0.0.1",
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
        )
        proc = child_process.spawn(
            child_process.python_module("gateway"), env=env, stdout=subprocess.PIPE, stderr=err
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert line.startswith("READY http="), line
            port = int(line.split("=")[1])
            reply = httpx.get(
                f"http://127.0.0.1:{port}/health",
                headers={"X-Request-ID": "req-42", "Authorization": "Bearer secret-token-xyz"},
                timeout=START_TIMEOUT_S,
            )
            assert reply.status_code == 503
            assert reply.headers["x-request-id"] == "req-42"
            forged = httpx.get(
                f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": 'a" b'}, timeout=30
            )
            assert forged.headers["x-request-id"] != 'a" b'
        finally:
            child_process.stop(proc)
    text = stderr.read_text()
    lines = [json.loads(raw) for raw in text.splitlines() if raw.strip()]
    assert lines, "no log lines"
    for entry in lines:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    access = [e for e in lines if e.get("request_id") == "req-42"]
    assert access and any("/health" in e["message"] for e in access), lines
    assert "secret-token-xyz" not in text
