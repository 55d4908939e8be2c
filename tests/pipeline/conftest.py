from __future__ import annotations

from pathlib import Path

import pytest
from support.cases import FPS, FRAMES, HEIGHT, WIDTH
from support.media import make_clip


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # gop 24 with segment boundaries that do not fall on keyframes: decoding must be frame-exact.
    # Lossless, so that quality measured against it is ours alone, not an echo of the source's own GOP structure.
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", WIDTH, HEIGHT, FRAMES, FPS, gop=24, crf=0)
