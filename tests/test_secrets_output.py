"""No secret and no token in process output: a collector and a gateway at DEBUG, their stdout
and stderr captured whole, through the whole client lifecycle and its failures."""

from __future__ import annotations

import pathlib
import subprocess
import uuid

import httpx
from pymongo import MongoClient

from aegis_shared import child_process
from stack import supervision
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    START_TIMEOUT_S,
    Database,
    collector_env,
    wait_until,
)


def _start(
    module: str, env: dict[str, str], out: pathlib.Path, *args: str
) -> tuple[subprocess.Popen[bytes], int]:
    """The process with stdout and stderr both in `out`, and the port of its READY line."""
    with out.open("wb") as sink:
        proc = child_process.spawn(
            child_process.python_module(module, *args),
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        assert proc.poll() is None, out.read_text()
        return "READY " in out.read_text()

    wait_until(ready, START_TIMEOUT_S, f"{module} ready")
    line = next(x for x in out.read_text().splitlines() if x.startswith("READY "))
    # "READY grpc=<port> metrics=<port>" or "READY http=<port>": the first is the service's.
    return proc, int(line.split()[1].split("=")[1])


def test_lifecycle_leaves_no_secret_in_output_or_audit(tmp_path: pathlib.Path) -> None:
    db = Database(tmp_path).start()
    procs = []
    try:
        env = collector_env(db.url, tmp_path)
        env.update(LOG_LEVEL="DEBUG", RATE_LIMIT_READ_PER_S="1", AUTH_ATTEMPTS_PER_MIN="2")
        collector, grpc_port = _start("collector", env, tmp_path / "collector.out", "serve")
        procs.append(collector)
        gateway_env = supervision.child_env(
            COLLECTOR_ADDR=f"127.0.0.1:{grpc_port}", HTTP_PORT="0", LOG_LEVEL="DEBUG"
        )
        gateway, http_port = _start("gateway", gateway_env, tmp_path / "gateway.out")
        procs.append(gateway)
        secrets = [ADMIN_SECRET]
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http:

            def token(client_id: str, secret: str) -> str:
                reply = http.post(
                    "/auth/token", json={"clientId": client_id, "clientSecret": secret}
                )
                assert reply.status_code == 200, reply.text
                secrets.append(reply.json()["access_token"])
                return str(reply.json()["access_token"])

            admin = {"Authorization": f"Bearer {token(ADMIN_ID, ADMIN_SECRET)}"}
            created = http.post(
                "/admin/clients", json={"name": "app", "tenant": "acme"}, headers=admin
            ).json()
            app_id, first = created["clientId"], created["clientSecret"]
            secrets.append(first)
            app = {"Authorization": f"Bearer {token(app_id, first)}"}
            for _ in range(3):  # past the read limit
                http.get("/dashboard/overview", headers=app)
            rotated = http.post(f"/admin/clients/{app_id}/rotate", json={}, headers=admin)
            second = rotated.json()["clientSecret"]
            secrets.append(second)
            for guess in (first, "wrong-" + uuid.uuid4().hex, second):  # refused, then limited
                secrets.append(guess)
                http.post("/auth/token", json={"clientId": app_id, "clientSecret": guess})
            http.post("/auth/token", json={"clientId": first, "clientSecret": second})
            assert http.delete(f"/admin/clients/{app_id}", headers=admin).status_code == 200
            assert http.get("/dashboard/overview", headers=app).status_code == 401
        with MongoClient(db.url, serverSelectionTimeoutMS=5000) as client:
            audit = "\n".join(str(doc) for doc in client["aegisai"]["audit_logs"].find())
    finally:
        for proc in procs:
            child_process.stop(proc)
        db.stop()
    output = (tmp_path / "collector.out").read_text() + (tmp_path / "gateway.out").read_text()
    assert "DEBUG" in output and app_id in audit  # there is something to look through
    for actions in ("token_refused", "client_rotated", "client_revoked", "read_rate_limited"):
        assert actions in audit
    for secret in secrets:
        assert secret not in output
        assert secret not in audit
        assert secret.rsplit(".", 1)[-1] not in output  # a token's signature alone
