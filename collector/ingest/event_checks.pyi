# The typing of collector/ingest/event_checks.pyx, a Cython module (mypy cannot read .pyx).
import datetime as dt
from collections.abc import Callable
from typing import Any

class Common:
    def __init__(
        self,
        *,
        max_event_id: int,
        max_error: int,
        earliest: dt.datetime,
        max_future: dt.timedelta,
        walk: Callable[[Any], tuple[int, int]],
        lengths: dict[str, int],
        digits: dict[str, int],
        max_tags: int,
        min_tag: int,
        max_tag: int,
    ) -> None: ...
    def fine(self, event: dict[str, Any], now: dt.datetime) -> bool: ...
