"""Scene cuts from the packets alone: where the source's encoder started a picture over, no frame decoded.

Encoders put a keyframe at a scene cut (x264, x265, NVENC and libvpx all detect cuts); when their minimum GOP
length forbids one there, they still code the frame intra, and an intra frame is many times the size of the
predicted frames before it. Both are where a segment's own encoder would start its GOP: a boundary there costs
no bits a single encode would not have spent, and a keyframe boundary decodes no lead-in.
"""

from __future__ import annotations

import numpy as np

# A frame is coded intra when its packet is this many times the median of the packets before it...
RATIO = 4.0
# ...over this many frames (display order: B-frames and P-frames mixed),
WINDOW = 10
# ...and at least this fraction of a typical keyframe's size (a P-frame after tiny B-frames is not a cut).
KEYFRAME_SHARE = 0.5


def packet_cuts(sizes: np.ndarray, keyframes: np.ndarray) -> list[int]:
    """Frame indexes (display order, > 0) that start a new picture sequence: every keyframe, and every frame whose
    packet is as big as an intra frame after small ones.

    Where an encoder missed a cut, its first predicted frame after it is coded intra and the B-frames shown before
    it may already belong to the new scene (or still to the old: the packets cannot tell), so the cut found is the
    one the encoder coded, at most a B-run late."""
    cuts = {int(k) for k in keyframes if k > 0}
    if len(sizes) > 1:
        typical_key = float(np.median(sizes[keyframes])) if len(keyframes) else float(np.max(sizes))
        # Only big packets are judged against the ones before them, all at once: hours of video are a million.
        big = np.flatnonzero(sizes >= KEYFRAME_SHARE * typical_key)
        big = big[big > 0]
        if big.size:
            padded = np.concatenate((np.full(WINDOW, np.nan), sizes.astype(np.float64)))
            before = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[big]  # row j: the WINDOW before big[j]
            jumps = sizes[big] >= RATIO * np.nanmedian(before, axis=1)
            cuts.update(int(i) for i in big[jumps])
    return sorted(cuts)
