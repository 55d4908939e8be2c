"""An interactive bash on a pseudo-terminal, for tests of what a person sees: completion, help, prompts."""

from __future__ import annotations

import os
import pty
import select
import time


class Terminal:
    """bash -i on a pseudo-terminal: what a person types, and what the shell draws."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: an interactive bash without the user's rc files
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.read(1.0)

    def read(self, seconds: float) -> str:
        out, end = b"", time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    out += os.read(self.fd, 65536)
                except OSError:
                    break
        return out.decode(errors="replace")

    def type(self, keys: str, seconds: float = 2.0) -> str:
        os.write(self.fd, b"\x15" + keys.encode())  # ^U: an empty line first
        return self.read(seconds)

    def close(self) -> None:
        os.write(self.fd, b"\x15exit\n")
        os.waitpid(self.pid, 0)
        os.close(self.fd)
