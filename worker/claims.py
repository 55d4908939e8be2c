"""Segment claims on the shared work directory, for pool workers (`python -m videojob.worker pool`).

`claims/seg-NNNNN.claim` says who works on a segment: JSON {holder, gen, failures, state} written once, its mtime
the holder's heartbeat (refreshed every `heartbeat` seconds by a thread). A first claim is an exclusive create
(O_CREAT|O_EXCL): of two pods only one gets it. A claim whose heartbeat is older than `timeout` (its pod is dead),
or that its holder released, is taken over with the next generation: the taker first wins a take lock
`seg-NNNNN.take-G-R` by exclusive create (one taker per generation G), then writes its claim under a temporary
name and renames it over the old one (readers always see a whole claim). R counts take locks whose taker died
between those two steps (a lock older than `timeout`): nothing is ever deleted while a segment is open, so no
taker can mistake a new claim or lock for the old one.

Failure accounting lives in the claim: `failures` counts attempts that failed (an error, or a holder that died);
a segment whose failures exceed the retries, or that failed on bad input (state "failed"), is refused to everyone.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HEARTBEAT_SECONDS = 3.0
STALE_SECONDS = 20.0  # several missed heartbeats: a pod that stopped (SIGKILL, lost node), not a slow disk


@dataclass(frozen=True)
class Claim:
    holder: str
    gen: int = 0  # how many claims came before this one: attempts = gen + 1
    failures: int = 0
    state: str = "held"  # held | released (failed, retry it, or stopped by SIGTERM) | failed (bad input)
    error: str = ""


@dataclass(frozen=True)
class Refused:
    """A segment nobody may claim any more: its last error, and why it is final."""

    index: int
    error: str


def claims_dir(workdir: Path) -> Path:
    return workdir / "claims"


def claim_path(workdir: Path, index: int) -> Path:
    return claims_dir(workdir) / f"seg-{index:05d}.claim"


def read_claim(path: Path) -> tuple[Claim, float] | None:
    """The claim and its heartbeat (mtime), or None when there is none."""
    try:
        st = path.stat()
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        # Created but not written yet (exclusive create, then write): held, by someone just starting. Stale only if
        # its writer died in between, which the heartbeat timeout tells as for any claim.
        return Claim(holder="?"), st.st_mtime
    return Claim(**data), st.st_mtime


def _write_new(path: Path, claim: Claim) -> bool:
    """Exclusive create; False when the file exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(asdict(claim)))
    return True


def _replace(path: Path, claim: Claim) -> None:
    tmp = path.with_name(f"{path.name}.{claim.holder.replace('/', '_')}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(claim)))
    os.replace(tmp, path)


class Claimer:
    """Claims for one worker (`holder`: the pod's name), over the segments of one work directory."""

    def __init__(
        self,
        workdir: Path,
        holder: str,
        retries: int,
        *,
        timeout: float = STALE_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.workdir = workdir
        self.holder = holder
        self.retries = retries
        self.timeout = timeout
        self.heartbeat = heartbeat
        claims_dir(workdir).mkdir(parents=True, exist_ok=True)

    def try_claim(self, index: int) -> Claim | Refused | None:
        """This worker's claim on the segment; Refused when it can never be done; None when another holds it."""
        path = claim_path(self.workdir, index)
        if _write_new(path, Claim(self.holder)):
            return Claim(self.holder)
        seen = read_claim(path)
        if seen is None:  # removed between the two calls (only a finished job removes claims)
            return None
        old, beat = seen
        if old.state == "failed" or old.failures > self.retries:
            return Refused(index, old.error or f"failed {old.failures} times")
        if old.state == "held" and time.time() - beat < self.timeout:
            return None
        # Released by its holder (its failure counted then), or stale: its holder died during the attempt.
        failures = old.failures + (1 if old.state == "held" else 0)
        error = old.error if old.state != "held" else f"worker {old.holder} stopped sending heartbeats"
        if failures > self.retries:
            return Refused(index, f"failed {failures} times; last: {error}")
        if not self._take_lock(index, old.gen):
            return None
        mine = Claim(self.holder, gen=old.gen + 1, failures=failures, error=error)
        _replace(path, mine)
        return mine

    def _take_lock(self, index: int, gen: int) -> bool:
        """The right to replace the claim of generation `gen`: one taker wins it."""
        for round_ in range(1000):
            lock = claims_dir(self.workdir) / f"seg-{index:05d}.take-{gen}-{round_}"
            if _write_new(lock, Claim(self.holder, gen=gen)):
                return True
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                return False
            if age < self.timeout:
                return False  # another worker is taking it over right now
        return False

    def still_mine(self, index: int, claim: Claim) -> bool:
        seen = read_claim(claim_path(self.workdir, index))
        return seen is not None and (seen[0].holder, seen[0].gen) == (claim.holder, claim.gen)

    def touch(self, index: int, claim: Claim) -> bool:
        """Refresh the heartbeat; False when the claim was taken over (this worker was thought dead)."""
        if not self.still_mine(index, claim):
            return False
        try:
            os.utime(claim_path(self.workdir, index))
        except FileNotFoundError:
            return False
        return True

    def release(self, index: int, claim: Claim, *, error: str = "", failed: bool = False, bad: bool = False) -> None:
        """Give the segment back: `failed` counts an attempt (retry it), `bad` refuses it to everyone; neither:
        stopped (SIGTERM), no attempt counted."""
        if not self.still_mine(index, claim):
            return
        state = "failed" if bad else "released"
        failures = claim.failures + (1 if failed or bad else 0)
        _replace(claim_path(self.workdir, index), Claim(self.holder, claim.gen, failures, state, error))

    def finish(self, index: int) -> None:
        """The segment is done (its result is on disk, which workers check before they claim): its claim and take
        locks go. A claim of a finished segment made after this is harmless: its worker finds the result and skips."""
        for path in claims_dir(self.workdir).glob(f"seg-{index:05d}.*"):
            path.unlink(missing_ok=True)


class Heartbeat:
    """A thread refreshing one claim's mtime every `claimer.heartbeat` seconds while the segment is processed."""

    def __init__(self, claimer: Claimer, index: int, claim: Claim) -> None:
        self.claimer, self.index, self.claim = claimer, index, claim
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"claim-heartbeat-{index}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.claimer.heartbeat):
            try:
                if not self.claimer.touch(self.index, self.claim):
                    self.lost = True
                    return
            except OSError:  # a volume hiccup: the next beat tries again, the timeout allows several misses
                continue
