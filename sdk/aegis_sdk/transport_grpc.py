"""The gRPC transport: IssueToken to log in, one bidirectional StreamEvents call per session."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from aegis.v1 import auth_pb2, auth_pb2_grpc, ingest_pb2_grpc
from aegis_sdk.batch import Ack, Batch
from aegis_sdk.config import MAX_MESSAGE_BYTES
from aegis_sdk.retry import TransportError, from_rpc_error


class GrpcSession:
    def __init__(self, call: Any) -> None:
        self._call = call

    async def send(self, sequence: int, batch: Batch) -> None:
        try:
            await self._call.write(batch.stream_request(sequence))
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        except asyncio.InvalidStateError:
            # The call already ended; next_ack() reports how.
            raise TransportError("UNAVAILABLE", "stream ended while sending") from None

    async def done_sending(self) -> None:
        try:
            await self._call.done_writing()
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None

    async def next_ack(self) -> Ack | None:
        try:
            reply = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        if reply is grpc.aio.EOF:
            return None
        return Ack.from_proto(reply.sequence, reply.result)

    def abort(self) -> None:
        self._call.cancel()


class GrpcTransport:
    name = "grpc"

    def __init__(
        self,
        target: str,
        credentials: grpc.ChannelCredentials | None,
        *,
        request_timeout: float,
        max_backoff: float,
    ) -> None:
        self._target = target
        self._credentials = credentials
        self._request_timeout = request_timeout
        self._options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # gRPC's own reconnect backoff grows to 120 s by default; a collector restarted
            # on the same port must be found again within our own backoff.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", max(100, int(max_backoff * 1000))),
        ]
        self._channel: grpc.aio.Channel | None = None

    def _open_channel(self) -> grpc.aio.Channel:
        # Created on first use, inside the sender's event loop, which grpc.aio binds it to.
        if self._channel is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self._target, options=self._options)
            else:
                self._channel = grpc.aio.secure_channel(
                    self._target, self._credentials, options=self._options
                )
        return self._channel

    async def login(self, client_id: str, client_secret: str) -> tuple[str, float]:
        stub = auth_pb2_grpc.AuthServiceStub(self._open_channel())
        request = auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=client_secret)
        try:
            reply = await stub.IssueToken(request, timeout=self._request_timeout)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return reply.access_token, float(reply.expires_in)

    async def open(self, token: str) -> GrpcSession:
        stub = ingest_pb2_grpc.IngestServiceStub(self._open_channel())
        return GrpcSession(stub.StreamEvents(metadata=(("authorization", f"Bearer {token}"),)))

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
