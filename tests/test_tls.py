"""gRPC over TLS end to end, with a self-signed certificate made here: the collector serves
it, the gateway dials it, the SDK sends over it; and start-up refuses unsafe settings."""

from __future__ import annotations

import datetime as dt
import ipaddress
import pathlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aegis.v1 import auth_pb2, auth_pb2_grpc
from aegis_sdk import AegisClient
from stack import supervision
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Backend,
    count_events,
    refusing_port,
    start_gateway,
)


def self_signed(
    directory: pathlib.Path, dns_name: str = "localhost", *, with_ip: bool = True
) -> tuple[pathlib.Path, pathlib.Path]:
    """(certificate, key) PEM files for dns_name and, with_ip, 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    names: list[x509.GeneralName] = [x509.DNSName(dns_name)]
    if with_ip:
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(names),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{dns_name}.crt", directory / f"{dns_name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class TlsStack:
    backend: Backend
    cert: pathlib.Path
    http: str


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    data_dir = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(data_dir)
    backend = Backend(data_dir, GRPC_TLS_CERT=str(cert), GRPC_TLS_KEY=str(key))
    backend.start_collector()
    gateway, http_port = start_gateway(
        backend.target, data_dir / "gateway.log", GRPC_TLS_CERT=str(cert)
    )
    yield TlsStack(backend, cert, f"http://127.0.0.1:{http_port}")
    gateway.stop()
    backend.stop()


async def test_plaintext_to_the_tls_port_is_refused(tls: TlsStack) -> None:
    async with grpc.aio.insecure_channel(tls.backend.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
                auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET),
                timeout=5,
            )
    assert info.value.code() in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )


async def test_tls_client_that_trusts_the_certificate_gets_a_token(tls: TlsStack) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.cert.read_bytes())
    async with grpc.aio.secure_channel(tls.backend.target, credentials) as channel:
        reply = await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
            auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET), timeout=30
        )
    assert reply.access_token


async def test_rest_through_the_gateway_over_tls(tls: TlsStack) -> None:
    async with httpx.AsyncClient(base_url=tls.http, timeout=30) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        token = await http.post(
            "/auth/token", json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        event = {"model_type": "t", "model_id": "tls", "prediction_count": 3}
        ingested = await http.post("/ingest/ml", json={"events": [event]}, headers=headers)
        assert ingested.status_code == 200 and ingested.json()["accepted"] == 1


def test_sdk_sends_over_tls_with_credentials(tls: TlsStack) -> None:
    before = count_events(tls.backend.db.url, "llm", "default")
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.cert.read_bytes())
    with AegisClient(
        tls.backend.target, ADMIN_ID, ADMIN_SECRET, credentials=credentials, flush_interval=0.05
    ) as client:
        for _ in range(50):
            client.log_llm(model_name="tls-model", tokens_used=1)
        client.flush(timeout=30)
        assert client.stats.reauthentications == 0
    assert count_events(tls.backend.db.url, "llm", "default") == before + 50


def test_gateway_checks_the_certificate_for_the_name_it_is_told(tmp_path: pathlib.Path) -> None:
    """A certificate naming a host, not 127.0.0.1 (what `make run` dials): the gateway
    refuses it, unless COLLECTOR_TLS_SERVER_NAME says which name to expect."""
    cert, key = self_signed(tmp_path, "collector.internal", with_ip=False)
    backend = Backend(tmp_path, GRPC_TLS_CERT=str(cert), GRPC_TLS_KEY=str(key))
    gateways = []
    try:
        backend.start_collector()
        health = {}
        for name in ("", "collector.internal"):
            gateway, port = start_gateway(
                backend.target,
                tmp_path / f"gateway-{name}.log",
                GRPC_TLS_CERT=str(cert),
                COLLECTOR_TLS_SERVER_NAME=name,
            )
            gateways.append(gateway)
            health[name] = httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code
        assert health == {"": 503, "collector.internal": 200}
    finally:
        for gateway in gateways:
            gateway.stop()
        backend.stop()


# -- start-up refuses unsafe or broken settings ---------------------------------------------


def _serve(**env: str) -> subprocess.CompletedProcess[str]:
    with refusing_port() as port:
        settings = {
            "MONGODB_URL": f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500",
            "GRPC_PORT": "0",
            "JWT_SECRET": "k" * 40,
            **env,
        }
        full = supervision.child_env(**settings)
        return subprocess.run(
            [sys.executable, "-m", "collector", "serve"],
            env=full,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def test_short_jwt_secret_stops_start_up_with_a_clear_message() -> None:
    done = _serve(JWT_SECRET="too-short-" + uuid.uuid4().hex[:8])
    assert done.returncode == 2
    assert "JWT_SECRET must be at least 32 bytes" in done.stderr


def test_tls_certificate_without_key_stops_start_up(tmp_path: pathlib.Path) -> None:
    cert, _ = self_signed(tmp_path)
    done = _serve(GRPC_TLS_CERT=str(cert))
    assert done.returncode == 2
    assert "GRPC_TLS_CERT and GRPC_TLS_KEY must be given together" in done.stderr
