"""Frame ranges and image-sequence patterns, with Nuke's padding rules.

Nuke writes ``plate.####.exr`` (one ``#`` per digit) or ``plate.%04d.exr``.
fileseq's default treats ``#`` as four digits (Houdini style), so every call
here passes ``PAD_STYLE_HASH1``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, List, Sequence

import fileseq

from .errors import ShotError
from .limits import MAX_FRAME_NUMBER, MAX_FRAMES_TEXT, MAX_JOB_FRAMES

PAD_STYLE = fileseq.PAD_STYLE_HASH1


@dataclass(frozen=True)
class FrameRange:
    """An inclusive, contiguous range of the plate's own frame numbers."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ShotError("frames", f"last frame {self.last} is before first frame {self.first}")

    @classmethod
    def parse(cls, text: str, field: str = "frames") -> "FrameRange":
        """Parse ``1001-1024`` or ``1001`` (fileseq syntax; must be contiguous).

        Nothing here is proportional to the number of frames: a range of millions of frames is
        refused by its length alone (``MAX_JOB_FRAMES``), never listed.
        """
        text = str(text).strip()
        if len(text) > MAX_FRAMES_TEXT:
            raise ShotError(field, f"frame range text is {len(text)} characters long; the limit is "
                                   f"{MAX_FRAMES_TEXT}")
        try:
            fs = fileseq.FrameSet(text)
        except fileseq.exceptions.MaxSizeException:
            raise ShotError(field, f"frame range {text!r} is over the {MAX_JOB_FRAMES}-frame limit of one "
                                   "job; split the shot") from None
        except (fileseq.exceptions.FileSeqException, ValueError, TypeError):
            raise ShotError(field, f"cannot read frame range {text!r}; write it like 1001-1024") from None
        count = len(fs)
        if not count:
            raise ShotError(field, f"frame range {text!r} is empty")
        if count > MAX_JOB_FRAMES:
            raise ShotError(field, f"frame range {text!r} has {count} frames; one job processes at most "
                                   f"{MAX_JOB_FRAMES}: split the shot")
        frames = [int(f) for f in fs]
        first, last = min(frames), max(frames)
        if count != last - first + 1:
            raise ShotError(field, f"frame range {text!r} has gaps; VOID needs a contiguous range "
                                   "(submit each contiguous part as its own shot)")
        if max(abs(first), abs(last)) > MAX_FRAME_NUMBER:
            raise ShotError(field, f"frame numbers are limited to {MAX_FRAME_NUMBER}, got {text!r}")
        return cls(first, last)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}" if self.last != self.first else str(self.first)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first, self.last + 1))

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, int) and self.first <= frame <= self.last

    def extended(self, head: int, tail: int) -> "FrameRange":
        return FrameRange(self.first - head, self.last + tail)


class SequencePattern:
    """A frame-numbered file path such as ``/plates/sh010.####.exr``."""

    def __init__(self, pattern: str) -> None:
        self.pattern = str(pattern)
        try:
            self._seq = fileseq.FileSequence(self.pattern, pad_style=PAD_STYLE)
        except fileseq.ParseException as exc:
            raise ShotError("pattern", f"cannot read sequence pattern {pattern!r}: {exc}") from None
        if not self._seq.padding():
            raise ShotError("pattern", f"{pattern!r} has no frame number; write it like "
                                       "plate.####.exr or plate.%04d.exr")

    def path(self, frame: int) -> str:
        return self._seq.frame(int(frame))

    @property
    def directory(self) -> str:
        return self._seq.dirname() or "."

    @property
    def basename(self) -> str:
        """The file name before the frame number, without a trailing separator: ``sh010``."""
        return self._seq.basename().rstrip("._-") or "frames"

    @property
    def prefix(self) -> str:
        """The file name before the frame number, separator included: ``sh010.``."""
        return os.path.basename(self._seq.basename())

    @property
    def extension(self) -> str:
        return self._seq.extension()

    @property
    def padding(self) -> int:
        return int(self._seq.zfill())

    def missing(self, frames: Sequence[int]) -> List[int]:
        return [f for f in frames if not os.path.isfile(self.path(f))]

    def nuke_pattern(self) -> str:
        """The pattern in Nuke's ``####`` notation."""
        name = f"{self._seq.basename()}{'#' * self.padding}{self.extension}"
        return os.path.join(self._seq.dirname(), name)

    def __str__(self) -> str:
        return self.pattern

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SequencePattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)
