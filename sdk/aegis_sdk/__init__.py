"""AegisAI Python SDK: log ML and LLM events; they are batched, streamed and retried for you.

from aegis_sdk import AegisClient

with AegisClient("localhost:50051", CLIENT_ID, CLIENT_SECRET) as aegis:
    aegis.log_llm(model_name="gpt-4o", prompt_length=50, tokens_used=250, cost=0.001)
"""

from aegis_sdk.client import AegisClient, AsyncAegisClient
from aegis_sdk.errors import AegisSDKError, BufferFullError
from aegis_sdk.ids import uuid7
from aegis_sdk.stats import Stats

__all__ = [
    "AegisClient",
    "AegisSDKError",
    "AsyncAegisClient",
    "BufferFullError",
    "Stats",
    "uuid7",
]
