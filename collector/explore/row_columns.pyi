# The typing of collector/explore/row_columns.pyx, a Cython module (mypy cannot read .pyx).
from typing import Any

def event_columns(
    model_key: str, stamps: list[int], docs: list[dict[str, Any]]
) -> list[list[Any]]: ...
