"""A real S3 server for the object-storage tests: SeaweedFS's `weed server -s3` on loopback ports.

`weed` is built from the Go module proxy by tests/support/build-seaweedfs.sh (`make test` runs it; VIDEOJOB_WEED
names the binary). `s3_server` (module scope: starting takes a few seconds) yields an `S3Server` with one identity
(access key, secret) and one bucket; `env()` gives the AWS_* variables a client of it needs. The server is stopped by
pid at the end. `ByteCounter` is a loopback TCP relay in front of it that counts the bytes the server sends: the
tests measure what a segment reads by pointing the endpoint at it (SigV4 signs the host the client talks to, which
the relay passes on unchanged).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cluster import procs
from cluster.pki import make_pki

from support.redis_server import free_port

REGION = "us-east-1"


def weed_binary() -> str:
    found = os.environ.get("VIDEOJOB_WEED", "")
    if found and os.access(found, os.X_OK):
        return found
    script = Path(__file__).with_name("build-seaweedfs.sh")
    out = subprocess.run([str(script), "--print-env"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"SeaweedFS is not built and its build failed: {out.stderr[-2000:]}")
    return out.stdout.strip().split("=", 1)[1]


@dataclass
class S3Server:
    binary: str
    dir: Path
    bucket: str = "videojob"
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    _client: Any = None
    _http: Any = None

    @property
    def port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_endpoint(self) -> str:
        """The same gateway over TLS, with a certificate for 127.0.0.1 from a CA of the test's own (`ca`)."""
        return f"https://127.0.0.1:{self.ports['s3_https']}"

    @property
    def ca(self) -> Path:
        return self.dir / "pki" / "ca.crt"

    def env(self, endpoint: str | None = None, **overrides: str) -> dict[str, str]:
        """The AWS_* variables of a client of this server (`endpoint`: another address in front of it)."""
        values = {
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        values.update(overrides)
        return values

    def start(self, timeout: float = 60.0) -> None:
        for name in (
            "master",
            "master_grpc",
            "volume",
            "volume_grpc",
            "filer",
            "filer_grpc",
            "s3",
            "s3_grpc",
            "s3_https",
        ):
            self.ports[name] = free_port()
        pki = make_pki(self.dir / "pki", ips=["127.0.0.1"], dns=["localhost"])
        config = self.dir / "s3.json"
        identity = {"accessKey": self.access_key, "secretKey": self.secret_key}
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "videojob",
                            "credentials": [identity],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        p = self.ports
        args = [
            self.binary, "server", "-ip=127.0.0.1", f"-dir={data}", "-s3", f"-s3.config={config}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}", "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64", "-volume.max=0", f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.dir / 'filer.sock'}", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.localSocket={self.dir / 's3.sock'}",
            # A missing bucket must stay missing: the tests check that an upload to one fails.
            "-s3.autoCreateBucket=false",
            f"-s3.port.https={p['s3_https']}", f"-s3.cert.file={pki.cert('apiserver')}",
            f"-s3.key.file={pki.key('apiserver')}",
        ]  # fmt: skip
        # Its own session, stopped by pid; killed with the test run if that dies before its teardown (PDEATHSIG).
        self.proc = procs.start(args, self.dir / "weed.log")
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Ready when the bucket can be made: the S3 gateway, filer, master and a volume server all answer."""
        client = self.client()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"weed exited ({self.proc.returncode}): {self.log()[-3000:]}")
            try:
                if not client.bucket_exists(self.bucket):
                    client.make_bucket(self.bucket)
                client.put_object(self.bucket, ".ready", _BytesReader(b"ok"), 2)
                client.remove_object(self.bucket, ".ready")
                return
            except Exception as exc:  # not up yet: connection refused, 503 while the volume server registers
                last = exc
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 did not get ready in {timeout}s ({last}): {self.log()[-3000:]}")

    def client(self) -> Any:
        """The test's own client (one, whose connections stop() closes)."""
        if self._client is None:
            import urllib3
            from minio import Minio

            self._http = urllib3.PoolManager(retries=urllib3.Retry(total=0))
            self._client = Minio(
                f"127.0.0.1:{self.port}",
                self.access_key,
                self.secret_key,
                secure=False,
                region=REGION,
                http_client=self._http,
            )
        return self._client

    def stop(self) -> None:
        if self._http is not None:
            self._http.clear()
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        path = self.dir / "weed.log"
        return path.read_text(errors="replace") if path.exists() else ""


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        chunk, self._pos = self._data[self._pos : end], min(end, len(self._data))
        return chunk


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(weed_binary(), tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class ByteCounter:
    """A TCP relay on a free loopback port to `target_port`, counting the bytes each way (server → client is what
    a reader downloaded). Threads, one pair per connection; `close()` stops accepting and joins them.

    `cut_after`: a connection that has carried more than this many bytes to the server is cut (a network that
    fails in the middle of an upload)."""

    def __init__(self, target_port: int, cut_after: int | None = None) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.to_client = 0
        self.to_server = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.to_client = self.to_server = self.connections = 0

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.connections += 1
            done: list[bool] = []  # the pump that ends second closes both sockets
            for src, dst, up in ((client, server, True), (server, client, False)):
                t = threading.Thread(target=self._pump, args=(src, dst, up, done), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool, done: list[bool]) -> None:
        carried = 0
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                carried += len(chunk)
                with self._lock:
                    if up:
                        self.to_server += len(chunk)
                    else:
                        self.to_client += len(chunk)
                if up and self.cut_after is not None and carried > self.cut_after:
                    break
                dst.sendall(chunk)
        for s in (src, dst):  # one side closed: shut both, so that the other pump ends too
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        with self._lock:
            done.append(True)
            last = len(done) == 2
        if last:
            src.close()
            dst.close()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._accepter.join(5)
        for t in self._threads:
            t.join(5)


def http_status(url: str) -> int:
    """The status of a plain GET (for checks that an object is not there to anyone)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
