"""Progress: the events a job reports, and the one reporter every command prints them with.

A job reports ``Progress`` events from several places at once: the client
uploading frames, the server building masks and running the engine, the
client writing results while the engine still runs. ``JobTracker`` folds them
into one overall fraction that never goes backwards and one stage that only
moves forward (upload → masks → engine → download → done), and
``make_reporter`` shows that view in the form the reader wants:

``bar``
    one tqdm bar on a terminal, with elapsed time and ETA;
``plain``
    log lines: one when a stage starts and one per tenth of the job, with ETA;
``openjd``
    ``openjd_progress: 42.0`` and ``openjd_status: ...`` lines, the stdout
    messages Open Job Description sessions parse (a float from 0 to 100);
``deadline``
    ``Progress: 42%`` lines (a whole percentage) for Deadline 10's
    CommandLine plugin, plus a plain line when a stage starts;
``auto``
    ``bar`` when the stream is a terminal, ``plain`` otherwise.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Optional, Sequence, TextIO, Tuple

PROGRESS_MODES = ("auto", "bar", "plain", "openjd", "deadline")
STAGE_ORDER = ("upload", "masks", "engine", "download", "done")
"""The stages of a job in the order they start; the shown stage never moves back in this list."""
COMPUTE_STAGES = ("masks", "engine", "done")
"""Stages whose ``fraction`` is the server's share of the job done, in [0, 1]."""


@dataclass(frozen=True)
class Progress:
    job_id: str
    stage: str
    frame: Optional[int] = None
    done: int = 0
    total: int = 0
    fraction: float = 0.0
    """Overall fraction of the job in [0, 1]."""
    eta_s: Optional[float] = None
    message: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Progress":
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in fields})


class EtaClock:
    """Estimates time left from the fraction done since ``start``."""

    def __init__(self, start_fraction: float = 0.0) -> None:
        self.t0 = time.monotonic()
        self.f0 = start_fraction

    def eta(self, fraction: float) -> Optional[float]:
        done = fraction - self.f0
        if done <= 1e-6:
            return None
        elapsed = time.monotonic() - self.t0
        return max(0.0, elapsed * (1.0 - fraction) / done)


def format_eta(seconds: Optional[float]) -> str:
    """``eta 4:12`` (or ``eta 1:02:03``), or an empty string when unknown."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    hours, rest = divmod(s, 3600)
    return f"eta {hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"eta {rest // 60}:{rest % 60:02d}"


# -- folding events into one view ------------------------------------------------------------

@dataclass(frozen=True)
class Lane:
    """A share of the job's bar: the stages that feed it and its weight in the whole."""

    name: str
    weight: float
    stages: Tuple[str, ...] = ()
    """Stages reported on this lane (default: the stage named like the lane)."""
    parallel: bool = False
    """Runs beside the lane before it (downloads arrive while the engine runs), so starting it
    does not complete that lane."""

    def feeds(self, stage: str) -> bool:
        return stage in (self.stages or (self.name,))


SUBMIT_LANES = (Lane("upload", 0.1), Lane("compute", 0.8, COMPUTE_STAGES), Lane("download", 0.1, parallel=True))
ATTACH_LANES = (Lane("compute", 0.9, COMPUTE_STAGES), Lane("download", 0.1, parallel=True))
RUN_LANES = (Lane("compute", 1.0, COMPUTE_STAGES),)


def stage_lanes(*stages: str) -> Tuple[Lane, ...]:
    """Equal lanes for stages that run one after the other (``plate`` then ``mask``)."""
    return tuple(Lane(name, 1.0) for name in stages)


@dataclass(frozen=True)
class View:
    """What a reporter shows: where the whole job is."""

    fraction: float
    stage: str
    message: str
    eta_s: Optional[float]


class JobTracker:
    """One job's events → one overall fraction that never decreases and a stage that only moves on."""

    def __init__(self, lanes: Sequence[Lane] = SUBMIT_LANES) -> None:
        self.lanes = list(lanes)
        self.done = [0.0] * len(self.lanes)
        self.stage = ""
        self.message = ""
        self.fraction = 0.0
        self.clock = EtaClock()

    def _lane(self, stage: str) -> Optional[int]:
        for i, lane in enumerate(self.lanes):
            if lane.feeds(stage):
                return i
        return None

    def update(self, p: Progress) -> View:
        i = self._lane(p.stage)
        if i is not None:
            lane = self.lanes[i]
            if p.stage == "done":
                value = 1.0
            elif p.stage in COMPUTE_STAGES:
                value = p.fraction
            else:
                value = p.done / p.total if p.total else p.fraction
            self.done[i] = max(self.done[i], min(max(value, 0.0), 1.0))
            before = i - 1 if lane.parallel else i
            for j in range(before):
                self.done[j] = 1.0  # a later stage started: the ones before it are over
        total_weight = sum(lane.weight for lane in self.lanes) or 1.0
        overall = sum(lane.weight * d for lane, d in zip(self.lanes, self.done)) / total_weight
        self.fraction = max(self.fraction, min(overall, 1.0))
        if self._later(p.stage):
            self.stage = p.stage
        if p.stage == self.stage or not self.message:
            self.message = p.message
        return self.view()

    def _later(self, stage: str) -> bool:
        """Whether ``stage`` is at or after the one shown (stages outside STAGE_ORDER keep their order of arrival)."""
        if stage not in STAGE_ORDER or self.stage not in STAGE_ORDER:
            return stage != self.stage or not self.stage
        if stage == "download" and self.stage in ("upload", "masks", "engine") and self.done[self._compute()] < 1.0:
            return False  # results stream in while the engine runs: keep showing the engine
        return STAGE_ORDER.index(stage) >= STAGE_ORDER.index(self.stage)

    def _compute(self) -> int:
        i = self._lane("engine")
        return i if i is not None else 0

    def view(self) -> View:
        return View(self.fraction, self.stage, self.message, self.clock.eta(self.fraction))


# -- showing it -------------------------------------------------------------------------------

class Reporter:
    """Takes ``Progress`` events (from any thread) and prints the job's view; ``close`` at the end."""

    def __init__(self, stream: TextIO, lanes: Sequence[Lane] = SUBMIT_LANES) -> None:
        self.stream = stream
        self.tracker = JobTracker(lanes)
        self.lock = threading.Lock()

    def __call__(self, p: Progress) -> None:
        with self.lock:
            self.show(self.tracker.update(p))

    def show(self, view: View) -> None:
        raise NotImplementedError

    def note(self, text: str) -> None:
        """A line of its own (a warning, a result) that does not break a bar."""
        with self.lock:
            self.write(text)

    def write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away (a closed pipe); progress is not worth failing for

    def close(self) -> None:
        """The command is over (done or not): finish the bar or the log."""


class PlainReporter(Reporter):
    """Log lines: one when a stage starts, one per tenth of the job, with the ETA."""

    def __init__(self, stream: TextIO, lanes: Sequence[Lane] = SUBMIT_LANES) -> None:
        super().__init__(stream, lanes)
        self._shown: Tuple[str, int] = ("", -1)

    def show(self, view: View) -> None:
        key = (view.stage, int(view.fraction * 10 + 1e-9))
        if key == self._shown:
            return
        self._shown = key
        self.write(plain_line(view))


def plain_line(view: View, prefix: str = "", clock: bool = True) -> str:
    """``14:02:11 [sh010] engine    53.2% eta 4:12 frame 1025`` (``clock``: the time in front)."""
    eta = format_eta(view.eta_s)
    parts = ([time.strftime("%H:%M:%S")] if clock else []) + [f"{prefix}{view.stage:<8}",
                                                               f"{view.fraction * 100:5.1f}%"]
    return " ".join(parts + ([eta] if eta else []) + ([view.message] if view.message else []))


class BarReporter(Reporter):
    """One tqdm bar whose fraction never goes backwards, with elapsed time and ETA."""

    BAR_FORMAT = "{desc:<9}{percentage:5.1f}%|{bar}| {elapsed}<{remaining}{postfix}"
    """``engine    53.2%|█████▎    | 04:40<04:12, frame 1025`` (tqdm puts the comma before the message)."""

    def __init__(self, stream: TextIO, lanes: Sequence[Lane] = SUBMIT_LANES) -> None:
        super().__init__(stream, lanes)
        from tqdm import tqdm

        self.bar = tqdm(total=100.0, file=stream, bar_format=self.BAR_FORMAT, dynamic_ncols=True,
                        leave=True, mininterval=0.2, desc="start")

    def show(self, view: View) -> None:
        step = view.fraction * 100.0 - self.bar.n
        if view.stage and view.stage != self.bar.desc:
            self.bar.set_description_str(view.stage, refresh=False)
        self.bar.set_postfix_str(view.message[:60], refresh=False)
        if step > 0:
            self.bar.update(step)
        else:
            self.bar.refresh()

    def note(self, text: str) -> None:
        with self.lock:
            self.bar.write(text, file=self.stream)

    def close(self) -> None:
        with self.lock:
            self.bar.close()


class FarmReporter(Reporter):
    """A line when a stage starts and a line when the percentage, as the farm's monitor reads it, changes."""

    def __init__(self, stream: TextIO, lanes: Sequence[Lane] = SUBMIT_LANES) -> None:
        super().__init__(stream, lanes)
        self._percent = ""
        self._stage = ""

    def show(self, view: View) -> None:
        if view.stage != self._stage:
            self._stage = view.stage
            self.write(self.stage_line(view))
        percent = self.percent_line(view.fraction * 100.0)
        if percent != self._percent:
            self._percent = percent
            self.write(percent)

    def stage_line(self, view: View) -> str:
        raise NotImplementedError

    def percent_line(self, percent: float) -> str:
        raise NotImplementedError


class OpenJDReporter(FarmReporter):
    """``openjd_progress: N`` when the tenth of a percent changes, ``openjd_status: ...`` per stage."""

    def stage_line(self, view: View) -> str:
        return f"openjd_status: {view.stage} {view.message}".rstrip()

    def percent_line(self, percent: float) -> str:
        return f"openjd_progress: {round(percent, 1):.1f}"


class DeadlineReporter(FarmReporter):
    """``Progress: N%`` (a whole number) when it changes, and a plain line when a stage starts."""

    def stage_line(self, view: View) -> str:
        return plain_line(view)

    def percent_line(self, percent: float) -> str:
        return f"Progress: {int(percent + 1e-9)}%"


_REPORTERS: Dict[str, Callable[..., Reporter]] = {
    "bar": BarReporter, "plain": PlainReporter, "openjd": OpenJDReporter, "deadline": DeadlineReporter,
}


def resolve_mode(mode: str, stream: TextIO) -> str:
    """``auto`` → ``bar`` on a terminal, ``plain`` otherwise."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"unknown progress mode {mode!r}; use one of {', '.join(PROGRESS_MODES)}")
    if mode != "auto":
        return mode
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "plain"


def farm_stream(mode: str, machine_output: bool) -> TextIO:
    """Where a mode prints: farm formats on stdout (where farm monitors read), unless stdout
    carries a ``--json`` document; people's formats always on stderr."""
    if mode in ("openjd", "deadline") and not machine_output:
        return sys.stdout
    return sys.stderr


def make_reporter(mode: str = "auto", lanes: Sequence[Lane] = SUBMIT_LANES,
                  stream: Optional[TextIO] = None, machine_output: bool = False) -> Reporter:
    """The reporter for ``--progress MODE``; ``machine_output`` when stdout carries ``--json``."""
    out = stream or farm_stream(mode, machine_output)
    return _REPORTERS[resolve_mode(mode, out)](out, lanes)


# -- many jobs at once ------------------------------------------------------------------------

class BatchReporter:
    """Progress of many shots: per-shot lines (``plain``) or one view of the whole batch.

    The batch's fraction is the mean of its shots' (a finished shot, done or not, counts whole),
    so it never goes backwards either. Called from worker threads.
    """

    def __init__(self, names: Sequence[str], mode: str = "auto", lanes: Sequence[Lane] = SUBMIT_LANES,
                 stream: Optional[TextIO] = None, machine_output: bool = False, clock: bool = True) -> None:
        """``clock=False`` leaves the time out of plain lines (a log file stamps its own)."""
        out = stream or farm_stream(mode, machine_output)
        self.mode = resolve_mode(mode, out)
        self.stream = out
        self.trackers: Dict[str, JobTracker] = {n: JobTracker(lanes) for n in names}
        self.finished: Dict[str, bool] = {}
        self.lock = threading.Lock()
        self.whole = _REPORTERS[self.mode](out, lanes)
        self._lines: Dict[str, Tuple[str, int]] = {}
        self.clock = clock

    def __call__(self, name: str, p: Progress) -> None:
        with self.lock:
            view = self.trackers[name].update(p)
            if self.mode == "plain":
                key = (view.stage, int(view.fraction * 10 + 1e-9))
                if self._lines.get(name) != key:
                    self._lines[name] = key
                    self.whole.write(plain_line(view, f"[{name}] ", self.clock))
                return
            self._show_whole(f"{name}: {view.stage}")

    def _show_whole(self, message: str) -> None:
        shares = [1.0 if n in self.finished else t.fraction for n, t in self.trackers.items()]
        tracker = self.whole.tracker
        tracker.fraction = max(tracker.fraction, sum(shares) / max(1, len(shares)))
        stage = f"{len(self.finished)}/{len(shares)} shots"
        self.whole.show(View(tracker.fraction, stage, message, tracker.clock.eta(tracker.fraction)))

    def finish(self, name: str, line: str) -> None:
        """A shot ended; ``line`` says how."""
        with self.lock:
            self.finished[name] = True
            if self.mode == "plain":
                self.whole.write((time.strftime("%H:%M:%S ") if self.clock else "") + f"[{name}] {line}")
                return
            self.whole.note(f"[{name}] {line}")
            self._show_whole(f"{name} {line.split(':')[0]}")

    def note(self, text: str) -> None:
        """A line of its own, as ``Reporter.note``."""
        self.whole.note(text)

    def close(self) -> None:
        self.whole.close()
