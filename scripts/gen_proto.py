"""Generate Python code from proto/ into OUT_DIR (grpc_tools.protoc, with .pyi stubs).

Used by `make proto` (OUT_DIR=generated) and `make proto-check` (a scratch dir to diff).
"""

import os
import pathlib
import sys

import grpc_tools
from google.api import annotations_pb2
from grpc_tools import protoc

PROTO_DIR = pathlib.Path(__file__).resolve().parent.parent / "proto"
WELL_KNOWN = pathlib.Path(grpc_tools.__file__).parent / "_proto"
# googleapis-common-protos ships google/api/*.proto beside its generated modules.
GOOGLEAPIS = pathlib.Path(annotations_pb2.__file__).parent.parent.parent


def main(out_dir: str) -> int:
    out = pathlib.Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    # Paths given to protoc are recorded in the output; keep them relative to proto/.
    os.chdir(PROTO_DIR)
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{GOOGLEAPIS}",
            f"-I{WELL_KNOWN}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *protos,
        ]
    )
    if code != 0:
        return code
    for module in out.rglob("*_pb2.py"):
        package = module.parent
        while package != out:
            (package / "__init__.py").touch()
            package = package.parent
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "generated"))
