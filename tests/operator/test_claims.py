"""Segment claims of pool workers (worker/claims.py), with real processes racing on one directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from videojob.worker.claims import Claim, Claimer, Heartbeat, Refused, claim_path, read_claim

SEGMENTS = 40


RACER = """
import json, sys, time
from pathlib import Path
from videojob.worker.claims import Claim, Claimer
# The racers send no heartbeats: their claims must stay fresh for the whole race, also on a loaded machine where a
# racer may fall seconds behind the other (with 5 s, one took over the other's new claim as stale: a flaky test).
claimer = Claimer(Path(sys.argv[1]), sys.argv[2], retries=3, timeout=120)
while time.time() < float(sys.argv[3]):  # all racers start at the same moment
    pass
print(json.dumps([i for i in range(int(sys.argv[4])) if isinstance(claimer.try_claim(i), Claim)]))
"""


def _race(workdir: Path, workers: int) -> dict[str, list[int]]:
    """`workers` processes claiming every segment, started at the same instant: holder -> what it got."""
    at = str(time.time() + 2.0)
    procs = {
        f"w{n}": subprocess.Popen(
            [sys.executable, "-c", RACER, str(workdir), f"w{n}", at, str(SEGMENTS)], stdout=subprocess.PIPE, text=True
        )
        for n in range(workers)
    }
    return {name: json.loads(p.communicate(timeout=60)[0]) for name, p in procs.items()}


def test_two_processes_racing_claim_each_segment_once(tmp_path: Path) -> None:
    results = _race(tmp_path, 2)
    claimed = sorted(i for got in results.values() for i in got)
    assert claimed == list(range(SEGMENTS)), results  # every segment once, none twice
    for holder, got in results.items():
        for i in got:
            claim = read_claim(claim_path(tmp_path, i))
            assert claim is not None and claim[0].holder == holder


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_stale_claim_is_taken_over_by_exactly_one_of_two_racers(tmp_path: Path) -> None:
    dead = Claimer(tmp_path, "dead", retries=3, timeout=5)
    for i in range(SEGMENTS):
        assert isinstance(dead.try_claim(i), Claim)
        _age(claim_path(tmp_path, i), 600)  # stale for the racers' timeout too
    results = _race(tmp_path, 2)
    taken = sorted(i for got in results.values() for i in got)
    assert taken == list(range(SEGMENTS)), results
    claim = read_claim(claim_path(tmp_path, 0))
    assert claim is not None
    assert (claim[0].gen, claim[0].failures) == (1, 1)  # the dead holder's attempt counts as a failure
    assert "dead stopped sending heartbeats" in claim[0].error


def test_a_live_claim_is_not_taken_over(tmp_path: Path) -> None:
    a, b = Claimer(tmp_path, "a", retries=3, timeout=5), Claimer(tmp_path, "b", retries=3, timeout=5)
    claim = a.try_claim(0)
    assert isinstance(claim, Claim)
    _age(claim_path(tmp_path, 0), 3)  # late, but within the timeout
    assert b.try_claim(0) is None


def test_heartbeat_keeps_a_claim_alive_and_notices_a_takeover(tmp_path: Path) -> None:
    a = Claimer(tmp_path, "a", retries=3, timeout=1.0, heartbeat=0.1)
    b = Claimer(tmp_path, "b", retries=3, timeout=1.0, heartbeat=0.1)
    claim = a.try_claim(0)
    assert isinstance(claim, Claim)
    with Heartbeat(a, 0, claim) as beat:
        time.sleep(1.5)  # longer than the timeout: only the heartbeat keeps it
        assert b.try_claim(0) is None
        _age(claim_path(tmp_path, 0), 60)  # a paused holder: its beats stop for a while
        time.sleep(0.01)
        _age(claim_path(tmp_path, 0), 60)
        taken = b.try_claim(0)
        assert isinstance(taken, Claim) and taken.holder == "b"
        time.sleep(0.4)
    assert beat.lost  # the old holder stops touching the new holder's claim
    a.release(0, claim, failed=True)  # and cannot release what is no longer its own
    after = read_claim(claim_path(tmp_path, 0))
    assert after is not None and after[0].holder == "b" and after[0].state == "held"


HOLDER = """
import sys, time
from pathlib import Path
from videojob.worker.claims import Claimer, Heartbeat
c = Claimer(Path(sys.argv[1]), "crasher", retries=1, timeout=1.0, heartbeat=0.1)
claim = c.try_claim(0)
with Heartbeat(c, 0, claim):
    print("claimed", flush=True)
    time.sleep(60)
"""


def test_crashed_holder_is_taken_over_and_counted(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
    other = Claimer(tmp_path, "other", retries=1, timeout=1.0)
    time.sleep(1.3)
    assert other.try_claim(0) is None  # the holder's heartbeat still runs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    time.sleep(1.3)
    taken = other.try_claim(0)
    assert isinstance(taken, Claim) and (taken.gen, taken.failures) == (1, 1)
    # This attempt fails too: with retries 1, the segment is refused to everyone, naming the last error.
    other.release(0, taken, error="RuntimeError: encoder crashed", failed=True)
    refused = Claimer(tmp_path, "third", retries=1).try_claim(0)
    assert isinstance(refused, Refused) and "encoder crashed" in refused.error


def test_released_claim_is_retried_without_waiting_and_bad_input_is_final(tmp_path: Path) -> None:
    a, b = Claimer(tmp_path, "a", retries=3), Claimer(tmp_path, "b", retries=3)
    claim = a.try_claim(0)
    assert isinstance(claim, Claim)
    a.release(0, claim, error="stopped by SIGTERM")  # stopped: no attempt counted
    again = b.try_claim(0)
    assert isinstance(again, Claim) and (again.gen, again.failures) == (1, 0)
    b.release(0, again, error="input damaged at frame 12", bad=True)
    refused = a.try_claim(0)
    assert isinstance(refused, Refused) and refused.error == "input damaged at frame 12"


def test_dead_taker_between_lock_and_rename_does_not_block_the_segment(tmp_path: Path) -> None:
    a = Claimer(tmp_path, "a", retries=3, timeout=5)
    assert isinstance(a.try_claim(0), Claim)
    _age(claim_path(tmp_path, 0), 60)
    lock = tmp_path / "claims" / "seg-00000.take-0-0"  # a taker that died right after winning the lock
    lock.write_text(json.dumps({"holder": "gone"}))
    b = Claimer(tmp_path, "b", retries=3, timeout=5)
    assert b.try_claim(0) is None  # a fresh lock: someone is taking it over right now
    _age(lock, 60)
    taken = b.try_claim(0)
    assert isinstance(taken, Claim) and taken.holder == "b"


def test_finish_removes_the_claim(tmp_path: Path) -> None:
    a = Claimer(tmp_path, "a", retries=3)
    assert isinstance(a.try_claim(3), Claim)
    a.finish(3)
    assert not list((tmp_path / "claims").iterdir())
