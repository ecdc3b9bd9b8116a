"""The explore bench's data: one tenant's month of LLM calls by users, in sessions and traces.

- The corpus: `events` LLM calls over the last 30 days in traces of EVENTS_PER_TRACE calls,
  TRACES_PER_SESSION traces a session, SESSIONS_PER_USER sessions a user (1M events: 100k
  traces, 50k sessions, 10k users). Traces follow each other through the month; sessions take
  users in turns, so a user's sessions are ~6 days apart. Every call carries every attribution
  field; its parent is its trace's root, an agent span of its own (`root_spans`) sent through
  OTLP as the agent's service exports it: a trace is 1 root + 10 LLM calls.
- One session of LONG_SESSION calls (in traces of 10, with content) over 5 hours, 2 days ago.
- One agent trace of AGENT_SPANS spans made by the OpenTelemetry SDK (a root, 7 tool calls,
  6 LLM calls under each), 3 days ago.

Everything is made lazily, in time order (a backfill sends oldest first), and tallied as it
is made (bench.explore_tally), so that the bench checks every answer against brute force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from bench.explore_tally import Tally, epoch_ms

Event = dict[str, Any]
DAYS = 30
EVENTS_PER_TRACE = 10
TRACES_PER_SESSION = 2
SESSIONS_PER_USER = 5
STEP = dt.timedelta(seconds=2)  # between a trace's calls, unless traces come closer
# The oldest trace starts this long after "30 days ago": reads happen later than the data
# is made, and their 30-day windows must still hold all of it.
OLD_MARGIN = dt.timedelta(hours=3)
NEW_MARGIN = dt.timedelta(minutes=1)
LONG_SESSION = 200
LONG_SESSION_EVERY = dt.timedelta(seconds=90)
LONG_SESSION_AGO = dt.timedelta(days=2)
AGENT_TOOLS = 7
AGENT_CALLS_PER_TOOL = 6
AGENT_SPANS = 1 + AGENT_TOOLS * (1 + AGENT_CALLS_PER_TOOL)
AGENT_LLM_CALLS = AGENT_TOOLS * AGENT_CALLS_PER_TOOL
AGENT_AGO = dt.timedelta(days=3)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-haiku-latest", "gemini-2.0-flash")
SERVICE = "support-agent"


@dataclass(frozen=True)
class Shape:
    """How many of each there are, from the number of calls."""

    events: int

    @property
    def traces(self) -> int:
        return max(1, self.events // EVENTS_PER_TRACE)

    @property
    def sessions(self) -> int:
        return max(1, self.traces // TRACES_PER_SESSION)

    @property
    def users(self) -> int:
        return max(1, self.sessions // SESSIONS_PER_USER)


def _ms(moment: dt.datetime) -> dt.datetime:
    """Stored times hold milliseconds: make them so, so that sent and stored compare equal."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class _Ids(IdGenerator):
    """The ids the next root span gets: the corpus names them before the spans exist."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


def _provider(ids: IdGenerator | None = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    resource = Resource.create(
        {
            "service.name": SERVICE,
            "service.version": "2026.11.3",
            "deployment.environment.name": "production",
        }
    )
    provider = TracerProvider(resource=resource, id_generator=ids)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def _ns(moment: dt.datetime) -> int:
    return epoch_ms(moment) * 1_000_000


class Corpus:
    def __init__(self, run: str, shape: Shape, now: dt.datetime) -> None:
        self.run = run
        self.shape = shape
        self.start = _ms(now - dt.timedelta(days=DAYS) + OLD_MARGIN)
        self._spacing = (now - NEW_MARGIN - self.start) / shape.traces
        # A trace ends before the next starts: the calls are then in time order as made.
        self._step = min(STEP, self._spacing / (EVENTS_PER_TRACE + 2))
        self._prefix = hashlib.blake2b(run.encode(), digest_size=4).hexdigest()
        last_session = self.session_of(shape.traces - 1)
        self.tally = Tally(watched_user=self.user_of(last_session))
        self.long_session_id = f"session-long-{run}"
        self.long_session_user = self.user_of(0)
        self.agent_user = self.user_of(1)
        self.agent_start = _ms(now - AGENT_AGO)
        self._long_start = _ms(now - LONG_SESSION_AGO)

    def session_of(self, trace_no: int) -> int:
        return min(trace_no // TRACES_PER_SESSION, self.shape.sessions - 1)

    def user_of(self, session_no: int) -> str:
        return f"user-{session_no % self.shape.users:05d}"

    def trace_id(self, trace_no: int) -> str:
        return f"{self._prefix}{trace_no + 1:024x}"

    def root_span_id(self, trace_no: int) -> str:
        return f"{trace_no + 1:08x}{0:08x}"

    def trace_start(self, trace_no: int) -> dt.datetime:
        return _ms(self.start + trace_no * self._spacing)

    def _call(self, index: int, when: dt.datetime, user: str, session: str) -> Event:
        """LLM call `index`: tokens, a cost that varies by user, 1 in 50 failed."""
        input_tokens = 150 + (index * 37) % 900
        output_tokens = 40 + (index * 53) % 400
        cost = (input_tokens * 0.15 + output_tokens * 0.6) / 1e6 * (1 + index % 7)
        event_id = f"{self.run}-{index:08d}"
        self.tally.add(user, cost, epoch_ms(when), event_id, listed=True)
        return {
            "event_id": event_id,
            "model_name": MODELS[index % len(MODELS)],
            "tokens_used": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost": cost,
            "timestamp": when,
            "latency_ms": 300.0 + (index * 7919) % 1500,
            "error": "RateLimitError" if index % 50 == 0 else None,
            "metadata": {"prompt_template": "support-answer-v7", "temperature": 0.2},
            "user_id": user,
            "session_id": session,
            "environment": "production",
            "release": f"2026.11.{index % 3 + 1}",
            "tags": ["support", "pro" if index % 3 else "free"],
        }

    def corpus_calls(self) -> Iterator[Event]:
        for trace_no in range(self.shape.traces):
            session_no = self.session_of(trace_no)
            user, session = self.user_of(session_no), f"session-{session_no:06d}"
            start = self.trace_start(trace_no)
            for k in range(EVENTS_PER_TRACE):
                index = trace_no * EVENTS_PER_TRACE + k
                call = self._call(index, _ms(start + (k + 1) * self._step), user, session)
                call["trace_id"] = self.trace_id(trace_no)
                call["span_id"] = f"{trace_no + 1:08x}{k + 1:08x}"
                call["parent_span_id"] = self.root_span_id(trace_no)
                yield call

    def long_session_calls(self) -> Iterator[Event]:
        """The long session: traces of 10 calls, the first of each its root; with content."""
        first = self.shape.traces * EVENTS_PER_TRACE
        for n in range(LONG_SESSION):
            trace_no = self.shape.traces + n // EVENTS_PER_TRACE
            when = self._long_start + n * LONG_SESSION_EVERY
            call = self._call(first + n, when, self.long_session_user, self.long_session_id)
            call["trace_id"] = self.trace_id(trace_no)
            call["span_id"] = f"{trace_no + 1:08x}{n % EVENTS_PER_TRACE + 1:08x}"
            if n % EVENTS_PER_TRACE:
                call["parent_span_id"] = f"{trace_no + 1:08x}{1:08x}"
            call["input"] = [{"role": "user", "content": f"Where is order {n}? " * 8}]
            call["output"] = f"Order {n} left the warehouse this morning. " * 6
            call["system"] = "You are a support agent for an online shop."
            yield call

    def calls(self) -> Iterator[Event]:
        """Every call sent through the gRPC stream, in time order."""
        return heapq.merge(
            self.corpus_calls(), self.long_session_calls(), key=lambda e: e["timestamp"]
        )

    def root_spans(self, batch: int) -> Iterator[list[ReadableSpan]]:
        """The corpus's trace roots, `batch` at a time, in time order: one agent span per
        trace, with the ids its calls name as their trace and parent."""
        ids = _Ids()
        provider, memory = _provider(ids)
        tracer = provider.get_tracer("bench.explore")
        for first in range(0, self.shape.traces, batch):
            for trace_no in range(first, min(first + batch, self.shape.traces)):
                ids.trace_id = int(self.trace_id(trace_no), 16)
                ids.span_id = int(self.root_span_id(trace_no), 16)
                session_no = self.session_of(trace_no)
                start = self.trace_start(trace_no)
                span = tracer.start_span(
                    f"invoke_agent {SERVICE}",
                    kind=trace.SpanKind.SERVER,
                    start_time=_ns(start),
                    attributes={
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": SERVICE,
                        "user.id": self.user_of(session_no),
                        "gen_ai.conversation.id": f"session-{session_no:06d}",
                    },
                )
                span.end(end_time=_ns(start + (EVENTS_PER_TRACE + 1) * self._step))
            yield list(memory.get_finished_spans())
            memory.clear()
        provider.shutdown()

    def agent_trace(self) -> tuple[str, list[ReadableSpan]]:
        """The AGENT_SPANS-span trace: its id and spans (children end before parents)."""
        provider, memory = _provider()
        tracer = provider.get_tracer("bench.explore")
        at = self.agent_start
        root = tracer.start_span(
            f"invoke_agent {SERVICE}",
            kind=trace.SpanKind.SERVER,
            start_time=_ns(at),
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "user.id": self.agent_user,
                "gen_ai.conversation.id": f"session-agent-{self.run}",
            },
        )
        inside = trace.set_span_in_context(root)
        for t in range(AGENT_TOOLS):
            tool_start = at + dt.timedelta(seconds=1 + t * 20)
            tool = tracer.start_span(
                f"execute_tool step_{t}",
                context=inside,
                start_time=_ns(tool_start),
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": f"step_{t}",
                },
            )
            for c in range(AGENT_CALLS_PER_TOOL):
                self._agent_call(tracer, tool, tool_start + dt.timedelta(seconds=1 + c * 3), t, c)
            tool.end(end_time=_ns(tool_start + dt.timedelta(seconds=19)))
        root.end(end_time=_ns(at + dt.timedelta(seconds=1 + AGENT_TOOLS * 20)))
        provider.shutdown()
        return f"{root.get_span_context().trace_id:032x}", list(memory.get_finished_spans())

    def _agent_call(
        self, tracer: trace.Tracer, tool: trace.Span, start: dt.datetime, t: int, c: int
    ) -> None:
        cost = 0.001 * (1 + c)
        self.tally.add(self.agent_user, cost, epoch_ms(start), f"agent-{t}-{c}", listed=False)
        model = MODELS[c % len(MODELS)]
        span = tracer.start_span(
            f"chat {model}",
            context=trace.set_span_in_context(tool),
            kind=trace.SpanKind.CLIENT,
            start_time=_ns(start),
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": 400 + c,
                "gen_ai.usage.output_tokens": 90 + t,
                "gen_ai.usage.cost": cost,
            },
        )
        span.end(end_time=_ns(start + dt.timedelta(seconds=2)))
