# The typing of collector/rollups/cell_sums.pyx, a Cython module (mypy cannot read .pyx).
from collections.abc import Callable, Sequence
from typing import Any

class Cells:
    def __init__(
        self,
        *,
        empty: Callable[[], dict[str, Any]],
        span: Callable[..., None],
        bucket_of: Callable[[float], str],
    ) -> None: ...
    def of_events(
        self, docs: Sequence[dict[str, Any]], summed: tuple[tuple[str, str], ...]
    ) -> dict[str, Any]: ...
