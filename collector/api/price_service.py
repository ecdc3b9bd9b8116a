"""PriceService: protobuf in → plain price overrides call → protobuf out, and its conversion."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from aegis.v1 import prices_pb2, prices_pb2_grpc
from collector.api.interceptor import current_principal
from collector.api.proto_values import timestamp
from collector.ingest.price_overrides import Override, PriceOverrides

Context: TypeAlias = grpc.aio.ServicerContext


def model_price(override: Override) -> prices_pb2.ModelPrice:
    return prices_pb2.ModelPrice(
        model=override.model,
        input_per_mtok=override.input_per_mtok,
        output_per_mtok=override.output_per_mtok,
        updated_at=timestamp(override.updated_at),
    )


class PriceServicer(prices_pb2_grpc.PriceServiceServicer):
    def __init__(self, overrides: PriceOverrides) -> None:
        self._overrides = overrides

    async def SetPrice(
        self, request: prices_pb2.SetPriceRequest, context: Context
    ) -> prices_pb2.ModelPrice:
        override = await self._overrides.set(
            current_principal(), request.model, request.input_per_mtok, request.output_per_mtok
        )
        return model_price(override)

    async def ListPrices(
        self, request: prices_pb2.ListPricesRequest, context: Context
    ) -> prices_pb2.ListPricesResponse:
        overrides = await self._overrides.list(current_principal())
        return prices_pb2.ListPricesResponse(prices=[model_price(o) for o in overrides])

    async def DeletePrice(
        self, request: prices_pb2.DeletePriceRequest, context: Context
    ) -> prices_pb2.DeletePriceResponse:
        await self._overrides.delete(current_principal(), request.model)
        return prices_pb2.DeletePriceResponse()
