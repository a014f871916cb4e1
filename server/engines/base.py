"""The interface every engine implements.

The job runner owns files, quadmasks and compositing; an engine only turns a
plate and its quadmask into new RGB for the frames of one *work unit*. Units
are the grain of progress and of resume: after a crash, finished units are not
run again, so an engine must produce the same pixels for a unit whether or not
earlier units ran in this process (keep cross-unit state in ``job.scratch``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Tuple

import numpy as np

from void_nuke.exrio import ImageSpec
from void_nuke.shot import Shot

ProgressFn = Callable[[float, str], None]
"""progress(fraction of the unit in [0, 1], message). Raises ``Cancelled`` to stop."""


@dataclass
class EngineJob:
    """What an engine sees of a job: plain data and frame readers."""

    job_id: str
    shot: Shot
    frames: List[int]
    """Every frame the job delivers, in order (the shot's range plus handles)."""
    spec: ImageSpec
    """The plate's spec (data and display windows) for the first frame."""
    plate: Callable[[int], np.ndarray]
    """frame → scene-linear RGB, float32 ``(H, W, 3)`` over the data window."""
    quadmask: Callable[[int], np.ndarray]
    """frame → uint8 ``(H, W)`` in {0, 63, 127, 255} over the data window."""
    scratch: str
    """A folder kept for the job's lifetime, for state shared between units."""
    settings: Dict[str, Any] = field(default_factory=dict)
    """Server settings relevant to engines (model paths, memory mode, device)."""


@dataclass(frozen=True)
class WorkUnit:
    """A resumable piece of work that delivers ``frames``."""

    index: int
    frames: Tuple[int, ...]


class Engine(ABC):
    name: ClassVar[str]
    version: ClassVar[str] = "1"

    @abstractmethod
    def plan(self, job: EngineJob) -> List[WorkUnit]:
        """Split the job into units; together they deliver every frame once, in order."""

    @abstractmethod
    def run(self, job: EngineJob, unit: WorkUnit, progress: ProgressFn) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield ``(frame, rgb)`` for each frame of ``unit``, in order; rgb is float32 (H, W, 3)."""

    def metadata(self) -> Dict[str, Any]:
        """Header attributes for every result (engine version, checkpoint hashes...)."""
        return {"void:engine": self.name, "void:engine_version": self.version}

    def close(self) -> None:
        """Release models and memory (the server's "release GPU")."""
