"""What the socket loop knows about a job, computed once so that no message costs per-frame work.

A shot is parsed once, when the job is created (on a helper thread), into a
small ``JobMeta``: the frame range, how result files are named, and where each
input role's frames live. The loop then keeps a ``LiveJob`` per job: which
results exist, which uploads are still missing, and the reference image spec of
each input sequence. Every message handler answers from these in constant time
(or in time proportional to what it sends back); the file system is scanned
only when a job is loaded after a restart.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from void_nuke.atomic import is_temp_name
from void_nuke.errors import VoidError
from void_nuke.exrio import ImageSpec, read_spec
from void_nuke.sequences import SequencePattern
from void_nuke.shot import Shot

from .store import RECEIVING, JobRecord


@dataclass(frozen=True)
class JobMeta:
    """The few facts about a shot the socket loop needs, as plain data (stored with the job)."""

    name: str
    frames: str
    first: int
    last: int
    engine: str
    output_name: str
    padding: int
    compression: str
    inputs: Dict[str, str]
    """Role → sequence pattern, as the server sees it."""
    channels: Dict[str, Optional[str]]
    """Role → the channel a matte is read from (None: alpha, or the only channel)."""

    @classmethod
    def from_shot(cls, shot: Shot) -> "JobMeta":
        frames = shot.process_frames
        channels = {f"{key}/{i}": m.channel for key, mattes in (("remove", shot.remove), ("affected", shot.affected))
                    for i, m in enumerate(mattes) if m.pattern is not None}
        return cls(name=shot.name, frames=str(shot.frames), first=frames.first, last=frames.last,
                   engine=shot.engine.name, output_name=shot.output_name, padding=shot.result_padding,
                   compression=shot.output.compression, inputs={r: s.pattern for r, s in shot.inputs()},
                   channels=channels)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "JobMeta":
        return cls(**data)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def has_frame(self, frame: Any) -> bool:
        return isinstance(frame, int) and not isinstance(frame, bool) and self.first <= frame <= self.last

    def result_name(self, frame: int) -> str:
        """``<output name>.<frame>.exr``, as ``Shot.result_name`` names it."""
        return f"{self.output_name}.{frame:0{self.padding}d}.exr"


@dataclass
class LiveJob:
    """One job as the socket loop sees it (kept in step with the store by the loop alone)."""

    record: JobRecord
    meta: JobMeta
    available: Set[int] = field(default_factory=set)
    """Result frames on disk."""
    missing: Set[Tuple[str, int]] = field(default_factory=set)
    """(role, frame) inputs not yet uploaded (pixel transfer while receiving)."""
    reference: Dict[str, ImageSpec] = field(default_factory=dict)
    """Per input role, the spec every further frame of that sequence must agree with."""
    last_upload: float = field(default_factory=time.time)
    """When an upload last made progress (or the job was created): a stalled upload times out from here."""
    last_frame: float = 0.0
    """When a frame was last stored (0: none since the server started)."""
    _patterns: Dict[str, SequencePattern] = field(default_factory=dict)
    _results: Optional[List[int]] = None
    _need: Optional[List[List[Any]]] = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> str:
        return self.record.state

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, record: JobRecord, meta: JobMeta) -> "LiveJob":
        """A job read back from the store: scan its result and input folders once."""
        job = cls(record, meta, last_upload=record.updated)
        job.available = job.scan_results()
        if record.transfer == "pixels" and record.state == RECEIVING:
            job.missing = job.scan_missing()
            job.reference = job.read_references()
        return job

    def scan_results(self) -> Set[int]:
        try:
            names = set(os.listdir(self.record.results_dir))
        except OSError:
            return set()
        return {f for f in range(self.meta.first, self.meta.last + 1) if self.meta.result_name(f) in names}

    def scan_missing(self) -> Set[Tuple[str, int]]:
        """Uploaded inputs are listed once per folder, not looked up frame by frame."""
        missing = set()
        listed: Dict[str, Set[str]] = {}
        for role in self.meta.inputs:
            seq = self.pattern(role)
            folder = seq.directory
            if folder not in listed:
                try:
                    listed[folder] = {n for n in os.listdir(folder) if not is_temp_name(n)}
                except OSError:
                    listed[folder] = set()
            names = listed[folder]
            missing |= {(role, f) for f in range(self.meta.first, self.meta.last + 1)
                        if os.path.basename(seq.path(f)) not in names}
        self.changed()
        return missing

    def read_references(self) -> Dict[str, ImageSpec]:
        """The spec of one uploaded frame per role: later uploads must agree with it."""
        found = {}
        for role in self.meta.inputs:
            frame = next((f for f in range(self.meta.first, self.meta.last + 1) if (role, f) not in self.missing),
                         None)
            if frame is not None:
                try:
                    found[role] = read_spec(self.pattern(role).path(frame))
                except VoidError:
                    pass
        return found

    # -- queries ---------------------------------------------------------------------------

    def pattern(self, role: str) -> SequencePattern:
        seq = self._patterns.get(role)
        if seq is None:
            seq = self._patterns[role] = SequencePattern(self.meta.inputs[role])
        return seq

    def results(self) -> List[int]:
        """The result frames on disk, sorted (kept until the next result arrives)."""
        if self._results is None:
            self._results = sorted(self.available)
        return self._results

    def need(self) -> List[List[Any]]:
        """The missing inputs as ``[[role, frame], ...]`` (kept until the next upload is stored)."""
        if self._need is None:
            self._need = [[r, f] for r, f in sorted(self.missing)]
        return self._need

    # -- updates ---------------------------------------------------------------------------

    def add_result(self, frame: int) -> bool:
        """Record a finished frame; False when it was already known."""
        if frame in self.available or not self.meta.has_frame(frame):
            return False
        self.available.add(frame)
        self._results = None
        return True

    def stored(self, role: str, frame: int) -> None:
        self.missing.discard((role, frame))
        self.last_upload = self.last_frame = time.time()
        self._need = None

    def uploading(self, within: float) -> bool:
        """True when a frame arrived in the last ``within`` seconds: some client is sending."""
        return time.time() - self.last_frame < within

    def changed(self) -> None:
        self._results = None
        self._need = None
