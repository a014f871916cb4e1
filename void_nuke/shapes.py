"""Mask sources that are not images: Roto shapes and clicked points.

Coordinates are plate pixels in the *display window* (the format), origin at
the top-left corner, y pointing down, pixel centres at ``i + 0.5``. Nuke's
bottom-left, y-up coordinates are converted once, in ``void_nuke.nuke``.

A shape is a closed cubic Bézier with absolute tangent handles, keyed per
frame. Between keys the control points are interpolated linearly; before the
first and after the last key the nearest key holds (Nuke's behaviour), unless
``lifetime`` says the shape does not exist on that frame.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import ShotError, shorten
from .limits import MAX_LABEL_CHARS, MAX_PROMPTS, MAX_SHAPES

ROLES = ("remove", "affected")
MODES = ("add", "subtract")


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool, not NaN or infinite, not an int beyond float range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _whole(data: Dict[str, Any], key: str, where: str, default: Optional[int] = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShotError(f"{where}.{key}", f"must be a whole number, got {shorten(value)}")
    return value


def _label(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_LABEL_CHARS:
        raise ShotError(where, f"must be a text of at most {MAX_LABEL_CHARS} characters, got {shorten(value)}")
    return value


def _items(value: Any, where: str, limit: int) -> List[Any]:
    """A client-sent list (None = empty), refused beyond ``limit`` items."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ShotError(where, f"must be a list, got {shorten(value)}")
    if len(value) > limit:
        raise ShotError(where, f"{len(value)} items; the limit is {limit}")
    return list(value)


def _num(data: Dict[str, Any], key: str, where: str, default: Optional[float] = None) -> float:
    if key not in data:
        if default is None:
            raise ShotError(f"{where}.{key}", "is missing")
        return default
    value = data[key]
    if not _is_number(value):
        raise ShotError(f"{where}.{key}", f"must be a finite number, got {shorten(value)}")
    return float(value)


@dataclass(frozen=True)
class ControlPoint:
    """One Bézier vertex: centre, absolute in/out tangent handles, feather."""

    x: float
    y: float
    in_x: float
    in_y: float
    out_x: float
    out_y: float
    feather: float = 0.0
    """Extra feather at this vertex, in pixels (Nuke's per-point feather)."""

    def __post_init__(self) -> None:
        for name in ("x", "y", "in_x", "in_y", "out_x", "out_y", "feather"):  # one canonical form
            object.__setattr__(self, name, float(getattr(self, name)))

    @classmethod
    def corner(cls, x: float, y: float, feather: float = 0.0) -> "ControlPoint":
        """A vertex whose handles sit on the vertex: a polygon corner."""
        return cls(x, y, x, y, x, y, feather)

    def to_list(self) -> List[float]:
        return [self.x, self.y, self.in_x, self.in_y, self.out_x, self.out_y, self.feather]

    @classmethod
    def from_list(cls, values: Any, where: str) -> "ControlPoint":
        if not isinstance(values, (list, tuple)) or len(values) not in (2, 6, 7):
            raise ShotError(where, "a control point is [x, y], [x, y, in_x, in_y, out_x, out_y] "
                                   "or the same plus feather")
        if not all(_is_number(v) for v in values):
            raise ShotError(where, f"control point values must be finite numbers, got {shorten(values)}")
        v = [float(x) for x in values]
        if len(v) == 2:
            return cls.corner(v[0], v[1])
        return cls(*v) if len(v) == 7 else cls(*v, 0.0)

    def lerp(self, other: "ControlPoint", t: float) -> "ControlPoint":
        a, b = self.to_list(), other.to_list()
        return ControlPoint(*[x + (y - x) * t for x, y in zip(a, b)])


@dataclass(frozen=True)
class ShapeKey:
    """A shape's outline at one frame."""

    frame: int
    points: Tuple[ControlPoint, ...]
    opacity: float = 1.0
    feather: float = 0.0
    """Feather of the whole shape at this frame, pixels (added to each vertex's)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "opacity", float(self.opacity))
        object.__setattr__(self, "feather", float(self.feather))

    def to_dict(self) -> Dict[str, Any]:
        return {"frame": self.frame, "points": [p.to_list() for p in self.points],
                "opacity": self.opacity, "feather": self.feather}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "ShapeKey":
        if not isinstance(data, dict):
            raise ShotError(where, "a key is a table with frame and points")
        frame = data.get("frame")
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise ShotError(f"{where}.frame", f"must be a whole frame number, got {frame!r}")
        raw = data.get("points")
        if not isinstance(raw, (list, tuple)) or len(raw) < 3:
            raise ShotError(f"{where}.points", "a closed shape needs at least 3 control points")
        points = tuple(ControlPoint.from_list(p, f"{where}.points[{i}]") for i, p in enumerate(raw))
        opacity = _num(data, "opacity", where, 1.0)
        if not 0.0 <= opacity <= 1.0:
            raise ShotError(f"{where}.opacity", f"must be between 0 and 1, got {opacity}")
        return cls(frame, points, opacity, _num(data, "feather", where, 0.0))

    def lerp(self, other: "ShapeKey", frame: int) -> "ShapeKey":
        t = (frame - self.frame) / float(other.frame - self.frame)
        points = tuple(a.lerp(b, t) for a, b in zip(self.points, other.points))
        return ShapeKey(frame, points, self.opacity + (other.opacity - self.opacity) * t,
                        self.feather + (other.feather - self.feather) * t)


@dataclass(frozen=True)
class Shape:
    """A closed, animated Bézier shape with a role in the quadmask."""

    name: str
    role: str
    keys: Tuple[ShapeKey, ...]
    invert: bool = False
    mode: str = "add"
    feather_falloff: float = 1.0
    """Exponent of the feather ramp: 1 linear, >1 harder inside, <1 softer."""
    lifetime: Optional[Tuple[int, int]] = None
    """Inclusive first and last frame on which the shape exists; None = always."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "feather_falloff", float(self.feather_falloff))
        where = f"shapes[{self.name}]"
        if self.role not in ROLES:
            raise ShotError(f"{where}.role", f"must be one of {', '.join(ROLES)}, got {self.role!r}")
        if self.mode not in MODES:
            raise ShotError(f"{where}.mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.keys:
            raise ShotError(f"{where}.keys", "a shape needs at least one key")
        frames = [k.frame for k in self.keys]
        if frames != sorted(set(frames)):
            raise ShotError(f"{where}.keys", "keys must have distinct frames in increasing order")
        counts = {len(k.points) for k in self.keys}
        if len(counts) != 1:
            raise ShotError(f"{where}.keys", "every key must have the same number of control points "
                                             f"(found {sorted(counts)})")
        if self.feather_falloff <= 0:
            raise ShotError(f"{where}.feather_falloff", "must be greater than 0")
        if self.lifetime is not None and self.lifetime[1] < self.lifetime[0]:
            raise ShotError(f"{where}.lifetime", "last frame is before first frame")

    def exists_at(self, frame: int) -> bool:
        return self.lifetime is None or self.lifetime[0] <= frame <= self.lifetime[1]

    def at(self, frame: int) -> ShapeKey:
        """The outline at ``frame``: linear between keys, held outside them."""
        frames = [k.frame for k in self.keys]
        i = bisect.bisect_left(frames, frame)
        if i < len(frames) and frames[i] == frame:
            return self.keys[i]
        if i == 0:
            return ShapeKey(frame, self.keys[0].points, self.keys[0].opacity, self.keys[0].feather)
        if i == len(frames):
            last = self.keys[-1]
            return ShapeKey(frame, last.points, last.opacity, last.feather)
        return self.keys[i - 1].lerp(self.keys[i], frame)

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"name": self.name, "role": self.role, "invert": self.invert,
                                "mode": self.mode, "feather_falloff": self.feather_falloff,
                                "keys": [k.to_dict() for k in self.keys]}
        if self.lifetime is not None:
            data["lifetime"] = list(self.lifetime)
        return data

    @classmethod
    def from_dict(cls, data: Any, index: int = 0) -> "Shape":
        if not isinstance(data, dict):
            raise ShotError(f"shapes[{index}]", "a shape is a table with name, role and keys")
        name = _label(data.get("name") or f"shape{index}", f"shapes[{index}].name")
        where = f"shapes[{name}]"
        raw_keys = data.get("keys")
        if not isinstance(raw_keys, (list, tuple)):
            raise ShotError(f"{where}.keys", "must be a list of keys")
        keys = tuple(ShapeKey.from_dict(k, f"{where}.keys[{i}]") for i, k in enumerate(raw_keys))
        lifetime = data.get("lifetime")
        if lifetime is not None:
            if not (isinstance(lifetime, (list, tuple)) and len(lifetime) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in lifetime)):
                raise ShotError(f"{where}.lifetime", "must be [first, last] frame numbers")
            lifetime = (int(lifetime[0]), int(lifetime[1]))
        return cls(name=name, role=_label(data.get("role", "remove"), f"{where}.role"), keys=keys,
                   invert=bool(data.get("invert", False)), mode=_label(data.get("mode", "add"), f"{where}.mode"),
                   feather_falloff=_num(data, "feather_falloff", where, 1.0), lifetime=lifetime)


@dataclass(frozen=True)
class PointPrompt:
    """A clicked point for SAM2: positive (on the object) or negative (not on it)."""

    frame: int
    x: float
    y: float
    positive: bool = True
    object_id: int = 1

    def to_dict(self) -> Dict[str, Any]:
        return {"frame": self.frame, "x": self.x, "y": self.y, "positive": self.positive,
                "object_id": self.object_id}


@dataclass(frozen=True)
class BoxPrompt:
    """A box around the object for SAM2 (x0, y0 top-left; x1, y1 bottom-right)."""

    frame: int
    x0: float
    y0: float
    x1: float
    y1: float
    object_id: int = 1

    def to_dict(self) -> Dict[str, Any]:
        return {"frame": self.frame, "box": [self.x0, self.y0, self.x1, self.y1],
                "object_id": self.object_id}


@dataclass(frozen=True)
class Prompts:
    """Everything SAM2 is prompted with for one shot: points, boxes and mask shapes."""

    points: Tuple[PointPrompt, ...] = ()
    boxes: Tuple[BoxPrompt, ...] = ()
    mask_shapes: Tuple[str, ...] = field(default_factory=tuple)
    """Names of shapes (role remove) whose rasterised alpha is given to SAM2 as a mask prompt."""

    def __bool__(self) -> bool:
        return bool(self.points or self.boxes or self.mask_shapes)

    @property
    def frames(self) -> List[int]:
        return sorted({p.frame for p in self.points} | {b.frame for b in self.boxes})

    def to_dict(self) -> Dict[str, Any]:
        return {"points": [p.to_dict() for p in self.points],
                "boxes": [b.to_dict() for b in self.boxes],
                "mask_shapes": list(self.mask_shapes)}

    @classmethod
    def from_dict(cls, data: Any) -> "Prompts":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ShotError("prompts", "must be a table with points, boxes and mask_shapes")
        points = []
        for i, p in enumerate(_items(data.get("points"), "prompts.points", MAX_PROMPTS)):
            where = f"prompts.points[{i}]"
            if not isinstance(p, dict):
                raise ShotError(where, "a point is a table with frame, x, y")
            points.append(PointPrompt(_whole(p, "frame", where), _num(p, "x", where), _num(p, "y", where),
                                      bool(p.get("positive", True)), _whole(p, "object_id", where, 1)))
        boxes = []
        for i, b in enumerate(_items(data.get("boxes"), "prompts.boxes", MAX_PROMPTS)):
            where = f"prompts.boxes[{i}]"
            box = b.get("box") if isinstance(b, dict) else None
            if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_number(v) for v in box)):
                raise ShotError(where, "a box is a table with frame and box = [x0, y0, x1, y1] (numbers)")
            x0, y0, x1, y1 = (float(v) for v in box)
            if not x1 > x0 or not y1 > y0:
                raise ShotError(where, f"box {shorten(box)} is empty; x1 > x0 and y1 > y0 are needed")
            boxes.append(BoxPrompt(_whole(b, "frame", where), x0, y0, x1, y1, _whole(b, "object_id", where, 1)))
        names = tuple(_label(n, f"prompts.mask_shapes[{i}]")
                      for i, n in enumerate(_items(data.get("mask_shapes"), "prompts.mask_shapes", MAX_SHAPES)))
        return cls(tuple(points), tuple(boxes), names)
