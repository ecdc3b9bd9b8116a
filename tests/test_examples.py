"""The README's examples run as written against a real stack."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ApiClient, read
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


@pytest.mark.parametrize(("protocol", "port"), [("grpc", "grpc"), ("http/protobuf", "http")])
async def test_otel_example_with_the_readme_settings(
    stack: Stack, http: httpx.AsyncClient, tenant_client: ApiClient, protocol: str, port: str
) -> None:
    """The README's OTEL_EXPORTER_OTLP_* lines, as written (only the port differs), and the
    real SDK's exporters configured by them alone."""
    endpoint = f"http://localhost:{stack.grpc_port if port == 'grpc' else stack.http_port}"
    script = (
        f"export OTEL_EXPORTER_OTLP_PROTOCOL={protocol}\n"
        f"export OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}\n"
        "export OTEL_EXPORTER_OTLP_HEADERS=\"authorization=Basic%20$(printf '%s:%s' "
        '"$CLIENT_ID" "$CLIENT_SECRET" | base64 | tr -d \'\\n\')"\n'
        f"{sys.executable} examples/otel_genai.py\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "CLIENT_ID": tenant_client.client_id,
        "CLIENT_SECRET": tenant_client.client_secret,
    }
    run = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "sent 1 span" in run.stdout
    (model,) = (await read(http, tenant_client, "/dashboard/llm-metrics"))["models"]
    assert (model["model_name"], model["requests"], model["tokens"]) == ("gpt-4o-mini", 1, 1500)
    assert model["cost"] > 0


@pytest.mark.parametrize(("protocol", "port"), [("grpc", "grpc"), ("http/protobuf", "http")])
async def test_otel_example_fails_when_the_export_is_refused(
    stack: Stack, tenant_client: ApiClient, protocol: str, port: str
) -> None:
    """A wrong secret: the collector refuses the export, and the example says so and exits 1
    instead of printing "sent 1 span"."""
    endpoint = f"http://localhost:{stack.grpc_port if port == 'grpc' else stack.http_port}"
    credentials = base64.b64encode(f"{tenant_client.client_id}:wrong-secret".encode()).decode()
    env = {
        "PATH": os.environ["PATH"],
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Basic%20{credentials}",
    }
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "examples/otel_genai.py"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "sent 1 span" not in run.stdout
    assert f"the span was not accepted by {endpoint}" in run.stderr
