"""Root conftest: settings every test shares. Test support code lives in tests/support and tests/cluster."""

from __future__ import annotations

import os
from pathlib import Path

# Keep ultralytics off the network and out of $HOME in every test.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "ultralytics"))
