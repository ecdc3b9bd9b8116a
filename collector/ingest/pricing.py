"""Cost of an LLM call from the `genai-prices` table (kept by the Pydantic team), for events
of any transport that carry no cost of their own but a model and token counts.

The library's own calculation costs ~70 µs a call (measured), more than the rest of ingest
per event. Its prices are linear in the token counts except where a model has tiered prices,
so per (provider, model, day) we ask it once for the cost of no tokens, of a million input
tokens (of them, a million read from the cache; a million written to it) and of a million output
tokens, and then price each event with four multiplications. Tiered models are priced by the
library every time.

Cached tokens are priced at the table's cache-read and cache-write rates where it has them (at
the input rate where it does not). They are part of input_tokens, as the OpenTelemetry GenAI
conventions count them; when an event's cached tokens exceed its input_tokens, the caller
counted them apart (as Anthropic's API reports usage), and they are added to it.

The cache is bounded and lives in the process: the ingest path pays no lookup and no database
round trip per event.
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


# Slots and not frozen: one is made per priced event, and a frozen dataclass sets each field
# through object.__setattr__ (~7,000 instructions against ~1,600, counted by callgrind).
@dataclass(slots=True)
class Tokens:
    """What a call is priced by. `input` counts the cached tokens too. Never changed once
    made."""

    input: int
    output: int
    cache_read: int = 0
    cache_write: int = 0

    @classmethod
    def of(cls, input: int, output: int, cache_read: int = 0, cache_write: int = 0) -> Tokens:
        if cache_read + cache_write > input:  # counted apart from input_tokens
            input += cache_read + cache_write
        return cls(input, output, cache_read, cache_write)

    def usage(self) -> Usage:
        counts = {"cache_read_tokens": self.cache_read, "cache_write_tokens": self.cache_write}
        extra = {key: value for key, value in counts.items() if value}  # only what is known
        return Usage(input_tokens=self.input, output_tokens=self.output, **extra)


@dataclass(frozen=True)
class _Linear:
    base: float
    per_input: float  # USD per token
    per_output: float
    per_cache_read: float
    per_cache_write: float

    def cost(self, tokens: Tokens) -> float:
        uncached = tokens.input - tokens.cache_read - tokens.cache_write
        return (
            self.base
            + uncached * self.per_input
            + tokens.cache_read * self.per_cache_read
            + tokens.cache_write * self.per_cache_write
            + tokens.output * self.per_output
        )


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

                def total(tokens: Tokens) -> float:
                    calc = info.calc_price(
                        tokens.usage(), found_provider, genai_request_timestamp=at
                    )
                    return _usd(calc.total_price)

                base = total(Tokens(0, 0))

                def per_token(tokens: Tokens) -> float:
                    return (total(tokens) - base) / MTOK

                entry = _Linear(
                    base,
                    per_input=per_token(Tokens(MTOK, 0)),
                    per_output=per_token(Tokens(0, MTOK)),
                    per_cache_read=per_token(Tokens(MTOK, 0, cache_read=MTOK)),
                    per_cache_write=per_token(Tokens(MTOK, 0, cache_write=MTOK)),
                )
            else:
                entry = _Tiered(found_provider, info)
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[key] = entry
        return entry

    def cost(
        self,
        model: str,
        provider: str,
        input_tokens: int,
        output_tokens: int,
        at: dt.datetime,
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float | None:
        """The call's cost in USD at the prices of its day, or None for a model the table
        does not know."""
        entry = self._entry(model, provider, at)
        if entry is None:
            return None
        tokens = Tokens.of(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        if isinstance(entry, _Linear):
            return entry.cost(tokens)
        calc = entry.model.calc_price(tokens.usage(), entry.provider, genai_request_timestamp=at)
        return _usd(calc.total_price)


def price_event(
    event: dict[str, Any],
    prices: PriceTable,
    overrides: Mapping[str, Override],
    *,
    unpriced: bool,
) -> None:
    """Set `cost_source`, and the cost of an event that came without one (`unpriced`) when
    its token counts are known: the tenant's own price for the model (`override`, which has
    no cache rates: cached tokens cost its input price), else the table's (`price_table`).
    Otherwise the cost stays None, not known (`unknown`): a 0 would claim the call was free.
    The event is validated already: counts are not negative, the timestamp is set."""
    if not unpriced:
        event["cost_source"] = "client"
        return
    input_tokens, output_tokens = event.get("input_tokens"), event.get("output_tokens")
    cost, source = None, "unknown"
    override = overrides.get(event["model_name"])
    cache_read = event.get("cache_read_tokens") or 0
    cache_write = event.get("cache_write_tokens") or 0
    if input_tokens is None and output_tokens is None:
        pass
    elif override is not None:
        tokens = Tokens.of(input_tokens or 0, output_tokens or 0, cache_read, cache_write)
        cost, source = override.cost(tokens.input, tokens.output), "override"
    else:
        cost = prices.cost(
            event["model_name"],
            event.get("provider") or "",
            input_tokens or 0,
            output_tokens or 0,
            event["timestamp"],
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )
        if cost is not None:
            source = "price_table"
    event["cost"] = cost
    event["cost_source"] = source
