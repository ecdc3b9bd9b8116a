"""The README's examples run as written against a real stack."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ApiClient
from tests.procs import Stack


def test_grpc_stream_example(stack: Stack, tenant_client: ApiClient) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "examples/grpc_stream.py",
            stack.grpc_target,
            tenant_client.client_id,
            tenant_client.client_secret,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("accepted=100 duplicates=0 rejected=0") == 3
    assert "total_llm_requests=300 total_cost=0.300 active_models=1" in run.stdout
