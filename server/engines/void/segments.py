"""Splitting a shot into model-sized segments, and joining their results again.

The model takes at most ``max_samples`` frames at once (197 in the
reference, which simply cuts longer videos). A longer shot is split into
segments of balanced length that overlap by at least ``overlap`` model frames;
in each overlap the two results are cross-faded linearly, in pixel space.

Positions are indices into the job's frame list. With ``step`` > 1 (the
``12fps`` frame-rate mode) the model sees every ``step``-th frame plus the
last one; the frames in between are interpolated from its results.

Each segment is one work unit. Unit ``i`` delivers the positions from its
first frame up to the first frame of segment ``i + 1``; its first frames are
the fade from segment ``i - 1``, whose results there it reads from the job's
scratch folder.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class Segment:
    index: int
    samples: Tuple[int, ...]
    """Positions the model sees, ascending."""
    deliver: Tuple[int, int]
    """[start, stop) positions this segment's unit yields."""
    fade_in: Tuple[int, int]
    """[start, stop) positions blended with the previous segment (empty for the first)."""
    fade_out: Tuple[int, int]
    """[start, stop) positions the next segment blends with this one (empty for the last)."""

    @property
    def first(self) -> int:
        return self.samples[0]

    @property
    def last(self) -> int:
        return self.samples[-1]

    @property
    def positions(self) -> range:
        """Every position the segment has a result for."""
        return range(self.first, self.last + 1)


def sample_positions(count: int, step: int) -> List[int]:
    """Every ``step``-th position from 0, plus the last one so the shot's end is seen."""
    picked = list(range(0, count, step))
    if picked[-1] != count - 1:
        picked.append(count - 1)
    return picked


def plan_segments(count: int, step: int = 1, max_samples: int = 197, overlap: int = 16) -> List[Segment]:
    """Balanced, overlapping segments covering ``count`` positions."""
    if count < 1:
        raise ValueError("a shot needs at least one frame")
    if not 1 <= overlap < max_samples:
        raise ValueError(f"the overlap ({overlap}) must be at least 1 and below the segment length ({max_samples})")
    samples = sample_positions(count, step)
    total = len(samples)
    if total <= max_samples:
        return [Segment(0, tuple(samples), (0, count), (0, 0), (0, 0))]
    pieces = math.ceil((total - overlap) / (max_samples - overlap))
    length = math.ceil((total + (pieces - 1) * overlap) / pieces)
    starts = [round(i * (total - length) / (pieces - 1)) for i in range(pieces)]
    chosen = [tuple(samples[s:s + length]) for s in starts]
    segments = []
    for i, own in enumerate(chosen):
        fade_in = (own[0], chosen[i - 1][-1] + 1) if i > 0 else (0, 0)
        fade_out = (chosen[i + 1][0], own[-1] + 1) if i + 1 < pieces else (0, 0)
        deliver = (0 if i == 0 else own[0], chosen[i + 1][0] if i + 1 < pieces else count)
        segments.append(Segment(i, own, deliver, fade_in, fade_out))
    return segments


def fade_weight(position: int, fade: Tuple[int, int]) -> float:
    """Weight of the *later* segment at ``position`` of a fade: (k + 1) / (n + 1), never 0 or 1."""
    start, stop = fade
    return (position - start + 1) / (stop - start + 1)


def interpolate(samples: Sequence[int], frames: np.ndarray, positions: Optional[Sequence[int]] = None
                ) -> Dict[int, np.ndarray]:
    """Results at every position from results at ``samples`` (linear between neighbours)."""
    wanted = range(samples[0], samples[-1] + 1) if positions is None else positions
    out: Dict[int, np.ndarray] = {}
    for position in wanted:
        right = int(np.searchsorted(samples, position))
        if samples[right] == position:
            out[position] = frames[right]
            continue
        a, b = samples[right - 1], samples[right]
        t = np.float32((position - a) / (b - a))
        out[position] = (1 - t) * frames[right - 1] + t * frames[right]
    return out
