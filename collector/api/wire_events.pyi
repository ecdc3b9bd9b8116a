# The typing of collector/api/wire_events.pyx, a Cython module (mypy cannot read .pyx).
from typing import Any, Literal

ML_FIELDS: dict[int, int]
LLM_FIELDS: dict[int, int]
KINDS: dict[str, int]

class Unread(Exception): ...

def read_events(data: bytes, llm: bool) -> list[dict[str, Any]] | None: ...
def read_stream_request(data: bytes) -> tuple[int, Literal["ml", "llm"], list[Any]] | None: ...
