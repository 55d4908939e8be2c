"""The operator's readiness: `GET /readyz` answers 200 only while the API server answers it.

kopf's liveness endpoint (/healthz) says the process and its event loop are alive; a restart is the cure for
that. Readiness is another question, whose cure is not a restart: can the operator use the API right now? The
check is an authenticated discovery call for the VideoJob API group (GET /apis/videojob.dev/v1alpha1), so it
fails when the API server is unreachable, the credentials are refused, or the CRD is not served. Results are
cached for CACHE_SECONDS so that probes cost at most one small request that often.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import api, metrics

CACHE_SECONDS = 5.0
TIMEOUT = (3, 5)  # connect, read seconds: a probe's timeoutSeconds is longer


def api_server_check() -> None:
    """Raises when the API server cannot serve the VideoJob API to this operator's credentials."""
    import kubernetes

    kubernetes.client.CustomObjectsApi().get_api_resources(api.GROUP, api.VERSION, _request_timeout=TIMEOUT)


class Readiness:
    def __init__(self, check: Callable[[], None], cache_seconds: float = CACHE_SECONDS) -> None:
        self.check = check
        self.cache_seconds = cache_seconds
        self.lock = threading.Lock()
        self.checked = -1e9
        self.result: tuple[bool, str] = (False, "not checked yet")

    def status(self) -> tuple[bool, str]:
        with self.lock:
            if time.monotonic() - self.checked >= self.cache_seconds:
                try:
                    self.check()
                    self.result = (True, "ok: the API server answers")
                except Exception as e:  # any failure means "not ready"; the reason goes to the probe's output
                    why = " ".join(f"{type(e).__name__}: {e}".split())[:300]
                    self.result = (False, f"the API server cannot be used: {why}")
                metrics.api_check(self.result[0])
                self.checked = time.monotonic()
            return self.result


def serve(port: int, readiness: Readiness, addr: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve /readyz on addr:port from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name for it
            if self.path.split("?")[0] != "/readyz":
                self.send_error(404)
                return
            ok, message = readiness.status()
            body = (message + "\n").encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # one line per probe would drown the operator's log
            pass

    server = ThreadingHTTPServer((addr, port), Handler)
    threading.Thread(target=server.serve_forever, name="readyz", daemon=True).start()
    return server
