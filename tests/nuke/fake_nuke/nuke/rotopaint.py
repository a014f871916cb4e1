"""Stand-in for ``nuke.rotopaint``: layers, shapes, control points, transforms and attributes.

The subset of Foundry's curve API that ``void_nuke.nuke.roto`` reads, plus the
documented setters the tests use to build scenes (``append``,
``addPositionKey``, ``addTranslationKey``, ``AnimAttributes.set``...). Every
setter counts into ``_writes`` so a test can prove a reader changed nothing.
Transforms evaluate to row-major 4x4 matrices, Nuke's ``CMatrix4`` layout.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import Knob

_writes = 0


def _wrote() -> None:
    global _writes
    _writes += 1


class _Curve:
    """Keys (time → tuple of floats), linear between keys, held outside them."""

    def __init__(self, value: Sequence[float]) -> None:
        self._keys: List[Tuple[float, Tuple[float, ...]]] = [(0.0, tuple(float(v) for v in value))]
        self._animated = False

    def set_key(self, time: float, value: Sequence[float]) -> None:
        _wrote()
        value = tuple(float(v) for v in value)
        if not self._animated:
            self._keys, self._animated = [], True
        times = [t for t, _ in self._keys]
        i = bisect.bisect_left(times, time)
        if i < len(times) and times[i] == time:
            self._keys[i] = (time, value)
        else:
            self._keys.insert(i, (time, value))

    def set_constant(self, value: Sequence[float]) -> None:
        _wrote()
        self._keys, self._animated = [(0.0, tuple(float(v) for v in value))], False

    def at(self, time: float) -> Tuple[float, ...]:
        times = [t for t, _ in self._keys]
        i = bisect.bisect_right(times, time)
        if i == 0:
            return self._keys[0][1]
        if i == len(times):
            return self._keys[-1][1]
        (t0, a), (t1, b) = self._keys[i - 1], self._keys[i]
        f = (time - t0) / (t1 - t0)
        return tuple(x + (y - x) * f for x, y in zip(a, b))


class CVec2:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


class AnimControlPoint:
    def __init__(self, x: float = 0.0, y: float = 0.0) -> None:
        self._curve = _Curve((x, y))

    def addPositionKey(self, time: float, position: Sequence[float]) -> None:
        self._curve.set_key(time, position)

    def getPosition(self, time: float, view: str = "default") -> CVec2:
        return CVec2(*self._curve.at(time))


class ShapeControlPoint:
    def __init__(self, x: Union[float, AnimControlPoint] = 0.0, y: float = 0.0) -> None:
        self.center = x if isinstance(x, AnimControlPoint) else AnimControlPoint(x, y)
        self.leftTangent = AnimControlPoint()
        self.rightTangent = AnimControlPoint()
        self.featherCenter = AnimControlPoint()
        self.featherLeftTangent = AnimControlPoint()
        self.featherRightTangent = AnimControlPoint()


class CMatrix4:
    """16 floats, row-major: ``x' = m[0]*x + m[1]*y + m[2]*z + m[3]``."""

    def __init__(self, values: Sequence[float]) -> None:
        self._m = [float(v) for v in values]

    def __getitem__(self, index: int) -> float:
        return self._m[index]

    def __iter__(self) -> Iterator[float]:
        return iter(self._m)


def _mul(a: Sequence[float], b: Sequence[float]) -> List[float]:
    return [sum(a[4 * r + k] * b[4 * k + c] for k in range(4)) for r in range(4) for c in range(4)]


class CTransform:
    def __init__(self, matrix: Sequence[float]) -> None:
        self._matrix = list(matrix)

    def getMatrix(self) -> CMatrix4:
        return CMatrix4(self._matrix)


class AnimCTransform:
    """Translation, rotation (degrees about z), scale and pivot, each animatable."""

    def __init__(self) -> None:
        self._translation = _Curve((0.0, 0.0))
        self._rotation = _Curve((0.0,))
        self._scale = _Curve((1.0, 1.0))
        self._pivot = _Curve((0.0, 0.0))
        self._extra: Optional[List[float]] = None

    def addTranslationKey(self, time: float, x: float, y: float, *_: Any) -> None:
        self._translation.set_key(time, (x, y))

    def addRotationKey(self, time: float, degrees: float, *_: Any) -> None:
        self._rotation.set_key(time, (degrees,))

    def addScaleKey(self, time: float, x: float, y: float, *_: Any) -> None:
        self._scale.set_key(time, (x, y))

    def addPivotPointKey(self, time: float, x: float, y: float, *_: Any) -> None:
        self._pivot.set_key(time, (x, y))

    def _set_extra_matrix(self, values: Sequence[float]) -> None:
        """Test hook: a projective extra matrix (a corner pin), row-major."""
        _wrote()
        self._extra = [float(v) for v in values]

    def evaluate(self, time: float, view: str = "default") -> CTransform:
        tx, ty = self._translation.at(time)
        (deg,) = self._rotation.at(time)
        sx, sy = self._scale.at(time)
        px, py = self._pivot.at(time)
        c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        to_pivot = [1, 0, 0, tx + px, 0, 1, 0, ty + py, 0, 0, 1, 0, 0, 0, 0, 1]
        rotate = [c, -s, 0, 0, s, c, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        scale = [sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        back = [1, 0, 0, -px, 0, 1, 0, -py, 0, 0, 1, 0, 0, 0, 0, 1]
        matrix = _mul(_mul(_mul(to_pivot, rotate), scale), back)
        if self._extra is not None:
            matrix = _mul(self._extra, matrix)
        return CTransform(matrix)


class AnimAttributes:
    kOpacityAttribute = "opc"
    kInvertedAttribute = "inv"
    kVisibleAttribute = "vis"
    kFeatherFallOffAttribute = "ff"
    kFeatherXAttribute = "fx"
    kFeatherYAttribute = "fy"
    kLifeTimeTypeAttribute = "ltt"
    kLifeTimeNAttribute = "ltn"
    kLifeTimeMAttribute = "ltm"

    def __init__(self) -> None:
        self._curves: Dict[str, _Curve] = {name: _Curve((value,)) for name, value in (
            ("opc", 1.0), ("inv", 0.0), ("vis", 1.0), ("ff", 1.0), ("fx", 0.0), ("fy", 0.0), ("ltt", 0.0),
            ("ltn", 0.0), ("ltm", 0.0))}

    def add(self, name: str, value: float) -> None:
        _wrote()
        self._curves[name] = _Curve((value,))

    def set(self, *args: Any) -> None:
        """``set(time, name, value)`` keys it; ``set(name, value)`` makes it constant."""
        if len(args) == 3:
            time, name, value = args
            self._curve(name).set_key(time, (value,))
        else:
            name, value = args
            self._curve(name).set_constant((value,))

    def _curve(self, name: str) -> _Curve:
        if name not in self._curves:
            raise ValueError(f"no attribute named {name!r}")
        return self._curves[name]

    def getValue(self, time: float, name: str, view: str = "default") -> float:
        return self._curve(name).at(time)[0]


class Element:
    def __init__(self, curve_knob: Optional["CurveKnob"] = None, name: str = "") -> None:
        self.name = name
        self.locked = False
        self._transform = AnimCTransform()
        self._attributes = AnimAttributes()

    def getTransform(self) -> AnimCTransform:
        return self._transform

    def getAttributes(self) -> AnimAttributes:
        return self._attributes

    def serialise(self) -> str:
        return f"{type(self).__name__} {self.name}"


class _Points(Element):
    """Shared body of Shape and Stroke (siblings in Nuke, not parent and child)."""

    def __init__(self, curve_knob: Optional["CurveKnob"] = None, *points: Any, name: str = "Bezier1") -> None:
        super().__init__(curve_knob, name)
        self._points: List[ShapeControlPoint] = []
        for point in points:
            self.append(point)

    def append(self, point: Any) -> None:
        _wrote()
        self._points.append(point if isinstance(point, ShapeControlPoint) else ShapeControlPoint(*point))

    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[ShapeControlPoint]:
        return iter(self._points)

    def __getitem__(self, index: int) -> ShapeControlPoint:
        return self._points[index]

    def serialise(self) -> str:
        text = [super().serialise()]
        for p in self._points:
            text.append(" ".join(str(k) for k in p.center._curve._keys))
        return "\n".join(text)


class Shape(_Points):
    pass


class Stroke(_Points):
    pass


class Layer(Element):
    def __init__(self, curve_knob: Optional["CurveKnob"] = None, name: str = "Layer1") -> None:
        super().__init__(curve_knob, name)
        self._elements: List[Element] = []

    def append(self, element: Element) -> None:
        _wrote()
        self._elements.append(element)

    def __iter__(self) -> Iterator[Element]:
        return iter(self._elements)

    def __len__(self) -> int:
        return len(self._elements)

    def serialise(self) -> str:
        return "\n".join([super().serialise()] + [e.serialise() for e in self._elements])


class CurveKnob(Knob):
    def __init__(self, name: str, label: Optional[str] = None) -> None:
        super().__init__(name, label)
        self.rootLayer = Layer(self, "Root")

    def toElement(self, path: str) -> Element:
        element: Element = self.rootLayer
        for part in path.split("/"):
            element = next(e for e in element if e.name == part)  # type: ignore[attr-defined]
        return element

    def toScript(self) -> str:
        return self.rootLayer.serialise()
