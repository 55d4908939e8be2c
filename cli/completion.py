"""`videojob completion bash|zsh|tcsh`: a shell completion script generated from the parser by shtab.

Static, like `kubectl completion bash`: pressing TAB runs no Python. In bash, a VideoJob name (status, watch,
logs, cancel) completes from `videojob list -o name` in the namespace given with -n on the same line.

    source <(videojob completion bash)                 # this shell
    videojob completion bash > /etc/bash_completion.d/videojob
    videojob completion zsh > "${fpath[1]}/_videojob"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "tcsh")

# Called by shtab's bash script with the word being completed as $1.
_BASH_JOBS = r"""
_videojob_jobs() {
  local args=() i
  for ((i=1; i<${#COMP_WORDS[@]}; i++)); do
    case "${COMP_WORDS[i]}" in
      -n|--namespace|--kubeconfig|--context) args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}") ;;
      --namespace=*|--kubeconfig=*|--context=*) args+=("${COMP_WORDS[i]}") ;;
    esac
  done
  compgen -W "$("${COMP_WORDS[0]}" list -o name "${args[@]}" 2>/dev/null | sed 's|.*/||')" -- "$1"
}
"""


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    from .main import build_parser

    parser = build_parser()
    _mark(parser)
    script = shtab.complete(parser, shell=args.shell, preamble={"bash": _BASH_JOBS})  # type: ignore[arg-type]
    if args.shell == "bash":  # the kubectl plugin's name completes the same way
        script = script.rstrip("\n") + "\ncomplete -o bashdefault -F _shtab_videojob kubectl-videojob\n"
    sys.stdout.write(script)
    return 0


def _mark(parser: argparse.ArgumentParser) -> None:
    """Paths complete as files; VideoJob names (metavar NAME) through _videojob_jobs."""
    import shtab

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _mark(child)
        elif action.metavar == "NAME" and not action.option_strings:
            action.complete = {"bash": "_videojob_jobs"}  # type: ignore[attr-defined]
        elif action.dest == "kubeconfig" or action.type is Path or _local_file(parser, action):
            action.complete = shtab.FILE  # type: ignore[attr-defined]


def _local_file(parser: argparse.ArgumentParser, action: argparse.Action) -> bool:
    """The files of `videojob run|probe|demo` (local paths, or s3:// URLs that a shell cannot complete)."""
    return parser.prog.split()[-1] in ("run", "probe", "demo") and action.dest in ("input", "output", "workdir")
