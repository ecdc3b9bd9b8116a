"""The same flow over gRPC: unary ingest, the bidirectional stream, dashboards; REST ⇄ gRPC."""

from __future__ import annotations

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool, json_format
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from aegis.v1 import auth_pb2, dashboard_pb2, events_pb2, ingest_pb2
from tests.conftest import (
    SEED_LLM_BODY,
    SEED_ML_BODY,
    ApiClient,
    Stubs,
    ingest,
    ml_event,
    read,
    rpc_error,
    stream_batches,
)
from tests.procs import Stack

SEED_RANGE = dashboard_pb2.MetricsRequest(start_date="2024-01-01", end_date="2024-01-31")


def _ml_batch(sequence: int, *events: events_pb2.MLEvent) -> ingest_pb2.StreamEventsRequest:
    return ingest_pb2.StreamEventsRequest(
        sequence=sequence, ml=ingest_pb2.IngestMLRequest(events=events)
    )


def _llm_batch(sequence: int, *events: events_pb2.LLMEvent) -> ingest_pb2.StreamEventsRequest:
    return ingest_pb2.StreamEventsRequest(
        sequence=sequence, llm=ingest_pb2.IngestLLMRequest(events=events)
    )


def _counts(result: ingest_pb2.IngestResponse) -> tuple[int, int, int]:
    return result.accepted, result.rejected, result.duplicates


async def test_seed_flow_over_grpc(stubs: Stubs, tenant_client: ApiClient) -> None:
    md = tenant_client.metadata
    ml = json_format.ParseDict(SEED_ML_BODY, ingest_pb2.IngestMLRequest())
    llm = json_format.ParseDict(SEED_LLM_BODY, ingest_pb2.IngestLLMRequest())
    assert _counts(await stubs.ingest.IngestML(ml, metadata=md)) == (1, 0, 0)
    assert _counts(await stubs.ingest.IngestLLM(llm, metadata=md)) == (1, 0, 0)

    overview = await stubs.dashboard.Overview(dashboard_pb2.OverviewRequest(), metadata=md)
    assert overview.total_ml_predictions == 100
    assert overview.total_llm_requests == 1
    assert overview.active_models == 2
    assert overview.total_cost == pytest.approx(0.001)
    recent = {e.kind: e for e in overview.recent_events}
    assert recent["ml"].model == "model_hash_123"
    assert recent["llm"].model == "gemini-2.0-flash"
    assert recent["ml"].timestamp.ToJsonString() == "2024-01-01T12:00:00Z"

    ml_metrics = await stubs.dashboard.MLMetrics(SEED_RANGE, metadata=md)
    assert (ml_metrics.total_events, ml_metrics.total_predictions) == (1, 100)
    assert [m.model_id for m in ml_metrics.models] == ["model_hash_123"]

    llm_metrics = await stubs.dashboard.LLMMetrics(SEED_RANGE, metadata=md)
    assert (llm_metrics.total_requests, llm_metrics.total_tokens) == (1, 250)
    assert llm_metrics.total_cost == pytest.approx(0.001)
    assert [m.model_name for m in llm_metrics.models] == ["gemini-2.0-flash"]


async def test_stream_answers_each_batch_with_one_ack(
    stubs: Stubs, tenant_client: ApiClient
) -> None:
    md = tenant_client.metadata
    batches = [
        _ml_batch(
            7,
            events_pb2.MLEvent(event_id="s-1", model_id="m", model_type="t", prediction_count=2),
            events_pb2.MLEvent(event_id="s-2", model_id="m", model_type="t", prediction_count=3),
        ),
        _llm_batch(
            8,
            events_pb2.LLMEvent(event_id="l-1", model_name="g", tokens_used=10, cost=0.5),
            events_pb2.LLMEvent(event_id="l-2", model_name="", cost=1.0),
        ),
        _ml_batch(2**40, events_pb2.MLEvent(model_id="n", model_type="t", prediction_count=5)),
    ]
    acks = await stream_batches(stubs, md, batches)
    assert set(acks) == {7, 8, 2**40}
    assert _counts(acks[7]) == (2, 0, 0)
    assert _counts(acks[8]) == (1, 1, 0)
    [error] = acks[8].errors
    assert (error.index, error.field) == (1, "model_name")
    assert error.reason
    assert _counts(acks[2**40]) == (1, 0, 0)

    # A client retrying batch 7 after a lost ack: the same events count as duplicates.
    retry = await stream_batches(stubs, md, [batches[0]])
    assert _counts(retry[7]) == (0, 0, 2)

    overview = await stubs.dashboard.Overview(dashboard_pb2.OverviewRequest(), metadata=md)
    assert overview.total_ml_predictions == 10
    assert overview.total_llm_requests == 1
    assert overview.total_cost == pytest.approx(0.5)


async def test_stream_carries_many_batches(stubs: Stubs, tenant_client: ApiClient) -> None:
    batches = [
        _ml_batch(
            seq,
            *(
                events_pb2.MLEvent(model_id=f"m{seq % 3}", model_type="t", prediction_count=seq)
                for _ in range(5)
            ),
        )
        for seq in range(1, 41)
    ]
    acks = await stream_batches(stubs, tenant_client.metadata, batches)
    assert set(acks) == set(range(1, 41))
    assert all(_counts(result) == (5, 0, 0) for result in acks.values())
    metrics = await stubs.dashboard.MLMetrics(
        dashboard_pb2.MetricsRequest(), metadata=tenant_client.metadata
    )
    assert metrics.total_events == 200
    assert metrics.total_predictions == 5 * sum(range(1, 41))
    assert [m.model_id for m in metrics.models] == ["m0", "m1", "m2"]


async def test_stream_batch_without_events_kind_is_invalid(
    stubs: Stubs, tenant_client: ApiClient
) -> None:
    batch = ingest_pb2.StreamEventsRequest(sequence=1)
    error = await rpc_error(stream_batches(stubs, tenant_client.metadata, [batch]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_rest_and_grpc_see_the_same_data(
    http: httpx.AsyncClient, stubs: Stubs, tenant_client: ApiClient
) -> None:
    md = tenant_client.metadata
    await ingest(http, tenant_client, "ml", [ml_event("via-rest", prediction_count=4)])
    llm = ingest_pb2.IngestLLMRequest(
        events=[events_pb2.LLMEvent(model_name="via-grpc", tokens_used=9, cost=0.25)]
    )
    assert _counts(await stubs.ingest.IngestLLM(llm, metadata=md)) == (1, 0, 0)

    rest = await read(http, tenant_client, "/dashboard/overview")
    over_grpc = await stubs.dashboard.Overview(dashboard_pb2.OverviewRequest(), metadata=md)
    assert rest["total_ml_predictions"] == over_grpc.total_ml_predictions == 4
    assert rest["total_llm_requests"] == over_grpc.total_llm_requests == 1
    assert rest["active_models"] == over_grpc.active_models == 2
    assert rest["total_cost"] == pytest.approx(over_grpc.total_cost) == 0.25
    assert {e["model"] for e in rest["recent_events"]} == {"via-rest", "via-grpc"}
    assert {e.model for e in over_grpc.recent_events} == {"via-rest", "via-grpc"}

    rest_llm = await read(http, tenant_client, "/dashboard/llm-metrics")
    grpc_llm = await stubs.dashboard.LLMMetrics(dashboard_pb2.MetricsRequest(), metadata=md)
    assert rest_llm["total_tokens"] == grpc_llm.total_tokens == 9
    rest_ml = await read(http, tenant_client, "/dashboard/ml-metrics")
    grpc_ml = await stubs.dashboard.MLMetrics(dashboard_pb2.MetricsRequest(), metadata=md)
    assert [m["model_id"] for m in rest_ml["models"]] == [m.model_id for m in grpc_ml.models]


async def test_grpc_issued_token_works_over_rest(
    http: httpx.AsyncClient, stubs: Stubs, tenant_client: ApiClient
) -> None:
    reply = await stubs.auth.IssueToken(
        auth_pb2.IssueTokenRequest(
            clientId=tenant_client.client_id, clientSecret=tenant_client.client_secret
        )
    )
    assert reply.token_type == "bearer"
    headers = {"Authorization": f"Bearer {reply.access_token}"}
    overview = await http.get("/dashboard/overview", headers=headers)
    assert overview.status_code == 200, overview.text


def test_server_reflection_lists_and_describes_our_services(stack: Stack) -> None:
    """What `grpcurl -plaintext host:port list` / `describe` rely on, with grpcio-reflection's
    own client: the services are listed and their descriptors come over the wire."""
    with grpc.insecure_channel(stack.grpc_target) as channel:
        reflected = ProtoReflectionDescriptorDatabase(channel)
        services = set(reflected.get_services())
        assert {
            "aegis.v1.AuthService",
            "aegis.v1.IngestService",
            "aegis.v1.DashboardService",
            "opentelemetry.proto.collector.trace.v1.TraceService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= services
        pool = descriptor_pool.DescriptorPool(reflected)
        ingest = pool.FindServiceByName("aegis.v1.IngestService")
        assert set(ingest.methods_by_name) == {
            "IngestML",
            "IngestLLM",
            "IngestMLJson",
            "IngestLLMJson",
            "StreamEvents",
        }
        stream = ingest.methods_by_name["StreamEvents"]
        assert stream.input_type.full_name == "aegis.v1.StreamEventsRequest"
        assert stream.client_streaming and stream.server_streaming
        event = pool.FindMessageTypeByName("aegis.v1.LLMEvent")
        assert {"model_name", "tokens_used", "cost", "metadata"} <= set(event.fields_by_name)
