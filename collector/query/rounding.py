"""Numbers as answers show them: money and rates to 12 significant digits.

Sums of float costs carry binary noise: 0.1 + 0.2 is 0.30000000000000004, and a tenant's
spend shows as 29.130419300000003. Twelve significant digits keep every digit a price, a sum
of prices or a rate really has (a double holds 15 to 17) and drop the noise. Applied at the
edge only — dashboard and alert answers, webhook bodies, exports, the live tail — never to
what is stored or summed, so rounding never compounds.
"""

from __future__ import annotations

import math
from typing import Any, overload

SIGNIFICANT_DIGITS = 12
# Fields of a stored event that hold money: shown rounded wherever the event is shown.
MONEY_FIELDS = ("cost",)


@overload
def significant(value: float) -> float: ...
@overload
def significant(value: None) -> None: ...
def significant(value: float | None) -> float | None:
    """`value` to SIGNIFICANT_DIGITS significant digits (None, 0, inf and NaN as they are)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def event_money(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data with its money fields rounded (a copy when there is one to round)."""
    found = [k for k in MONEY_FIELDS if isinstance(data.get(k), float)]
    if not found:
        return data
    return {**data, **{k: significant(data[k]) for k in found}}
