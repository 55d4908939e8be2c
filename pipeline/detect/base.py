"""The Detector interface: frames in (BGR uint8, display order), boxes out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .regions import Box


class Detector(Protocol):
    name: str

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Box]]:
        """One list of boxes per frame; frames are BGR uint8 HxWx3 in display order."""
        ...

    def reset(self) -> None:
        """Forget tracking state (call between unrelated runs of frames)."""
        ...
