"""What the explore bench sent, tallied as it is made, for checking every answer against
brute force: per user its cost and LLM calls, the newest calls' keys, one user's times."""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass, field

NEWEST_KEPT = 1200  # newest (timestamp, id) pairs tallied: 20 pages of 50, and some


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class Tally:
    """What was sent, for checking answers: per user (cost, LLM calls), the newest keys, and
    the times of one user's calls."""

    watched_user: str
    cost: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    newest: collections.deque[tuple[int, str]] = field(
        default_factory=lambda: collections.deque(maxlen=NEWEST_KEPT)
    )
    watched: list[tuple[int, str]] = field(default_factory=list)  # (ts ms, event_id)
    events: int = 0

    def add(self, user: str, cost: float, ts_ms: int, event_id: str, *, listed: bool) -> None:
        self.cost[user] += cost
        self.calls[user] += 1
        self.events += 1
        if listed:  # sent in time order through the gRPC stream
            self.newest.append((ts_ms, event_id))
        if user == self.watched_user:
            self.watched.append((ts_ms, event_id))

    def newest_ids(self, count: int) -> list[str]:
        return [event_id for _, event_id in sorted(self.newest, reverse=True)[:count]]

    def watched_newest(self, start_ms: int, end_ms: int, count: int) -> list[str]:
        """The watched user's newest `count` calls in [start_ms, end_ms), newest first."""
        inside = sorted((key for key in self.watched if start_ms <= key[0] < end_ms), reverse=True)
        return [event_id for _, event_id in inside[:count]]

    def top_users(self, count: int) -> list[tuple[str, float]]:
        ranked = sorted(self.cost.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:count]
