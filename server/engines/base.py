"""The interface every engine implements.

The job runner owns files, quadmasks and compositing; an engine only turns a
plate and its quadmask into new RGB for the frames of one *work unit*. Units
are the grain of progress and of resume: after a crash, finished units are not
run again, so an engine must produce the same pixels for a unit whether or not
earlier units ran in this process (keep cross-unit state in ``job.scratch``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Mapping, Sequence, Tuple

import numpy as np

from void_nuke.exrio import ImageSpec
from void_nuke.errors import ShotError
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


def parse_options(options_class: type, engine: str, options: Mapping[str, Any],
                  limits: Mapping[str, Tuple[float, float]] = {},
                  choices: Mapping[str, Sequence[Any]] = {}) -> Dict[str, Any]:
    """Validate ``shot.engine.options`` against an engine's options dataclass.

    Returns keyword arguments for ``options_class``: each value has the type of its
    field's default, lies within ``limits`` and is one of ``choices``. Errors name the
    option and what it accepts.
    """
    known = {f.name: f.default for f in fields(options_class)}
    values: Dict[str, Any] = {}
    for key, value in options.items():
        where = f"engine.options.{key}"
        if key not in known:
            raise ShotError(where, f"the {engine} engine has no option {key!r}; its options are "
                                   f"{', '.join(sorted(known))}")
        default = known[key]
        if isinstance(default, str):
            if not isinstance(value, str):
                raise ShotError(where, f"must be text, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ShotError(where, f"must be a number, got {value!r}")
        elif isinstance(default, int) and value != int(value):
            raise ShotError(where, f"must be a whole number, got {value!r}")
        else:
            value = type(default)(value)
        if key in choices and value not in choices[key]:
            raise ShotError(where, f"must be one of {', '.join(map(str, choices[key]))}, got {value!r}")
        if key in limits and not limits[key][0] <= value <= limits[key][1]:
            raise ShotError(where, f"must be between {limits[key][0]} and {limits[key][1]}, got {value!r}")
        values[key] = value
    return values
