"""Client lifecycle: list, revoke (on every replica within a second), rotate with a grace
period, the CLI twins of those, and the audit log that records them, with no secret in it."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import pathlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import grpc
import httpx
import pytest
from pymongo import MongoClient

from aegis.v1 import dashboard_pb2, dashboard_pb2_grpc, events_pb2, ingest_pb2, ingest_pb2_grpc
from tests.conftest import (
    ApiClient,
    assert_error,
    assert_oauth_error,
    create_client,
    issue_token,
)
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Stack,
    collector_env,
    stack_mongodb_url,
    start_collector,
)
from tests.test_cli import embedded_env, run_module

# The acceptance bound for revocation ("within a second"); the cache lives 0.5 s.
REVOKE_WITHIN_S = 1.0
# Long enough for the three checks made within it, even on a loaded machine.
GRACE_S = 6
# How long an audit record may take to show after the reply to what caused it.
AUDIT_WITHIN_S = 10.0


@pytest.fixture(scope="module")
def replica(
    stack: Stack, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second collector on the stack's database: another replica behind a balancer."""
    data_dir: pathlib.Path = tmp_path_factory.mktemp("replica")
    env = collector_env(stack_mongodb_url(stack), data_dir)
    env.update(
        JWT_SECRET=jwt_secret,
        ROLLUP_INTERVAL_S="0",
        ALERTS_INTERVAL_S="0",
        RETENTION_INTERVAL_S="0",
    )
    child, port = start_collector(env, data_dir / "collector.log")
    yield f"127.0.0.1:{port}"
    child.stop()


@pytest.fixture
async def replica_channel(replica: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(replica) as channel:
        yield channel


async def tenant_admin(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    return await create_client(http, admin, f"t-{uuid.uuid4().hex[:10]}", ["admin", "read"])


async def _overview_code(channel: grpc.aio.Channel, client: ApiClient) -> grpc.StatusCode:
    stub = dashboard_pb2_grpc.DashboardServiceStub(channel)
    try:
        await stub.Overview(dashboard_pb2.OverviewRequest(), metadata=client.metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


# -- list ---------------------------------------------------------------------------------


async def test_tenant_admin_lists_its_tenant_only_and_never_a_secret(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    boss = await tenant_admin(http, admin)
    worker = await create_client(http, admin, boss.tenant)
    elsewhere = await create_client(http, admin, f"other-{uuid.uuid4().hex[:8]}")
    reply = await http.get("/admin/clients", headers=boss.headers)
    assert reply.status_code == 200, reply.text
    listed = {c["clientId"]: c for c in reply.json()["clients"]}
    assert set(listed) == {boss.client_id, worker.client_id}
    assert {c["tenant"] for c in listed.values()} == {boss.tenant}
    for secret in (boss.client_secret, worker.client_secret, elsewhere.client_secret):
        assert secret not in reply.text
    assert set(listed[worker.client_id]) == {
        "clientId",
        "name",
        "tenant",
        "scopes",
        "global_admin",
        "created_at",
        "revoked_at",
        "secret_rotated_at",
    }
    # A global admin sees every tenant.
    everyone = await http.get("/admin/clients", headers=admin.headers)
    ids = {c["clientId"] for c in everyone.json()["clients"]}
    assert {boss.client_id, worker.client_id, elsewhere.client_id, ADMIN_ID} <= ids


async def test_listing_needs_the_admin_scope(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    reply = await http.get("/admin/clients", headers=tenant_client.headers)
    assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)


# -- revoke -------------------------------------------------------------------------------


async def test_revoked_token_stops_on_every_replica_within_a_second(
    http: httpx.AsyncClient, admin: ApiClient, replica_channel: grpc.aio.Channel
) -> None:
    boss = await tenant_admin(http, admin)
    victim = await create_client(http, admin, boss.tenant)
    # Both replicas know the client as valid (the other one has it cached).
    assert await _overview_code(replica_channel, victim) == grpc.StatusCode.OK
    assert (await http.get("/dashboard/overview", headers=victim.headers)).status_code == 200

    reply = await http.delete(f"/admin/clients/{victim.client_id}", headers=boss.headers)
    assert reply.status_code == 200, reply.text
    revoked = time.perf_counter()
    assert reply.json()["clientId"] == victim.client_id and reply.json()["revoked_at"]
    # The replica that revoked refuses at once; the other within a second.
    after = await http.get("/dashboard/overview", headers=victim.headers)
    assert_error(after, 401, grpc.StatusCode.UNAUTHENTICATED)
    while await _overview_code(replica_channel, victim) == grpc.StatusCode.OK:
        assert time.perf_counter() - revoked < 5, "the other replica never noticed"
    elapsed = time.perf_counter() - revoked
    print(f"revocation reached the other replica after {elapsed * 1000:.0f} ms")
    assert elapsed < REVOKE_WITHIN_S
    assert await _overview_code(replica_channel, victim) == grpc.StatusCode.UNAUTHENTICATED
    # No new token either, with the same answer as a wrong secret.
    refused = await http.post(
        "/auth/token", json={"clientId": victim.client_id, "clientSecret": victim.client_secret}
    )
    assert_oauth_error(refused, 401, "invalid_client")
    # Revoking again is harmless; the listing shows when it happened.
    again = await http.delete(f"/admin/clients/{victim.client_id}", headers=boss.headers)
    assert again.json()["revoked_at"] == reply.json()["revoked_at"]
    listed = (await http.get("/admin/clients", headers=boss.headers)).json()["clients"]
    (entry,) = [c for c in listed if c["clientId"] == victim.client_id]
    assert entry["revoked_at"] == reply.json()["revoked_at"]


async def test_revocation_ends_a_live_stream_on_another_replica(
    http: httpx.AsyncClient, admin: ApiClient, replica_channel: grpc.aio.Channel
) -> None:
    boss = await tenant_admin(http, admin)
    victim = await create_client(http, admin, boss.tenant)
    stream = ingest_pb2_grpc.IngestServiceStub(replica_channel).StreamEvents(
        metadata=victim.metadata
    )
    event = events_pb2.MLEvent(model_id="m", model_type="t", event_id=uuid.uuid4().hex)
    await stream.write(
        ingest_pb2.StreamEventsRequest(sequence=1, ml=ingest_pb2.IngestMLRequest(events=[event]))
    )
    ack = await stream.read()
    assert ack.result.accepted == 1
    reply = await http.delete(f"/admin/clients/{victim.client_id}", headers=boss.headers)
    assert reply.status_code == 200
    revoked = time.perf_counter()
    # The stream is idle: it is ended by the collector, not by a failing write.
    assert await asyncio.wait_for(stream.code(), 10) == grpc.StatusCode.UNAUTHENTICATED
    elapsed = time.perf_counter() - revoked
    print(f"revocation ended an idle stream after {elapsed * 1000:.0f} ms")
    assert elapsed < REVOKE_WITHIN_S
    assert "revoked" in (await stream.details())


# -- rotate -------------------------------------------------------------------------------


async def _token_status(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    reply = await http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})
    return reply.status_code


async def test_rotation_without_grace_retires_the_old_secret_and_its_tokens(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    boss = await tenant_admin(http, admin)
    app = await create_client(http, admin, boss.tenant)
    reply = await http.post(f"/admin/clients/{app.client_id}/rotate", json={}, headers=boss.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"clientId", "clientSecret"} and body["clientId"] == app.client_id
    new_secret = body["clientSecret"]
    assert new_secret != app.client_secret
    assert await _token_status(http, app.client_id, app.client_secret) == 401
    assert await _token_status(http, app.client_id, new_secret) == 200
    old_token = await http.get("/dashboard/overview", headers=app.headers)
    assert_error(old_token, 401, grpc.StatusCode.UNAUTHENTICATED)
    fresh = await issue_token(http, app.client_id, new_secret)
    ok = await http.get("/dashboard/overview", headers={"Authorization": f"Bearer {fresh}"})
    assert ok.status_code == 200


async def test_rotation_with_grace_keeps_the_old_secret_for_that_long(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    boss = await tenant_admin(http, admin)
    app = await create_client(http, admin, boss.tenant)
    reply = await http.post(
        f"/admin/clients/{app.client_id}/rotate",
        json={"grace_seconds": GRACE_S},
        headers=boss.headers,
    )
    assert reply.status_code == 200, reply.text
    rotated = time.monotonic()
    new_secret = reply.json()["clientSecret"]
    # Within the grace period: both secrets, and the token issued before.
    assert await _token_status(http, app.client_id, app.client_secret) == 200
    assert await _token_status(http, app.client_id, new_secret) == 200
    assert (await http.get("/dashboard/overview", headers=app.headers)).status_code == 200
    assert time.monotonic() - rotated < GRACE_S, "too slow to have seen the grace period"
    # Once it is over, only the new secret.
    await asyncio.sleep(max(0.0, GRACE_S + 0.2 - (time.monotonic() - rotated)))
    assert await _token_status(http, app.client_id, app.client_secret) == 401
    assert await _token_status(http, app.client_id, new_secret) == 200
    old = await http.get("/dashboard/overview", headers=app.headers)
    assert_error(old, 401, grpc.StatusCode.UNAUTHENTICATED)


@pytest.mark.parametrize("grace", [-1, 86_401])
async def test_rotation_grace_out_of_range_is_400(
    http: httpx.AsyncClient, admin: ApiClient, grace: int
) -> None:
    boss = await tenant_admin(http, admin)
    reply = await http.post(
        f"/admin/clients/{boss.client_id}/rotate",
        json={"grace_seconds": grace},
        headers=boss.headers,
    )
    assert "grace_seconds" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)


async def test_tenant_admin_cannot_touch_the_global_admin(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    default_admin = await create_client(http, admin, "default", ["admin"])
    for verb, path in (
        ("DELETE", f"/admin/clients/{ADMIN_ID}"),
        ("POST", f"/admin/clients/{ADMIN_ID}/rotate"),
    ):
        reply = await http.request(verb, path, json={}, headers=default_admin.headers)
        assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)
    assert await _token_status(http, ADMIN_ID, ADMIN_SECRET) == 200


# -- audit --------------------------------------------------------------------------------


async def test_audit_log_records_the_lifecycle_for_the_tenant_only(
    http: httpx.AsyncClient, admin: ApiClient, stack: Stack
) -> None:
    boss = await tenant_admin(http, admin)
    app = await create_client(http, boss, boss.tenant)
    assert await _token_status(http, app.client_id, "wrong-" + uuid.uuid4().hex) == 401
    rotated = await http.post(
        f"/admin/clients/{app.client_id}/rotate", json={}, headers=boss.headers
    )
    new_secret = rotated.json()["clientSecret"]
    await http.delete(f"/admin/clients/{app.client_id}", headers=boss.headers)
    rule = await http.post(
        "/alerts/rules",
        json={
            "name": "cost",
            "metric": "cost",
            "comparison": "gt",
            "threshold": 1,
            "window_minutes": 5,
            "webhook_url": "https://93.184.216.34/hook",
            "webhook_secret": "s" * 20,
        },
        headers=boss.headers,
    )
    assert rule.status_code == 201, rule.text
    deleted = await http.delete(f"/alerts/rules/{rule.json()['id']}", headers=boss.headers)
    assert deleted.status_code == 200, deleted.text
    other = await tenant_admin(http, admin)  # another tenant's activity must not show

    reply = await http.get("/admin/audit-logs", headers=boss.headers)
    assert reply.status_code == 200, reply.text
    entries = reply.json()["entries"]
    assert {e["tenant"] for e in entries} == {boss.tenant}
    assert other.client_id not in reply.text
    actions = [(e["action"], e["client_id"]) for e in entries]
    assert ("client_created", boss.client_id) in actions
    assert ("token_issued", app.client_id) in actions
    assert ("token_refused", app.client_id) in actions
    assert ("client_rotated", boss.client_id) in actions
    assert ("client_revoked", boss.client_id) in actions
    assert ("rule_created", boss.client_id) in actions
    assert ("rule_deleted", boss.client_id) in actions
    # Compared as times: proto3's JSON drops a zero fraction ("…:05Z" is before "…:05.923Z").
    stamps = [dt.datetime.fromisoformat(e["timestamp"]) for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert set(entries[0]) == {
        "event_type",
        "client_id",
        "action",
        "timestamp",
        "details",
        "tenant",
        "actor_tenant",
    }
    # The boss acted within its own tenant; the global admin, who created the boss, from its.
    assert {(e["client_id"] == ADMIN_ID, e["actor_tenant"]) for e in entries} == {
        (False, boss.tenant),
        (True, "default"),
    }
    for secret in (app.client_secret, new_secret, app.token, boss.token, boss.client_secret):
        assert secret not in reply.text
    # Date filters: nothing after tomorrow; a date that is not one is 400.
    later = await http.get(
        "/admin/audit-logs", params={"start_date": "2999-01-01"}, headers=boss.headers
    )
    assert later.json()["entries"] == []
    bad = await http.get("/admin/audit-logs", params={"end_date": "soon"}, headers=boss.headers)
    assert "end_date" in assert_error(bad, 400, grpc.StatusCode.INVALID_ARGUMENT)


async def audit_entries(
    http: httpx.AsyncClient, reader: ApiClient, until: Callable[[list[dict]], bool]
) -> list[dict]:
    """The reader's audit log once `until` holds of it (records may be written just after
    the reply that caused them); fails after AUDIT_WITHIN_S."""
    deadline = time.monotonic() + AUDIT_WITHIN_S
    while True:
        reply = await http.get("/admin/audit-logs", headers=reader.headers)
        assert reply.status_code == 200, reply.text
        entries: list[dict] = reply.json()["entries"]
        if until(entries) or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.05)


async def test_global_admin_reads_its_own_actions_in_other_tenants_and_unknown_refusals(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    """A global admin's create/rotate/revoke in another tenant show in its own log as well as
    in that tenant's, and refused token requests for unknown client ids (tenant "") show to
    global admins only."""
    boss = await tenant_admin(http, admin)
    app = await create_client(http, admin, boss.tenant)
    rotated = await http.post(
        f"/admin/clients/{app.client_id}/rotate", json={}, headers=admin.headers
    )
    assert rotated.status_code == 200, rotated.text
    revoked = await http.delete(f"/admin/clients/{app.client_id}", headers=admin.headers)
    assert revoked.status_code == 200, revoked.text
    stranger = f"no-such-client-{uuid.uuid4().hex}"
    assert await _token_status(http, stranger, "whatever-" + uuid.uuid4().hex) == 401
    fingerprint = hashlib.sha256(stranger.encode()).hexdigest()[:16]
    # A plain (not global) admin of the global admin's own tenant.
    home_admin = await create_client(http, admin, "default", ["admin", "read"])

    def admin_did(entries: list[dict]) -> set[tuple[str, str, str]]:
        return {
            (e["action"], e["tenant"], e["actor_tenant"])
            for e in entries
            if e["client_id"] == ADMIN_ID
            and app.client_id
            in (e["details"].get("new_client_id"), e["details"].get("target_client_id"))
        }

    def refused(entries: list[dict]) -> list[dict]:
        return [
            e
            for e in entries
            if e["action"] == "token_refused"
            and e["details"].get("client_id_sha256_prefix") == fingerprint
        ]

    expected = {
        ("client_created", boss.tenant, "default"),
        ("client_rotated", boss.tenant, "default"),
        ("client_revoked", boss.tenant, "default"),
    }
    mine = await audit_entries(
        http, admin, lambda entries: admin_did(entries) >= expected and bool(refused(entries))
    )
    assert admin_did(mine) == expected
    [unknown] = refused(mine)
    assert (unknown["tenant"], unknown["actor_tenant"], unknown["client_id"]) == ("", "", "unknown")
    assert stranger not in str(mine)  # what was typed as the id may be a secret: never stored
    stamps = [dt.datetime.fromisoformat(e["timestamp"]) for e in mine]
    assert stamps == sorted(stamps, reverse=True)
    assert len(stamps) == len({(e["timestamp"], e["action"], e["client_id"]) for e in mine})

    # The tenant sees what was done to it, by whom, and nothing of no tenant's.
    theirs = await audit_entries(http, boss, lambda entries: admin_did(entries) >= expected)
    assert admin_did(theirs) == expected
    assert {e["tenant"] for e in theirs} == {boss.tenant}
    assert refused(theirs) == []
    # Another admin of the global admin's tenant is not a global admin: neither the global
    # admin's actions in other tenants nor the records of no tenant are its to read.
    home = (await http.get("/admin/audit-logs", headers=home_admin.headers)).json()["entries"]
    assert {e["tenant"] for e in home} == {"default"}
    assert admin_did(home) == set()
    assert refused(home) == []


async def test_secrets_and_tokens_never_reach_the_audit_log_or_process_output(
    http: httpx.AsyncClient, admin: ApiClient, stack: Stack
) -> None:
    boss = await tenant_admin(http, admin)
    app = await create_client(http, boss, boss.tenant)
    rotated = await http.post(
        f"/admin/clients/{app.client_id}/rotate", json={"grace_seconds": 5}, headers=boss.headers
    )
    new_secret = rotated.json()["clientSecret"]
    await _token_status(http, app.client_id, "wrong-guess-" + uuid.uuid4().hex)
    new_token = await issue_token(http, app.client_id, new_secret)
    secrets = [
        ADMIN_SECRET,
        boss.client_secret,
        app.client_secret,
        new_secret,
        boss.token,
        app.token,
        new_token,
        admin.token,
    ]
    with MongoClient(stack_mongodb_url(stack), serverSelectionTimeoutMS=5000) as db:
        audit = "\n".join(str(doc) for doc in db["aegisai"]["audit_logs"].find())
    output = (stack.data_dir / "stack.log").read_text()
    assert app.client_id in audit  # the records are there...
    for secret in secrets:  # ...without any secret or token
        assert secret not in audit
        assert secret not in output
        # nor the signature part of a token alone
        assert secret.rsplit(".", 1)[-1] not in audit


# -- the CLI twins ------------------------------------------------------------------------


async def test_cli_lists_revokes_and_rotates(
    http: httpx.AsyncClient, admin: ApiClient, stack: Stack
) -> None:
    boss = await tenant_admin(http, admin)
    app = await create_client(http, admin, boss.tenant)
    env = embedded_env(stack.data_dir)
    listed = await asyncio.to_thread(
        run_module, "collector", "clients", "list", "--tenant", boss.tenant, env=env
    )
    assert app.client_id in listed and boss.client_id in listed
    assert app.client_secret not in listed and "hash" not in listed
    rotated = await asyncio.to_thread(
        run_module, "collector", "clients", "rotate", app.client_id, env=env
    )
    printed = dict(line.split("=", 1) for line in rotated.splitlines() if "=" in line)
    assert await _token_status(http, app.client_id, printed["clientSecret"]) == 200
    assert await _token_status(http, app.client_id, app.client_secret) == 401
    await asyncio.to_thread(run_module, "collector", "clients", "revoke", app.client_id, env=env)
    assert await _token_status(http, app.client_id, printed["clientSecret"]) == 401
    actions = (await http.get("/admin/audit-logs", headers=boss.headers)).json()["entries"]
    assert {("client_rotated", "cli"), ("client_revoked", "cli")} <= {
        (e["action"], e["client_id"]) for e in actions
    }
    # The CLI is no tenant's client: a global admin sees what it did, in any tenant.
    everything = (await http.get("/admin/audit-logs", headers=admin.headers)).json()["entries"]
    cli_did = {
        (e["action"], e["tenant"], e["actor_tenant"], e["details"].get("target_client_id"))
        for e in everything
        if e["client_id"] == "cli"
    }
    assert {
        ("client_rotated", boss.tenant, "", app.client_id),
        ("client_revoked", boss.tenant, "", app.client_id),
    } <= cli_did
