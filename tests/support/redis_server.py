"""A real `redis-server` (Debian package) on a free loopback port, for the progress tests.

`redis_server` (function scope) yields a `RedisServer`; `kill()` stops it mid-test (to test degrading),
`start()` brings it back on the same port. The fixture stops it by pid at the end. `secured_redis` is the same with
`requirepass` set: its `url` carries the password, as a production URL would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    binary: str
    port: int
    dir: Path
    password: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None)
    # Where it runs: `wrap` prefixes the command (the test node's namespace: cluster.node.Node.enter_net), `bind`
    # is its listen address there and `advertise` the host in `url`, the address its clients (pods) use.
    wrap: list[str] = field(default_factory=list)
    bind: str = "127.0.0.1"
    advertise: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """For the operator and the pods."""
        return self._url(self.advertise)

    @property
    def local_url(self) -> str:
        """For the test itself, on the host's loopback."""
        return self._url("127.0.0.1")

    def _url(self, host: str) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        # No persistence: nothing written outside the temp dir, nothing kept between starts.
        args = [*self.wrap, self.binary, "--bind", self.bind, "--port", str(self.port), "--dir", str(self.dir)]
        # protected mode refuses clients from other addresses without a password: off only inside the test node
        protected = "yes" if self.bind == "127.0.0.1" else "no"
        args += ["--save", "", "--appendonly", "no", "--protected-mode", protected, "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        log = (self.dir / "redis.log").open("ab")
        with log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}): {self.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # up (NOAUTH: up, with a password)
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port} in {timeout}s: {self.log()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL by pid: the way a node loss or OOM kill looks to clients."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its session: nsenter and redis-server under it
        self.proc.wait(10)

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


def redis_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else "")
    if not found:
        raise RuntimeError("redis-server is not installed: run scripts/install-system-deps.sh")
    return found


def serve(tmp_path: Path, password: str | None, port: int = 0, **placement: Any) -> Iterator[RedisServer]:
    """A started server, killed afterwards; `placement`: RedisServer's wrap, bind and advertise."""
    server = RedisServer(redis_binary(), port or free_port(), tmp_path / "redis", password, **placement)
    server.dir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from serve(tmp_path, None)


@pytest.fixture
def secured_redis(tmp_path: Path) -> Iterator[RedisServer]:
    yield from serve(tmp_path, "pw-" + os.urandom(6).hex())
