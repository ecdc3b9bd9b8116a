"""`aegis export` then `aegis import`: a tenant's history moves to another tenant (or deployment)
event for event, and re-running an interrupted import stores nothing twice."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import httpx

from tests.conftest import ApiClient, create_client, ingest, llm_event, ml_event
from tests.procs import Stack

AEGIS = pathlib.Path(sys.executable).parent / "aegis"


def aegis(stack: Stack, who: ApiClient, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script pip installs, as a user runs it."""
    env: dict[str, Any] = {
        "AEGIS_CLIENT_ID": who.client_id,
        "AEGIS_CLIENT_SECRET": who.client_secret,
        "AEGIS_TARGET": stack.grpc_target,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run([str(AEGIS), *args], env=env, capture_output=True, text=True, timeout=300)


def stored(path: pathlib.Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        # Set by the server that stores it: when, through which client, and who priced it
        # (the importer gives the cost, so "client" there).
        for field in ("received_at", "client_id", "cost_source"):
            row.pop(field, None)
    return sorted(rows, key=lambda r: r["event_id"])


def test_the_console_script_offers_every_command() -> None:
    done = subprocess.run([str(AEGIS), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: aegis")
    for command in ("run", "serve", "clients", "export", "import"):
        assert command in done.stdout


async def test_export_then_import_moves_the_history_exactly_once(
    stack: Stack, http: httpx.AsyncClient, admin: ApiClient, tmp_path: pathlib.Path
) -> None:
    source = await create_client(http, admin, "import-source")
    target = await create_client(http, admin, "import-target")
    llm = [
        llm_event(
            event_id=f"l{i:04d}",
            model_name="gpt-4o" if i % 2 else "claude",
            tokens_used=i,
            cost=0.001 * i if i % 3 else None,
            timestamp=f"2024-05-0{1 + i % 5}T10:00:00Z",
            metadata={"i": i},
        )
        for i in range(1200)
    ]
    for event in llm:
        if event["cost"] is None:
            del event["cost"]
    assert (await ingest(http, source, "llm", llm[:600]))["accepted"] == 600
    assert (await ingest(http, source, "llm", llm[600:]))["accepted"] == 600
    ml = [ml_event(event_id=f"m{i}", prediction_count=i + 1) for i in range(30)]
    assert (await ingest(http, source, "ml", ml))["accepted"] == 30

    for kind in ("llm", "ml"):
        out = tmp_path / f"{kind}.ndjson"
        done = aegis(stack, source, "export", "--kind", kind, "-o", str(out), "--quiet")
        assert done.returncode == 0, done.stderr

    # An import cut short: the first 500 lines only, then the whole file.
    whole = tmp_path / "llm.ndjson"
    part = tmp_path / "llm-part.ndjson"
    part.write_text("".join(whole.read_text().splitlines(keepends=True)[:500]))
    first = aegis(stack, target, "import", str(part), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "500 stored, 0 already stored, 0 rejected" in first.stderr
    again = aegis(stack, target, "import", str(whole))
    assert again.returncode == 0, again.stderr
    assert "700 stored, 500 already stored, 0 rejected" in again.stderr
    assert "events" in again.stderr  # the progress bar
    ml_done = aegis(stack, target, "import", str(tmp_path / "ml.ndjson"), "--quiet")
    assert "30 stored, 0 already stored" in ml_done.stderr, ml_done.stderr

    # What the target now exports is what the source exported: every field, every cost.
    for kind in ("llm", "ml"):
        copy = tmp_path / f"{kind}-copy.ndjson"
        done = aegis(stack, target, "export", "--kind", kind, "-o", str(copy), "--quiet")
        assert done.returncode == 0, done.stderr
        assert stored(copy) == stored(tmp_path / f"{kind}.ndjson")


async def test_bad_files_are_one_error_line(
    stack: Stack, http: httpx.AsyncClient, admin: ApiClient, tmp_path: pathlib.Path
) -> None:
    who = await create_client(http, admin, "import-bad")
    missing = aegis(stack, who, "import", str(tmp_path / "absent.ndjson"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    no_id = tmp_path / "no-id.ndjson"
    no_id.write_text(json.dumps({"model_name": "m", "tokens_used": 1}) + "\n")
    done = aegis(stack, who, "import", str(no_id))
    assert done.returncode == 2 and "no-id.ndjson:1: no event_id" in done.stderr
    garbage = tmp_path / "garbage.ndjson"
    shutil.copy(no_id, garbage)
    garbage.write_text("{not json\n")
    done = aegis(stack, who, "import", str(garbage))
    assert done.returncode == 2 and "garbage.ndjson:1: not JSON" in done.stderr
    rejected = tmp_path / "rejected.ndjson"
    rejected.write_text(json.dumps({"event_id": "x1", "model_name": "m", "tokens_used": -5}) + "\n")
    done = aegis(stack, who, "import", str(rejected), "--quiet")
    assert done.returncode == 1 and "event x1: tokens_used" in done.stderr
