"""The bootstrap admin (BOOTSTRAP_CLIENT_ID / BOOTSTRAP_CLIENT_SECRET) across restarts: the same
secret keeps its tokens; a new secret, or configuring a revoked admin again, ends every token
issued before.

One database for the module; each test restarts collectors on it with an admin id of its own.
"""

from __future__ import annotations

import contextlib
import pathlib
import uuid
from collections.abc import Iterator

import grpc
import pytest

from aegis.v1 import auth_pb2, auth_pb2_grpc
from tests.procs import Database, collector_env, start_collector


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    running = Database(tmp_path_factory.mktemp("bootstrap-db")).start()
    yield running
    running.stop()


@contextlib.contextmanager
def collector_with_admin(
    database: Database, data_dir: pathlib.Path, client_id: str, secret: str
) -> Iterator[auth_pb2_grpc.AuthServiceStub]:
    """A collector started with this bootstrap admin, for the block; an AuthService stub."""
    env = collector_env(
        database.url,
        data_dir,
        ROLLUP_INTERVAL_S="0",
        ALERTS_INTERVAL_S="0",
        RETENTION_INTERVAL_S="0",
    )
    env.update(BOOTSTRAP_CLIENT_ID=client_id, BOOTSTRAP_CLIENT_SECRET=secret)
    child, port = start_collector(env, data_dir / "collector.log")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield auth_pb2_grpc.AuthServiceStub(channel)
    finally:
        assert child.stop() == 0


def token_for(auth: auth_pb2_grpc.AuthServiceStub, client_id: str, secret: str) -> str:
    request = auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=secret)
    return str(auth.IssueToken(request, timeout=30).access_token)


def token_refused(auth: auth_pb2_grpc.AuthServiceStub, client_id: str, secret: str) -> bool:
    try:
        token_for(auth, client_id, secret)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc
        return True
    return False


def admin_call(auth: auth_pb2_grpc.AuthServiceStub, token: str) -> grpc.StatusCode:
    """What an admin-only call answers to this token (UNAUTHENTICATED is 401 over REST)."""
    try:
        auth.ListClients(
            auth_pb2.ListClientsRequest(),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=30,
        )
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_a_new_bootstrap_secret_ends_the_tokens_of_the_old_one(
    database: Database, tmp_path: pathlib.Path
) -> None:
    admin = f"boot-{uuid.uuid4().hex[:8]}"
    first, second = "first-secret-" + uuid.uuid4().hex, "second-secret-" + uuid.uuid4().hex
    with collector_with_admin(database, tmp_path, admin, first) as auth:
        old_token = token_for(auth, admin, first)
        assert admin_call(auth, old_token) == grpc.StatusCode.OK
    # Restarted with the same secret: nothing changed, its tokens still count.
    with collector_with_admin(database, tmp_path, admin, first) as auth:
        assert admin_call(auth, old_token) == grpc.StatusCode.OK
    with collector_with_admin(database, tmp_path, admin, second) as auth:
        assert admin_call(auth, old_token) == grpc.StatusCode.UNAUTHENTICATED
        assert token_refused(auth, admin, first)
        new_token = token_for(auth, admin, second)
        assert admin_call(auth, new_token) == grpc.StatusCode.OK


def test_configuring_a_revoked_admin_again_keeps_its_earlier_tokens_refused(
    database: Database, tmp_path: pathlib.Path
) -> None:
    admin = f"boot-{uuid.uuid4().hex[:8]}"
    secret = "the-secret-" + uuid.uuid4().hex
    with collector_with_admin(database, tmp_path, admin, secret) as auth:
        before_revoke = token_for(auth, admin, secret)
        auth.RevokeClient(
            auth_pb2.RevokeClientRequest(clientId=admin),
            metadata=(("authorization", f"Bearer {before_revoke}"),),
            timeout=30,
        )
        assert admin_call(auth, before_revoke) == grpc.StatusCode.UNAUTHENTICATED
        assert token_refused(auth, admin, secret)
    # Started again with the same id and secret: the admin works again, as configured, but
    # what was issued before the revocation must not come back to life with it.
    with collector_with_admin(database, tmp_path, admin, secret) as auth:
        assert admin_call(auth, before_revoke) == grpc.StatusCode.UNAUTHENTICATED
        fresh = token_for(auth, admin, secret)
        assert admin_call(auth, fresh) == grpc.StatusCode.OK
