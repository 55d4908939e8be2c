"""The `videojob` (and `kubectl-videojob`) command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module contributes sub-commands through add_parsers(subparsers); imported lazily by name
# so that `videojob watch` does not pay for importing torch, and `videojob run` not for kubernetes.
COMMAND_MODULES = ("videojob.cli.local", "videojob.cli.kube")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videojob", description="Segment-parallel GPU video processing.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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


if __name__ == "__main__":
    sys.exit(main())
