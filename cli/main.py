"""The `videojob` (and `kubectl-videojob`) command line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

# Each module contributes sub-commands through add_parsers(subparsers); imported lazily by name
# so that `videojob watch` does not pay for importing torch, and `videojob run` not for kubernetes.
COMMAND_MODULES = ("videojob.cli.local", "videojob.cli.kube", "videojob.cli.completion")


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other error: argparse would print the whole usage block first, which
    buries the line that says what is wrong. Sub-parsers inherit the class (add_subparsers uses type(self))."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("videojob")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="videojob", description="Segment-parallel GPU video processing.")
    parser.add_argument("--version", action="version", version=f"videojob {version()}", help="print the version")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("videojob: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a fault no command foresaw: still one line, the traceback on request
        if os.environ.get("VIDEOJOB_TRACEBACK"):
            traceback.print_exc()
        line = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"videojob: internal error: {line} (VIDEOJOB_TRACEBACK=1 shows where)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
