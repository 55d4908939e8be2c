"""A real Prometheus (Debian package) on a free loopback port, scraping given targets every second.

`prometheus_server` (function scope) is a factory: `prometheus_server(["127.0.0.1:9090"])` starts one and returns a
`Prometheus` with `query(expr)`; every server it started is stopped by pid at the end of the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PromQLError(Exception):
    pass


@dataclass
class Prometheus:
    proc: subprocess.Popen[bytes]
    port: int
    dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:  # 400/422: bad PromQL, with Prometheus' own message
            body = json.loads(e.read())
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query at the present; the result vector (or matrix)."""
        return list(self.api("query", query=expr)["result"])

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def log(self) -> str:
        path = self.dir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_prometheus(targets: list[str], workdir: Path, timeout: float = 60.0) -> Prometheus:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.access(binary, os.X_OK):
        raise RuntimeError("prometheus is not installed: run scripts/install-system-deps.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "videojob", "static_configs": [{"targets": targets}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
    with (workdir / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    prom = Prometheus(proc, port, workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited ({proc.returncode}): {prom.log()[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{prom.url}/-/ready", timeout=1) as r:
            if r.status == 200:
                return prom
        time.sleep(0.2)
    prom.stop()
    raise RuntimeError(f"prometheus not ready in {timeout}s: {prom.log()[-2000:]}")


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[Callable[[list[str]], Prometheus]]:
    started: list[Prometheus] = []

    def _start(targets: list[str]) -> Prometheus:
        prom = start_prometheus(targets, tmp_path / f"prometheus-{len(started)}")
        started.append(prom)
        return prom

    yield _start
    for prom in started:
        prom.stop()
