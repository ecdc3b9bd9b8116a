"""A database deadline for every unary RPC: all of its database work shares one operation
timeout (PyMongo's client-side timeout, Storage.request_deadline).

A frozen database — connections open, nothing answered — is not noticed by server selection or
by a refused connection; without this a request waited out the 30 s socket timeout, or until a
heartbeat gave up. Streams are not bound as a whole (they live for hours): each of their batch
writes is, in Storage.insert_new. Background jobs are not bound by it at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from collector.storage import Storage

OUR_PACKAGE = "/aegis.v1."


class RequestDeadline(grpc.aio.ServerInterceptor):
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not handler.unary_unary or not details.method.startswith(OUR_PACKAGE):
            return handler
        inner = handler.unary_unary
        storage = self._storage

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with storage.request_deadline():
                return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
