from __future__ import annotations

import httpx

from tests.conftest import ApiClient


async def test_health_and_seed_overview(http: httpx.AsyncClient, tenant_client: ApiClient) -> None:
    assert (await http.get("/health")).json() == {"status": "ok"}
    reply = await http.get("/dashboard/overview", headers=tenant_client.headers)
    assert reply.status_code == 200
    assert reply.json()["total_ml_predictions"] == 0
