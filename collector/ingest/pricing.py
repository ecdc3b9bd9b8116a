"""Cost of an LLM call from the `genai-prices` table (kept by the Pydantic team), for events
of any transport that carry no cost of their own but a model and token counts.

The library's own calculation costs ~70 µs a call (measured), more than the rest of ingest
per event. Its prices are linear in the token counts except where a model has tiered prices,
so per (provider, model, day) we ask it once for the cost of no tokens, of a million input
tokens and of a million output tokens, and then price each event with two multiplications.
Tiered models are priced by the library every time. The cache is bounded and lives in the
process: the ingest path pays no lookup and no database round trip per event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelInfo, Provider

from collector.ingest.price_overrides import Override

MAX_CACHED = 4096
MTOK = 1_000_000


@dataclass(frozen=True)
class _Linear:
    base: float
    per_input: float  # USD per token
    per_output: float


@dataclass(frozen=True)
class _Tiered:
    provider: Provider
    model: ModelInfo


_Entry = _Linear | _Tiered | None  # None: the table does not know the model


def _usd(value: Decimal) -> float:
    return float(value)


class PriceTable:
    def __init__(self) -> None:
        self._snapshot = data_snapshot.get_snapshot()
        self._cache: dict[tuple[str, str, dt.date], _Entry] = {}

    def _resolve(self, model: str, provider: str) -> tuple[Provider, ModelInfo] | None:
        # The provider as the span names it first; OTel's names ("aws.bedrock", "gcp.gemini")
        # are not always the table's, so then the table's best match for the model alone.
        for provider_id in (provider, None) if provider else (None,):
            try:
                return self._snapshot.find_provider_model(model, None, provider_id, None)
            except LookupError:
                continue
        return None

    def _entry(self, model: str, provider: str, at: dt.datetime) -> _Entry:
        key = (provider, model, at.date())
        if key in self._cache:
            return self._cache[key]
        entry: _Entry = None
        found = self._resolve(model, provider)
        if found is not None:
            found_provider, info = found
            prices = info.get_prices(at)
            if all(isinstance(v, Decimal | None) for v in vars(prices).values()):

                def cost(input_tokens: int, output_tokens: int) -> float:
                    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
                    calc = info.calc_price(usage, found_provider, genai_request_timestamp=at)
                    return _usd(calc.total_price)

                base = cost(0, 0)
                entry = _Linear(base, (cost(MTOK, 0) - base) / MTOK, (cost(0, MTOK) - base) / MTOK)
            else:
                entry = _Tiered(found_provider, info)
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[key] = entry
        return entry

    def cost(
        self, model: str, provider: str, input_tokens: int, output_tokens: int, at: dt.datetime
    ) -> float | None:
        """The call's cost in USD at the prices of its day, or None for a model the table
        does not know."""
        entry = self._entry(model, provider, at)
        if entry is None:
            return None
        if isinstance(entry, _Linear):
            return entry.base + input_tokens * entry.per_input + output_tokens * entry.per_output
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        calc = entry.model.calc_price(usage, entry.provider, genai_request_timestamp=at)
        return _usd(calc.total_price)


def price_event(
    event: dict[str, Any],
    prices: PriceTable,
    overrides: Mapping[str, Override],
    *,
    unpriced: bool,
) -> None:
    """Set `cost_source`, and the cost of an event that came without one (`unpriced`) when
    its token counts are known: the tenant's own price for the model (`override`), else the
    table's (`price_table`). Otherwise the cost stays None, not known (`unknown`): a 0 would
    claim the call was free. The event is validated already: counts are not negative, the
    timestamp is set."""
    if not unpriced:
        event["cost_source"] = "client"
        return
    input_tokens, output_tokens = event.get("input_tokens"), event.get("output_tokens")
    cost, source = None, "unknown"
    override = overrides.get(event["model_name"])
    if input_tokens is None and output_tokens is None:
        pass
    elif override is not None:
        cost, source = override.cost(input_tokens or 0, output_tokens or 0), "override"
    else:
        cost = prices.cost(
            event["model_name"],
            event.get("provider") or "",
            input_tokens or 0,
            output_tokens or 0,
            event["timestamp"],
        )
        if cost is not None:
            source = "price_table"
    event["cost"] = cost
    event["cost_source"] = source
