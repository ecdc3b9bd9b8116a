"""Stream LLM events to the collector over gRPC and read the overview back.

.venv/bin/python examples/grpc_stream.py localhost:50051 CLIENT_ID CLIENT_SECRET
"""

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator

import grpc

from aegis.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    dashboard_pb2,
    dashboard_pb2_grpc,
    events_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
)


async def main(target: str, client_id: str, client_secret: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        token = await auth.IssueToken(
            auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=client_secret)
        )
        metadata = (("authorization", f"Bearer {token.access_token}"),)

        # Numbered batches of fixed events: a batch sent again (after UNAVAILABLE or
        # RESOURCE_EXHAUSTED) keeps its event ids, so what was stored is not stored twice.
        pending = {
            sequence: ingest_pb2.StreamEventsRequest(
                sequence=sequence,
                llm=ingest_pb2.IngestLLMRequest(
                    events=[
                        events_pb2.LLMEvent(
                            event_id=str(uuid.uuid4()),
                            model_name="gemini-2.0-flash",
                            prompt_length=50,
                            response_length=200,
                            tokens_used=250,
                            cost=0.001,
                            latency_ms=420.0,
                        )
                        for _ in range(100)
                    ]
                ),
            )
            for sequence in range(3)
        }

        async def batches() -> AsyncIterator[ingest_pb2.StreamEventsRequest]:
            for request in list(pending.values()):
                yield request

        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        for attempt in range(1, 6):
            try:
                async for ack in ingest.StreamEvents(batches(), metadata=metadata):
                    pending.pop(ack.sequence, None)  # acknowledged: stored
                    print(
                        f"batch {ack.sequence}: accepted={ack.result.accepted} "
                        f"duplicates={ack.result.duplicates} rejected={ack.result.rejected}"
                    )
                break
            except grpc.aio.AioRpcError as exc:
                retryable = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
                if exc.code() not in retryable or attempt == 5:
                    raise
                print(
                    f"{exc.code().name}: {exc.details()}; sending the rest again", file=sys.stderr
                )
                await asyncio.sleep(attempt)

        dashboard = dashboard_pb2_grpc.DashboardServiceStub(channel)
        overview = await dashboard.Overview(dashboard_pb2.OverviewRequest(), metadata=metadata)
        print(
            f"total_llm_requests={overview.total_llm_requests} "
            f"total_cost={overview.total_cost:.3f} active_models={overview.active_models}"
        )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
