"""The SDK is a light distribution: its wheel (with aegis-proto's) installs into a fresh virtual
environment without any of the server's dependencies, and sends events to a running stack."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import textwrap

import httpx
import pytest

from tests.conftest import ApiClient, create_client, read
from tests.procs import Stack

ROOT = pathlib.Path(__file__).resolve().parent.parent
# What only the server needs (pyproject.toml); none may reach an application that logs events.
SERVER_ONLY = {
    "pymongo", "secantusdb", "fastapi", "uvicorn", "argon2-cffi", "apscheduler",
    "genai-prices", "pyjwt", "pydantic-settings", "prometheus-client", "websockets",
    "opentelemetry-proto", "grpcio-health-checking", "grpcio-reflection", "tqdm",
    "aegisai-server",
}  # fmt: skip
SDK_DEPENDENCIES = {"grpcio", "protobuf", "googleapis-common-protos", "httpx", "aegis-proto"}

SEND = textwrap.dedent(
    """
    import sys
    import aegis_sdk
    assert "site-packages" in aegis_sdk.__file__, aegis_sdk.__file__
    target, client_id, secret = sys.argv[1:4]
    with aegis_sdk.AegisClient(target, client_id, secret) as aegis:
        for i in range(25):
            aegis.log_llm(model_name="wheel-llm", tokens_used=10, event_id=f"w{i}")
        aegis.flush(timeout=60)
    """
)


def run(*args: str, cwd: pathlib.Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh virtual environment with only the aegis-proto and aegis-sdk wheels installed."""
    work = tmp_path_factory.mktemp("sdk-wheel")
    wheels = work / "wheels"
    # Built from copies: a build writes build/ and *.egg-info beside its sources.
    sources = [work / "generated", work / "sdk"]
    for source in sources:
        shutil.copytree(ROOT / source.name, source, ignore=shutil.ignore_patterns("__pycache__"))
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "-w", str(wheels), *map(str, sources), cwd=work,
    )  # fmt: skip
    built = sorted(p.name.split("-")[0] for p in wheels.glob("*.whl"))
    assert built == ["aegis_proto", "aegis_sdk"], built
    venv = work / "venv"
    run(sys.executable, "-m", "venv", str(venv), cwd=work)
    python = venv / "bin" / "python"
    run(
        str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        *map(str, wheels.glob("*.whl")), cwd=work,
    )  # fmt: skip
    return venv


def test_the_sdk_wheel_brings_none_of_the_server(sdk_venv: pathlib.Path) -> None:
    listing = run(
        str(sdk_venv / "bin" / "python"), "-m", "pip", "list", "--format", "json",
        cwd=sdk_venv,
    )  # fmt: skip
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listing)}
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    assert installed >= SDK_DEPENDENCIES, SDK_DEPENDENCIES - installed
    assert "aegis-sdk" in installed


async def test_the_installed_sdk_sends_events(
    sdk_venv: pathlib.Path, stack: Stack, http: httpx.AsyncClient, admin: ApiClient
) -> None:
    who = await create_client(http, admin, "sdk-wheel")
    script = sdk_venv / "send.py"
    script.write_text(SEND)
    # Run outside the checkout, so the SDK can only come from the wheel.
    run(
        str(sdk_venv / "bin" / "python"), str(script), stack.grpc_target, who.client_id,
        who.client_secret, cwd=sdk_venv,
    )  # fmt: skip
    overview = await read(http, who, "/dashboard/overview")
    assert overview["total_llm_requests"] == 25
