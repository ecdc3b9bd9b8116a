"""Event search (GET /events/{kind}) against brute force: every list, page walk and filter is
compared with the answer computed here from the events the test sent over REST (random
attribution, timestamps spread over ~30 hours, ties in one millisecond broken by event_id, one
hour's events split over several batches, edge values at the filters' thresholds):
- walks with small pages give the brute-force order, each event once, next_cursor null at the
  end; explicit windows (instants and bare dates) include both ends; the default is 24 hours;
- each filter alone and combined, for ml and llm;
- events arriving mid-walk: newer than the first page's now or than the walk's position never
  appear, nothing appears twice, every event there before the first page appears once;
- re-sent event_ids are listed once, as first stored; content only on GET /events/llm/{id};
  another tenant's events are never seen;
- bad limits, cursors (garbage, forged, other filters), kinds and windows are 400s naming them.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import bson
import grpc
import httpx
import pytest
from pymongo import MongoClient

from collector.explore.rows import JSON_COLUMNS, columns_of
from tests.conftest import ApiClient, assert_error, create_client, ingest, llm_event, ml_event
from tests.procs import Stack, stack_mongodb_url

H = 3_600_000  # an hour in milliseconds
DAY = 24 * H
MODELS = ("m-alpha", "m-beta", "m-gamma")
TRACES = (None, "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c")
# Each event's value of each field, drawn from these (None: not sent); values at the
# thresholds FILTERS use, so that "at least" is tested at its edge.
CHOICES: dict[str, tuple[Any, ...]] = {
    "user_id": (None, "u1", "u2", "u3"),
    "session_id": (None, "s1", "s2", "s3", "s4"),
    "trace_id": TRACES,
    "environment": (None, "prod", "staging"),
    "release": (None, "1.0", "1.1"),
    "latency_ms": (None, 12.5, 250.0, 999.999, 1000.0, 1800.25),
}
COSTS = (None, 0.0, 0.001, 0.0025, 0.005, 0.0075, 0.01)  # None: unknown (unpriced model)
CONTENT = ("input", "output", "system")
Event = dict[str, Any]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    moment = EPOCH + dt.timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_of(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def key(event: Event) -> tuple[int, str]:
    return (ms_of(event["timestamp"]), event["event_id"])


def make_event(kind: str, rng: random.Random, ts: int) -> Event:
    """An event with random attribution; every optional field is sometimes absent."""
    fields: Event = {"event_id": f"{kind}-{rng.getrandbits(40):010x}", "timestamp": iso(ts)}
    for name, choices in CHOICES.items():
        if (value := rng.choice(choices)) is not None:
            fields[name] = value
    if tags := rng.sample(["a", "b", "c", "d"], k=rng.randrange(3)):
        fields["tags"] = tags
    if rng.random() < 0.25:
        fields["error"] = rng.choice(["Timeout", "RateLimited"])
    if kind == "ml":
        return ml_event(rng.choice(MODELS), **fields)
    if (cost := rng.choice(COSTS)) is not None:
        fields["cost"] = cost
    tag = fields["event_id"]
    content = {"input": f"in {tag}", "output": f"out {tag}", "system": f"sys {tag}"}
    return llm_event(rng.choice(MODELS), **fields, **content)


def matches(event: Event, params: dict[str, str]) -> bool:
    """What the filters mean, said plainly."""
    model = event.get("model_id") or event.get("model_name")
    checks: dict[str, Callable[[str], bool]] = {
        "model": lambda v: model == v,
        "user_id": lambda v: event.get("user_id") == v,
        "session_id": lambda v: event.get("session_id") == v,
        "trace_id": lambda v: event.get("trace_id") == v,
        "environment": lambda v: event.get("environment") == v,
        "release": lambda v: event.get("release") == v,
        "tag": lambda v: v in event.get("tags", []),
        "errors_only": lambda v: v != "true" or bool(event.get("error")),
        "min_cost": lambda v: event.get("cost") is not None and event["cost"] >= float(v),
        "min_latency_ms": lambda v: event.get("latency_ms", -1.0) >= float(v),
    }
    return all(checks[name](value) for name, value in params.items())


@dataclass
class Corpus:
    client: ApiClient
    events: dict[str, list[Event]] = field(default_factory=dict)
    future_ms: int = 0  # every event at or after it is in the future: never listed

    def expected(self, kind: str, start: int, end: int, **params: str) -> list[str]:
        """Brute force: event ids in [start, end), matching, newest first by (ts, id)."""
        end = min(end, self.future_ms)
        found = [e for e in self.events[kind] if start <= key(e)[0] < end and matches(e, params)]
        return [e["event_id"] for e in sorted(found, key=key, reverse=True)]


async def send(http: httpx.AsyncClient, client: ApiClient, kind: str, events: list[Event]) -> None:
    """In batches of varied sizes, each all accepted."""
    i = 0
    for size in itertools.cycle([1, 5, 37, 2, 80, 13, 120, 3]):
        if i >= len(events):
            return
        batch = events[i : i + size]
        result = await ingest(http, client, kind, batch)
        assert (result["accepted"], result["duplicates"]) == (len(batch), 0), result
        i += size


async def page(
    http: httpx.AsyncClient, client: ApiClient, kind: str, **params: str
) -> httpx.Response:
    return await http.get(f"/events/{kind}", params=params, headers=client.headers)


async def walk(
    http: httpx.AsyncClient,
    client: ApiClient,
    kind: str,
    limit: int,
    between: Callable[[list[Event]], Awaitable[None]] | None = None,
    **params: str,
) -> list[Event]:
    """Every page, following next_cursor; `between(events so far)` runs between pages."""
    events: list[Event] = []
    cursor = ""
    for _ in range(1000):
        reply = await page(http, client, kind, limit=str(limit), cursor=cursor, **params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert len(body["events"]) <= limit
        events += body["events"]
        if body["next_cursor"] is None:
            return events
        assert len(body["events"]) == limit, "a page before the last is full"
        cursor = body["next_cursor"]
        if between is not None:
            await between(events)
    raise AssertionError("the walk does not end")


def ids_in_order(events: list[Event]) -> list[str]:
    """The walk's ids; its (ts, id) keys strictly descending, so none is given twice."""
    keys = [key(e) for e in events]
    assert all(a > b for a, b in itertools.pairwise(keys)), "not strictly newest first"
    return [e["event_id"] for e in events]


@pytest.fixture(scope="module")
async def corpus(http: httpx.AsyncClient, admin: ApiClient) -> Corpus:
    """A tenant's events of both kinds over the last ~30 hours (two a few minutes in the
    future): ties in one millisecond and at an hour's first and last millisecond, each in
    other batches; the order of sending is shuffled, so one hour's rows come from many."""
    rng = random.Random(18)
    client = await create_client(http, admin, f"t-{uuid.uuid4().hex[:12]}")
    now = now_ms()
    top = now - now % H - H  # the last whole hour but one
    found = Corpus(client, future_ms=now + 10 * 60_000)
    for kind, n in (("llm", 300), ("ml", 150)):
        stamps = [top - rng.randrange(30 * H) for _ in range(n)]
        stamps += [stamps[i] for i in (0, 0, 0, *range(2, 40, 2))]  # same millisecond
        stamps += [top - 5 * H, top - 5 * H - 1, top - 5 * H + H - 1, now - 60_000]
        stamps += [now + 20 * 60_000, now + 2 * H]  # in the future: never listed
        events = [make_event(kind, rng, ts) for ts in stamps]
        rng.shuffle(events)
        await send(http, client, kind, events)
        found.events[kind] = events
    return found


def whole(corpus: Corpus, kind: str) -> tuple[int, int, dict[str, str]]:
    """The first and last event's times, and the params of that window (both ends inclusive)."""
    stamps = sorted(key(e)[0] for e in corpus.events[kind])
    first, last = stamps[0], stamps[-1]
    return first, last + 1, {"start_date": iso(first), "end_date": iso(last)}


@pytest.mark.parametrize("kind", ["llm", "ml"])
async def test_walks_in_small_pages_give_the_brute_force_order(
    http: httpx.AsyncClient, corpus: Corpus, kind: str
) -> None:
    start, end, window = whole(corpus, kind)
    expected = corpus.expected(kind, start, end)
    assert len(expected) == len(corpus.events[kind]) - 2  # the future two
    for limit in (7, 200):
        walked = await walk(http, corpus.client, kind, limit, **window)
        assert ids_in_order(walked) == expected
    sent = {e["event_id"]: e for e in corpus.events[kind]}
    for event in map(dict, walked):  # each item is the event sent, without content
        assert not set(CONTENT) & set(event)
        told = {k: v for k, v in sent[event["event_id"]].items() if k not in CONTENT}
        assert ms_of(event.pop("timestamp")) == ms_of(told.pop("timestamp"))
        assert event.items() >= told.items()
    # From before any event may be: the same, the walk reading no hour before 2000.
    params = {"start_date": "1900-01-01", "end_date": window["end_date"]}
    early = (await page(http, corpus.client, kind, limit="7", **params)).json()
    assert [e["event_id"] for e in early["events"]] == expected[:7]
    assert cursor_data(early["next_cursor"])["s"] == ms_of("2000-01-01T00:00:00Z")
    # limit 0 is the default, 50.
    reply = await page(http, corpus.client, kind, limit="0", **window)
    assert [e["event_id"] for e in reply.json()["events"]] == expected[:50]
    # Windows from one tie to another, both instants inclusive; pages of one inside a tie.
    stamps = [key(e)[0] for e in corpus.events[kind]]
    ties = sorted({ts for ts in stamps if stamps.count(ts) > 1})
    big = max(ties, key=stamps.count)  # four events in one millisecond
    for limit, low, high in ((11, ties[len(ties) // 5], ties[len(ties) * 3 // 5]), (1, big, big)):
        inner = await walk(
            http, corpus.client, kind, limit, start_date=iso(low), end_date=iso(high)
        )
        assert ids_in_order(inner) == corpus.expected(kind, low, high + 1)
    # Bare dates: from that day's midnight through the whole end day.
    day = (EPOCH + dt.timedelta(milliseconds=big)).date()
    midnight = ms_of(f"{day.isoformat()}T00:00:00Z")
    walked = await walk(
        http, corpus.client, kind, 13, start_date=day.isoformat(), end_date=day.isoformat()
    )
    assert ids_in_order(walked) == corpus.expected(kind, midnight, midnight + DAY)


async def test_the_default_window_is_the_last_24_hours(
    http: httpx.AsyncClient, corpus: Corpus
) -> None:
    stamps: list[int] = []

    async def first_page_done(so_far: list[Event]) -> None:
        stamps.append(now_ms())

    before = now_ms()
    got = ids_in_order(await walk(http, corpus.client, "llm", 9, first_page_done))
    after = stamps[0]
    # The server's now is between `before` and `after`: bound the answer from both sides.
    surely = set(corpus.expected("llm", after - DAY, before))
    maybe = corpus.expected("llm", before - DAY, after)
    assert surely <= set(got) and got == [i for i in maybe if i in set(got)]
    assert len(surely) > 20 and len(corpus.expected("llm", 0, before - DAY)) > 20


FILTERS: list[dict[str, str]] = [
    {"model": "m-beta"},
    {"user_id": "u1"},
    {"session_id": "s2"},
    {"trace_id": TRACES[1]},
    {"environment": "prod"},
    {"release": "1.1"},
    {"tag": "b"},
    {"errors_only": "true"},
    {"errors_only": "false"},
    {"min_cost": "0.005"},
    {"min_cost": "0"},
    {"min_latency_ms": "1000"},
    {"user_id": "u2", "errors_only": "true"},
    {"model": "m-alpha", "environment": "staging"},
    {"tag": "a", "release": "1.0", "min_latency_ms": "250"},
    {"session_id": "s1", "trace_id": TRACES[2], "tag": "c"},
    {"user_id": "nobody"},
]


@pytest.mark.parametrize("kind", ["llm", "ml"])
@pytest.mark.parametrize(
    "params", FILTERS, ids=lambda p: "+".join(f"{k}={v}" for k, v in p.items())
)
async def test_each_filter_gives_the_brute_force_answer(
    http: httpx.AsyncClient, corpus: Corpus, kind: str, params: dict[str, str]
) -> None:
    start, end, window = whole(corpus, kind)
    expected = corpus.expected(kind, start, end, **params)
    walked = await walk(http, corpus.client, kind, 9, **window, **params)
    assert ids_in_order(walked) == expected
    nothing = "nobody" in params.values() or (kind == "ml" and "min_cost" in params)
    assert bool(expected) != nothing, "each filter picks some events, not all"
    assert len(expected) < len(corpus.events[kind]) - 2 or params == {"errors_only": "false"}


async def test_events_arriving_mid_walk_neither_repeat_nor_come_from_after_its_start(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    rng = random.Random(3)
    now = now_ms()
    start = now - 12 * H
    original = [make_event("llm", rng, now - 60_000 - rng.randrange(10 * H)) for _ in range(120)]
    await send(http, tenant_client, "llm", original)
    by_id = {e["event_id"]: e for e in original}
    never: set[str] = set()  # newer than the first page's now, or than the walk's position
    maybe: set[str] = set()  # in the part of the window not walked yet
    cap: list[int] = []

    def new(ts: int, event_id: str | None = None) -> Event:
        event = make_event("llm", rng, ts)
        event["event_id"] = event_id or event["event_id"]
        return event

    async def arrive(so_far: list[Event]) -> None:
        if len(so_far) not in (7, 28, 63):
            return
        cap.append(cap[0] if cap else now_ms())  # the server's now at page 1 is before this
        last_ts, last_id = key(so_far[-1])
        unwalked_ts = start + rng.randrange(last_ts - start)
        late = [new(now_ms()), new(cap[0] + 5 * 60_000), new(last_ts + 1)]
        late += [new(last_ts, last_id + "~"), new(rng.randrange(last_ts + 1, cap[0]))]
        late += [new(start - 1)]  # before the window
        # Tied with the last one given, a smaller id: each round's prefix below all before.
        lower = f"llm{chr(ord('-') - len(cap))}{rng.getrandbits(32):08x}"
        early = [new(last_ts, lower), new(unwalked_ts), new(start)]
        never.update(e["event_id"] for e in late)
        maybe.update(e["event_id"] for e in early)
        # Re-sent: one already listed, one not yet, each moved to the other end of the window.
        listed, oldest = by_id[so_far[0]["event_id"]], min(original, key=key)
        resent = [dict(listed, timestamp=iso(start + 5)), dict(oldest, timestamp=iso(now))]
        result = await ingest(http, tenant_client, "llm", [*late, *early, *resent])
        assert (result["accepted"], result["duplicates"]) == (len(late) + len(early), 2), result

    walked = await walk(http, tenant_client, "llm", 7, arrive, start_date=iso(start))
    assert len(cap) == 3, "the walk went on past the arrivals"
    got = ids_in_order(walked)
    assert not never & set(got)
    first = {e["event_id"] for e in original}
    assert set(got) <= first | maybe
    # Every event there at the first page, once, in its first-stored place.
    before = sorted(original, key=key, reverse=True)
    assert [i for i in got if i in first] == [e["event_id"] for e in before]


@pytest.mark.parametrize("kind", ["llm", "ml"])
async def test_resent_event_ids_are_listed_once_as_first_stored(
    http: httpx.AsyncClient, tenant_client: ApiClient, kind: str
) -> None:
    rng = random.Random(4)
    now = now_ms()
    events = [make_event(kind, rng, now - H - rng.randrange(3 * H)) for _ in range(30)]
    await send(http, tenant_client, kind, events)
    moved = [dict(e, timestamp=iso(now - 20 * H), user_id="again") for e in events[:10]]
    twice = make_event(kind, rng, now - 2 * H)
    twin = dict(twice, timestamp=iso(now - 30 * 60_000), user_id="again")
    result = await ingest(http, tenant_client, kind, [*events[10:20], *moved, twice, twin])
    assert (result["accepted"], result["duplicates"]) == (1, 21), result
    walked = await walk(http, tenant_client, kind, 4, start_date=iso(now - 24 * H))
    expected = sorted([*events, twice], key=key, reverse=True)
    assert ids_in_order(walked) == [e["event_id"] for e in expected]
    assert all(e.get("user_id") != "again" for e in walked)


async def test_content_only_on_one_event_and_tenants_never_see_each_other(
    http: httpx.AsyncClient, corpus: Corpus, tenant_client: ApiClient
) -> None:
    mine, other = corpus.client, tenant_client
    sent = next(e for e in corpus.events["llm"] if key(e)[0] < corpus.future_ms)
    one = await http.get(f"/events/llm/{sent['event_id']}", headers=mine.headers)
    assert one.status_code == 200, one.text
    assert {name: one.json()[name] for name in CONTENT} == {name: sent[name] for name in CONTENT}
    ml_id = corpus.events["ml"][0]["event_id"]
    reply = await http.get(f"/events/ml/{ml_id}", headers=mine.headers)
    assert reply.status_code == 200 and reply.json()["event_id"] == ml_id
    for path in (f"/events/ml/{sent['event_id']}", "/events/llm/no-such-id"):
        assert_error(await http.get(path, headers=mine.headers), 404, grpc.StatusCode.NOT_FOUND)
    # Another tenant sends an event under the same id, and one of its own.
    theirs = [dict(sent, input="theirs"), make_event("llm", random.Random(5), key(sent)[0])]
    await ingest(http, other, "llm", theirs)
    for client, content in ((mine, sent["input"]), (other, "theirs")):
        reply = await http.get(f"/events/llm/{sent['event_id']}", headers=client.headers)
        assert reply.json()["input"] == content
    reply = await http.get(
        f"/events/llm/{corpus.events['llm'][1]['event_id']}", headers=other.headers
    )
    assert_error(reply, 404, grpc.StatusCode.NOT_FOUND)
    start, end, window = whole(corpus, "llm")
    listed = await walk(http, other, "llm", 50, **window)
    assert ids_in_order(listed) == [e["event_id"] for e in sorted(theirs, key=key, reverse=True)]
    assert ids_in_order(await walk(http, mine, "llm", 200, **window)) == corpus.expected(
        "llm", start, end
    )


# Cursors never given: another version, a position that is not one, or outside any date.
FORGERIES: list[dict[str, Any]] = [
    {"v": 2}, {"f": "0" * 16}, {"a": ["x"]}, {"a": None}, {"s": 1e400}, {"e": 10**17},
    {"a": [-(10**17), "x"]},
]  # fmt: skip


def _envelope(cursor: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))))


def cursor_data(cursor: str) -> dict[str, Any]:
    """The position a cursor holds (collector.explore.cursor: {"v", "f", "d": position})."""
    return dict(_envelope(cursor)["d"])


def forged(cursor: str, **changes: Any) -> str:
    """A real cursor with some of its fields changed: "v" and "f" of the envelope, the others
    of its position."""
    envelope = _envelope(cursor)
    outer = {k: v for k, v in changes.items() if k in ("v", "f")}
    inner = {k: v for k, v in changes.items() if k not in outer}
    raw = json.dumps({**envelope, **outer, "d": {**envelope["d"], **inner}}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_bad_requests_are_400s_naming_the_field(
    http: httpx.AsyncClient, corpus: Corpus
) -> None:
    client, bad = corpus.client, grpc.StatusCode.INVALID_ARGUMENT
    *_, window = whole(corpus, "llm")

    async def fails(field: str, kind: str = "llm", **params: str) -> None:
        message = assert_error(await page(http, client, kind, **params), 400, bad)
        assert field in message, message

    for limit in ("201", "-1"):
        await fails("limit", limit=limit)
    await fails("kind", "spans")
    await fails("start_date", start_date=window["end_date"], end_date=window["start_date"])
    await fails("end_date", end_date="yesterday")
    await fails("errors_only", errors_only="yes")
    reply = await http.get("/events/logs/some-id", headers=client.headers)
    assert "kind" in assert_error(reply, 400, bad)
    first = await page(http, client, "llm", limit="5", user_id="u1", **window)
    cursor = first.json()["next_cursor"]
    ok = await page(http, client, "llm", limit="5", user_id="u1", cursor=cursor, **window)
    assert ok.status_code == 200, ok.text
    for other in ({"user_id": "u2"}, {}, {"user_id": "u1", "errors_only": "true"}):
        await fails("cursor", cursor=cursor, **other)
    for garbage in ("garbage", "!!!", base64.urlsafe_b64encode(b"[1, 2]").decode()):
        await fails("cursor", user_id="u1", cursor=garbage)
    for changes in FORGERIES:
        await fails("cursor", user_id="u1", cursor=forged(cursor, **changes))


def types(columns: dict[str, list[Any]]) -> list[list[type]]:
    """Each value's type; BSON reads a large whole number as Int64, an int."""
    return [[int if isinstance(v, int) else type(v) for v in values] for values in columns.values()]


@pytest.mark.parametrize("kind", ["llm", "ml"])
async def test_rows_packed_as_bson_before_json_columns_read_the_same(
    http: httpx.AsyncClient, stack: Stack, tenant_client: ApiClient, kind: str
) -> None:
    """A piece's columns are a JSON text (its binary's subtype JSON_COLUMNS) since issue 21's
    fifth round; a piece written before holds a BSON document, and reads the same: each
    piece's columns equal value for value and type for type, and every search gives the
    same answer once every piece of the tenant is rewritten as it was then."""
    rng = random.Random(21)
    now = now_ms()
    events = [make_event(kind, rng, now - H - rng.randrange(5 * H)) for _ in range(200)]
    await send(http, tenant_client, kind, events)
    searches = [{}, *FILTERS[:8], {"min_cost": "0.005"}, {"min_latency_ms": "1000"}]
    window = {"start_date": iso(now - 7 * H)}

    async def answers() -> list[list[Event]]:
        return [await walk(http, tenant_client, kind, 50, **window, **p) for p in searches]

    before = await answers()
    assert len(before[0]) == len(events)
    with MongoClient(stack_mongodb_url(stack), tz_aware=True) as mongo:
        pieces = mongo["aegisai"]["event_rows"]
        found = list(pieces.find({"tenant": tenant_client.tenant}))
        assert found and all(p["rows"].subtype == JSON_COLUMNS for p in found)
        for piece in found:
            columns = columns_of(piece)
            legacy = {**piece, "rows": bson.Binary(bson.encode(columns))}
            assert columns_of(legacy) == columns
            assert types(columns_of(legacy)) == types(columns)
            pieces.replace_one({"_id": piece["_id"]}, legacy)
        rewritten = pieces.find({"tenant": tenant_client.tenant})
        assert all(type(p["rows"]) is bytes for p in rewritten)  # subtype 0 reads as bytes
    assert await answers() == before
