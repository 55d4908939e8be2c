"""How the pod runner turns a pod spec's values into a local process's: `$(VAR)` expansion, executables,
mount-path rewriting and downward-API fields (see podrunner's docstring for the deviations from kubelet)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from kubernetes import client

_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion over the container's env so far; unknown names stay, `$$` is a `$`."""
    return _VAR_REF.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def executable(name: str) -> str:
    """`python`/`python3` run this interpreter; other bare names found in the venv's bin dir (console scripts such
    as `videojob`) run from there, since PATH need not include it."""
    if re.fullmatch(r"python(3(\.\d+)?)?", name):
        return sys.executable
    local = Path(sys.executable).parent / name
    return str(local) if "/" not in name and local.is_file() else name


def rewrite(value: str, mounts: list[tuple[str, str]]) -> str:
    """A path under a mount, to the local directory standing for it; in a JSON value (VIDEOJOB_CONFIG), every
    string that starts with a mount path (a model or template on the volume), in one pass."""
    for mount, local in mounts:
        if value == mount or value.startswith(mount + "/"):
            return local + value[len(mount) :]
    if value.startswith("{") and mounts:
        locals_ = dict(mounts)
        quoted = re.compile('"(' + "|".join(re.escape(m) for m, _ in mounts) + ")/")
        return quoted.sub(lambda m: f'"{locals_[m.group(1)]}/', value)
    return value


def field_value(pod: client.V1Pod, path: str) -> str:
    m = re.fullmatch(r"metadata\.(annotations|labels)\['(.+)'\]", path)
    if m:
        return str(((getattr(pod.metadata, m.group(1)) or {}).get(m.group(2))) or "")
    simple = {
        "metadata.name": pod.metadata.name,
        "metadata.namespace": pod.metadata.namespace,
        "metadata.uid": pod.metadata.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path not in simple:
        raise RuntimeError(f"fieldRef {path} is not supported by the pod runner")
    return str(simple[path] or "")
