"""A tenant's own model prices (admin scope), which win over the genai-prices table for
events ingested afterwards.

Stored one document per (tenant, model) with `_id` = "tenant:model", so a tenant's prices are
an `_id` range, read without any further index. Ingest reads them through a small in-process
cache, once per tenant per REFRESH_S at most, never per event: a change made through this
process applies at once, one made through another replica within REFRESH_S.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aegis_shared import json_schema
from collector.domain import Principal, prefix_range
from collector.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from collector.store.storage import Storage

REFRESH_S = 5.0
MAX_PER_TENANT = 1000
MAX_CACHED_TENANTS = 10_000
# The bounds are prices.proto's (aegis_shared.json_schema), which the REST documentation states.
_MODEL = json_schema.of("aegis.v1.SetPriceRequest", "model")
MIN_MODEL: int = _MODEL["minLength"]
MAX_MODEL: int = _MODEL["maxLength"]
# No C0/C1 control characters.
_MODEL_PATTERN = json_schema.pattern(_MODEL["pattern"])
# USD per million tokens: 1e6 is far above any real price, far below overflow.
_PRICE = json_schema.of("aegis.v1.SetPriceRequest", "input_per_mtok")
MIN_PRICE: float = _PRICE["minimum"]
MAX_PRICE: float = _PRICE["maximum"]


@dataclass(frozen=True)
class Override:
    model: str
    input_per_mtok: float
    output_per_mtok: float
    updated_at: dt.datetime

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


Prices = dict[str, Override]  # model → override


def _range(tenant: str) -> dict[str, dict[str, str]]:
    return {"_id": prefix_range(f"{tenant}:")}


def _check_model(model: str) -> None:
    if not MIN_MODEL <= len(model) <= MAX_MODEL or not _MODEL_PATTERN.search(model):
        raise InvalidArgument(f"model: {MIN_MODEL}-{MAX_MODEL} characters, no control characters")


def _check_price(name: str, value: float) -> None:
    if not math.isfinite(value) or not MIN_PRICE <= value <= MAX_PRICE:
        raise InvalidArgument(f"{name}: a number from {MIN_PRICE:g} to {MAX_PRICE:g}")


class PriceOverrides:
    def __init__(self, storage: Storage, clock: Callable[[], float] = time.monotonic) -> None:
        self._collection = storage.price_overrides
        self._storage = storage
        self._clock = clock
        self._cache: dict[str, tuple[Prices, float]] = {}

    async def for_tenant(self, tenant: str) -> Prices:
        """The tenant's overrides, from the cache when fresh (the ingest path calls this)."""
        cached = self._cache.get(tenant)
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        if not self._storage.available:
            # The write that follows fails fast too; do not wait out server selection here.
            raise Unavailable("database unavailable, retry later", retry_after=1.0)
        prices = {o.model: o for o in await self._load(tenant)}
        if len(self._cache) >= MAX_CACHED_TENANTS:
            self._cache.clear()
        self._cache[tenant] = (prices, self._clock() + REFRESH_S)
        return prices

    async def _load(self, tenant: str) -> list[Override]:
        found = self._collection.find(_range(tenant)).sort("_id", 1).limit(MAX_PER_TENANT)
        return [
            Override(d["model"], d["input_per_mtok"], d["output_per_mtok"], d["updated_at"])
            async for d in found
        ]

    @staticmethod
    def _admin(caller: Principal) -> None:
        if "admin" not in caller.scopes:
            raise PermissionDenied("the admin scope is required")

    async def list(self, caller: Principal) -> list[Override]:
        self._admin(caller)
        return await self._load(caller.tenant)

    async def set(
        self, caller: Principal, model: str, input_per_mtok: float, output_per_mtok: float
    ) -> Override:
        self._admin(caller)
        _check_model(model)
        _check_price("input_per_mtok", input_per_mtok)
        _check_price("output_per_mtok", output_per_mtok)
        key = f"{caller.tenant}:{model}"
        full = await self._collection.count_documents(_range(caller.tenant)) >= MAX_PER_TENANT
        if full and await self._collection.find_one({"_id": key}, {"_id": 1}) is None:
            raise ResourceExhausted(f"at most {MAX_PER_TENANT} prices per tenant")
        override = Override(model, input_per_mtok, output_per_mtok, dt.datetime.now(dt.UTC))
        await self._collection.replace_one(
            {"_id": key},
            {
                "tenant": caller.tenant,
                "model": model,
                "input_per_mtok": input_per_mtok,
                "output_per_mtok": output_per_mtok,
                "updated_at": override.updated_at,
            },
            upsert=True,
        )
        self._cache.pop(caller.tenant, None)
        await self._storage.audit(
            event_type="admin",
            tenant=caller.tenant,
            client_id=caller.client_id,
            action="price_set",
            details={
                "model": model,
                "input_per_mtok": input_per_mtok,
                "output_per_mtok": output_per_mtok,
            },
        )
        return override

    async def delete(self, caller: Principal, model: str) -> None:
        self._admin(caller)
        _check_model(model)
        deleted = await self._collection.delete_one({"_id": f"{caller.tenant}:{model}"})
        self._cache.pop(caller.tenant, None)
        if not deleted.deleted_count:
            raise NotFound(f"no price set for model {model!r}")
        await self._storage.audit(
            event_type="admin",
            tenant=caller.tenant,
            client_id=caller.client_id,
            action="price_deleted",
            details={"model": model},
        )
