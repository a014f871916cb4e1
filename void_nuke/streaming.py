"""Results that stream into a host while a job runs: rate limits, the landed range, the node's status line.

Plain Python, no host: ``void_nuke.nuke.jobs`` uses these to update a VOID
node at most a few times a second however fast progress arrives, to extend
its result Read over the frames that have landed, and to say where the job
is frame by frame.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Optional, Tuple

from .panel_model import describe_progress
from .progress import Progress


class Throttle:
    """Calls ``fire`` at most once per ``interval`` seconds; a request inside the interval is deferred.

    A deferred request is not lost: one trailing call runs when the interval
    has passed (from a timer thread, so ``fire`` must be safe to call from any
    thread). Requests while a trailing call is pending fold into it.
    """

    def __init__(self, interval: float, fire: Callable[[], None], clock: Callable[[], float] = time.monotonic,
                 timer: Callable[[float, Callable[[], None]], object] = None) -> None:  # type: ignore[assignment]
        self.interval = interval
        self._fire = fire
        self._clock = clock
        self._timer = timer or _start_timer
        self._lock = threading.Lock()
        self._last: Optional[float] = None
        self._pending = False

    def request(self) -> None:
        with self._lock:
            if self._pending:
                return
            now = self._clock()
            wait = 0.0 if self._last is None else self._last + self.interval - now
            if wait > 0:
                self._pending = True
            else:
                self._last = now
        if wait > 0:
            self._timer(wait, self._trailing)
        else:
            self._fire()

    def _trailing(self) -> None:
        with self._lock:
            if not self._pending:
                return
            self._pending = False
            self._last = self._clock()
        self._fire()

    def flush(self) -> None:
        """Run a pending trailing call now (at the end of a job)."""
        self._trailing()


def _start_timer(delay: float, call: Callable[[], None]) -> object:
    timer = threading.Timer(delay, call)
    timer.daemon = True
    timer.start()
    return timer


def landed_range(frames: Iterable[int]) -> Optional[Tuple[int, int]]:
    """The run of consecutive frames that starts at the first landed frame, or None.

    Results mostly land in order; a frame past a gap is not shown until the
    gap fills, so the range a Read shows never holds a missing file.
    """
    got = sorted(set(frames))
    if not got:
        return None
    last = got[0]
    for frame in got[1:]:
        if frame != last + 1:
            break
        last = frame
    return got[0], last


def node_status(version: Optional[str], landed: int, total: int, progress: Progress) -> str:
    """The VOID node's status line while a job runs: ``v003 · 12/48 frames · engine 30% · ETA 1m05s``."""
    parts = []
    if version:
        parts.append(version)
    if total:
        parts.append(f"{landed}/{total} frames")
    parts.append(describe_progress(progress))
    return " · ".join(parts)
