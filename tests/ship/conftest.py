"""Fixtures for the shipping tests: a real redis-server, the helm binary, chart rendering."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.redis_server import redis_server

__all__ = ["redis_server"]

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "videojob-operator"


def find_helm() -> Path:
    """VIDEOJOB_HELM (set by `build-controlplane.sh --print-env`), else the harness's asset dir, else PATH,
    else ask the harness's build script (it fetches helm when missing; cheap when it is there)."""
    for candidate in (os.environ.get("VIDEOJOB_HELM"), os.environ.get("KUBEBUILDER_ASSETS", "") + "/helm"):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    if found := shutil.which("helm"):
        return Path(found)
    script = REPO / "tests" / "cluster" / "build-controlplane.sh"
    out = subprocess.run([str(script), "--print-env"], capture_output=True, text=True, timeout=600)
    for line in out.stdout.splitlines():
        if line.startswith("export VIDEOJOB_HELM="):
            return Path(line.split("=", 1)[1])
    raise RuntimeError(f"no helm binary: tests/cluster/build-controlplane.sh failed: {out.stderr[-1000:]}")


@pytest.fixture(scope="session")
def helm() -> Path:
    return find_helm()


Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """`render(*--set args, namespace=...)`: the chart's objects as `helm template --include-crds` renders them."""

    def _render(*sets: str, namespace: str = "videojob-system", release: str = "vj") -> list[dict[str, Any]]:
        args = [str(helm), "template", release, str(CHART), "--namespace", namespace, "--include-crds"]
        for s in sets:
            args += ["--set", s]
        out = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return [d for d in yaml.safe_load_all(out.stdout) if d]

    return _render
