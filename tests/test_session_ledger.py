"""The session ledger (collector.store.session_ledger): a process that dies, however it dies, leaves
its session ids to be claimed by the next collector; a live process's ledger is never claimed.
(That the claimed ids are then ended, unblocking retried batches, is test_delivery's
test_collector_killed_mid_stream_loses_and_doubles_nothing.)"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import uuid

from collector.store import session_ledger
from collector.store.session_ledger import SessionLedger, claim_orphans

CHILD = """
import pathlib, sys, time
from collector.store.session_ledger import SessionLedger
ledger = SessionLedger(pathlib.Path(sys.argv[1]))
for raw in sys.argv[2:]:
    ledger.record(bytes.fromhex(raw))
print("recorded", flush=True)
time.sleep(600)
"""


def test_a_killed_process_leaves_its_sessions_to_be_claimed_once(tmp_path: pathlib.Path) -> None:
    ids = [uuid.uuid4().bytes for _ in range(3)]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), *(i.hex() for i in ids)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "recorded"
        assert claim_orphans(tmp_path) == [], "a live process's ledger was claimed"
    finally:
        child.kill()  # SIGKILL: no clean-up of its own
        child.wait()
    assert claim_orphans(tmp_path) == sorted(ids)
    assert claim_orphans(tmp_path) == [], "claimed twice"
    assert list(tmp_path.iterdir()) == []


def test_a_clean_close_leaves_nothing_unless_told_to_keep_it(tmp_path: pathlib.Path) -> None:
    ended = SessionLedger(tmp_path)
    ended.record(b"\x01" * 16)
    ended.close(keep=False)
    assert claim_orphans(tmp_path) == []
    kept = SessionLedger(tmp_path)
    kept.record(b"\x02" * 16)
    kept.close(keep=True)  # a session may still hold an open transaction
    assert claim_orphans(tmp_path) == [b"\x02" * 16]


def test_compaction_keeps_recent_sessions_and_the_lock(tmp_path: pathlib.Path) -> None:
    ledger = SessionLedger(tmp_path)
    stale = [os.urandom(16) for _ in range(session_ledger.COMPACT_AT)]
    for session_id in stale:
        ledger.record(session_id)
    # As if they had last been used long ago: the next new id compacts the file.
    ledger._last_used = dict.fromkeys(stale, -session_ledger.FORGET_AFTER_S * 2)
    fresh = os.urandom(16)
    ledger.record(fresh)
    ledger.record(stale[0])  # used again: recorded again
    assert claim_orphans(tmp_path) == [], "the compacted ledger was claimable"
    ledger.close(keep=True)
    assert claim_orphans(tmp_path) == sorted([fresh, stale[0]])
