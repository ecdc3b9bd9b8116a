"""ExploreService: protobuf in → event search (collector.explore) → protobuf out."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeAlias

import grpc
from google.protobuf import struct_pb2

from aegis.v1 import explore_pb2, explore_pb2_grpc
from collector.api.interceptor import current_principal
from collector.api.proto_values import struct, timestamp
from collector.dates import parse_range
from collector.errors import NotFound
from collector.explore.events import (
    EventFilter,
    EventSearch,
    Position,
    check_limit,
    position_of,
    window,
)
from collector.explore.lists import (
    check_sort,
    check_users_limit,
    newest,
    resumed,
    session_filter,
    top_users,
    trace_filter,
)
from collector.explore.rows import from_ms
from collector.explore.sessions import check_session_id, check_session_limit, session
from collector.explore.stored import fetch_event
from collector.explore.summaries import Summary
from collector.explore.traces import TraceSpan, check_trace_id, trace
from collector.query.event_json import event_data
from collector.query.export import parse_kind
from collector.query.rounding import significant
from collector.store.storage import Storage

Context: TypeAlias = grpc.aio.ServicerContext


def event_filter(request: explore_pb2.ListEventsRequest) -> EventFilter:
    return EventFilter(
        model=request.model or None,
        user_id=request.user_id or None,
        session_id=request.session_id or None,
        trace_id=request.trace_id or None,
        environment=request.environment or None,
        release=request.release or None,
        tag=request.tag or None,
        errors_only=request.errors_only,
        min_cost=request.min_cost if request.HasField("min_cost") else None,
        min_latency_ms=request.min_latency_ms if request.HasField("min_latency_ms") else None,
    )


def trace_span(span: TraceSpan) -> explore_pb2.TraceSpan:
    message = explore_pb2.TraceSpan(
        span_id=span.span_id,
        name=span.name,
        kind=span.kind,
        start=timestamp(span.start),
        end=timestamp(span.end),
        duration_ms=span.duration_ms,
        status=span.status,
        attributes=struct(span.attributes),
    )
    if span.parent_span_id is not None:
        message.parent_span_id = span.parent_span_id
    if span.status_message is not None:
        message.status_message = span.status_message
    if span.llm is not None:
        message.llm.CopyFrom(struct(event_data(span.llm, content=False)))
    if span.ml is not None:
        message.ml.CopyFrom(struct(event_data(span.ml, content=False)))
    return message


class ExploreServicer(explore_pb2_grpc.ExploreServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._search = EventSearch(storage)

    async def ListEvents(
        self, request: explore_pb2.ListEventsRequest, context: Context
    ) -> explore_pb2.ListEventsResponse:
        kind = parse_kind(request.kind)
        dates = parse_range(request.start_date, request.end_date)
        limit = check_limit(request.limit)
        wanted = event_filter(request)
        position = position_of(request.cursor, dates.start, dates.end, wanted)
        page = await self._search.page(current_principal().tenant, kind, position, wanted, limit)
        response = explore_pb2.ListEventsResponse(
            events=[struct(event_data(doc, content=False)) for doc in page.events]
        )
        if page.next_cursor is not None:
            response.next_cursor = page.next_cursor
        return response

    async def GetEvent(
        self, request: explore_pb2.GetEventRequest, context: Context
    ) -> struct_pb2.Struct:
        kind = parse_kind(request.kind)
        doc = await fetch_event(self._storage, kind, current_principal().tenant, request.event_id)
        if doc is None:
            raise NotFound(f"no {kind} event with event_id {request.event_id[:128]!r}")
        return struct(event_data(doc))

    async def GetTrace(
        self, request: explore_pb2.GetTraceRequest, context: Context
    ) -> explore_pb2.Trace:
        trace_id = check_trace_id(request.trace_id)
        found = await trace(self._storage, current_principal().tenant, trace_id)
        if found is None:
            raise NotFound(f"no trace with trace_id {trace_id!r}")
        return explore_pb2.Trace(
            trace_id=found.trace_id, spans=[trace_span(span) for span in found.spans]
        )

    async def GetSession(
        self, request: explore_pb2.GetSessionRequest, context: Context
    ) -> explore_pb2.Session:
        session_id = check_session_id(request.session_id)
        limit = check_session_limit(request.limit)
        page = await session(
            self._storage,
            current_principal().tenant,
            session_id,
            given_cursor=request.cursor,
            limit=limit,
        )
        if page is None:
            raise NotFound(f"no session with session_id {session_id!r}")
        totals = page.totals
        response = explore_pb2.Session(
            session_id=page.session_id,
            events=[struct({**event_data(doc), "kind": kind}) for kind, doc in page.events],
            totals=explore_pb2.SessionTotals(
                requests=totals.requests,
                tokens=totals.tokens,
                cost=significant(totals.cost),
                errors=totals.errors,
            ),
        )
        if page.user_id is not None:
            response.user_id = page.user_id
        if page.next_cursor is not None:
            response.next_cursor = page.next_cursor
        return response

    async def ListTraces(
        self, request: explore_pb2.ListTracesRequest, context: Context
    ) -> explore_pb2.ListTracesResponse:
        wanted = {
            "list": "traces",
            "user": request.user_id,
            "session": request.session_id,
            "errors": request.errors_only,
        }
        page = await newest(
            self._storage,
            current_principal().tenant,
            "trace",
            _position(request, wanted),
            wanted,
            trace_filter(request.user_id, request.session_id, request.errors_only),
            lambda s: s.first,
            check_limit(request.limit),
        )
        response = explore_pb2.ListTracesResponse(
            traces=[_trace_summary(item.key, item.summary) for item in page.items]
        )
        if page.next_cursor is not None:
            response.next_cursor = page.next_cursor
        return response

    async def ListSessions(
        self, request: explore_pb2.ListSessionsRequest, context: Context
    ) -> explore_pb2.ListSessionsResponse:
        wanted = {"list": "sessions", "user": request.user_id}
        page = await newest(
            self._storage,
            current_principal().tenant,
            "session",
            _position(request, wanted),
            wanted,
            session_filter(request.user_id),
            lambda s: s.last,
            check_limit(request.limit),
        )
        response = explore_pb2.ListSessionsResponse(
            sessions=[_session_summary(item.key, item.summary) for item in page.items]
        )
        if page.next_cursor is not None:
            response.next_cursor = page.next_cursor
        return response

    async def TopUsers(
        self, request: explore_pb2.TopUsersRequest, context: Context
    ) -> explore_pb2.TopUsersResponse:
        dates = parse_range(request.start_date, request.end_date)
        position = window(dates.start, dates.end, dt.datetime.now(dt.UTC))
        users = await top_users(
            self._storage,
            current_principal().tenant,
            position,
            check_sort(request.sort),
            check_users_limit(request.limit),
        )
        return explore_pb2.TopUsersResponse(
            users=[
                explore_pb2.UserSummary(
                    user_id=item.key,
                    requests=item.summary.n,
                    tokens=item.summary.tokens,
                    cost=significant(item.summary.cost),
                    errors=item.summary.errors,
                    last_seen=timestamp(from_ms(item.summary.last)),
                )
                for item in users
            ]
        )


def _position(
    request: explore_pb2.ListTracesRequest | explore_pb2.ListSessionsRequest,
    wanted: dict[str, Any],
) -> Position:
    dates = parse_range(request.start_date, request.end_date)
    return resumed(request.cursor, wanted, window(dates.start, dates.end, dt.datetime.now(dt.UTC)))


def _trace_summary(trace_id: str, s: Summary) -> explore_pb2.TraceSummary:
    message = explore_pb2.TraceSummary(
        trace_id=trace_id,
        start=timestamp(from_ms(s.first)),
        duration_ms=float(max(s.end, s.last) - s.first),
        spans=s.n,
        llm_calls=s.llm,
        tokens=s.tokens,
        cost=significant(s.cost),
        errors=s.errors,
    )
    if s.root_name is not None:
        message.root_name = s.root_name
    if s.user is not None:
        message.user_id = s.user
    if s.session is not None:
        message.session_id = s.session
    return message


def _session_summary(session_id: str, s: Summary) -> explore_pb2.SessionSummary:
    message = explore_pb2.SessionSummary(
        session_id=session_id,
        first_seen=timestamp(from_ms(s.first)),
        last_seen=timestamp(from_ms(s.last)),
        requests=s.n,
        tokens=s.tokens,
        cost=significant(s.cost),
        errors=s.errors,
    )
    if s.user is not None:
        message.user_id = s.user
    return message
