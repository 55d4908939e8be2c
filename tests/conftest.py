"""Root conftest: settings every test shares. Test support code lives in tests/support and tests/cluster."""

from __future__ import annotations

import os
from pathlib import Path

# One definition for the whole session: a fixture imported into several conftests is one instance per directory,
# and the test node (one containerd store per machine) must not run twice at once.
from cluster.fixtures import kube, namespace

__all__ = ["kube", "namespace"]

# Keep ultralytics off the network and out of $HOME in every test.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "ultralytics"))
