"""The price table's fast path agrees with genai-prices' own calculation."""

from __future__ import annotations

import datetime as dt

import pytest
from genai_prices import Usage, calc_price

from collector.otlp.pricing import PriceTable

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o", "openai"),
        ("gpt-4o-mini", "openai"),
        ("claude-3-5-haiku-latest", "anthropic"),
        ("claude-sonnet-4-20250514", ""),
        ("gemini-1.5-pro", "google"),  # tiered by prompt size
        ("gemini-2.5-pro", "gcp.vertex_ai"),  # an OTel provider name the table does not use
    ],
)
@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(0, 0), (1000, 500), (250_000, 3)])
def test_costs_match_the_library(
    model: str, provider: str, input_tokens: int, output_tokens: int
) -> None:
    table = PriceTable()
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    expected = float(calc_price(usage, model, genai_request_timestamp=AT).total_price)
    for _ in range(2):  # computed, then cached
        cost = table.cost(model, provider, input_tokens, output_tokens, AT)
        assert cost == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_an_unknown_model_has_no_price() -> None:
    assert PriceTable().cost("no-such-model-anywhere", "openai", 10, 10, AT) is None
