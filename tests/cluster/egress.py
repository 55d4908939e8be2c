"""The API server's way into the test node's network namespace: an HTTP CONNECT proxy on a Unix socket.

kube-apiserver's EgressSelectorConfiguration sends its `cluster` traffic (kubelet logs/exec/port-forward, the
pods and services proxy) as HTTP CONNECT over a Unix socket, as it does to konnectivity. This process runs inside
the node's network namespace, so the host's namespace needs no route, interface or firewall rule.

    python egress.py SOCKET
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if method != "CONNECT":
            raise ValueError(f"not a CONNECT: {method}")
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), 10)
    except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
        with contextlib.suppress(Exception):
            writer.write(f"HTTP/1.1 502 Bad Gateway\r\n\r\n{exc}".encode())
            writer.close()
        return
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def main(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(_serve, path)
    os.chmod(path, 0o600)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
