"""Stand-in for ``nuke.rotopaint``: layers, shapes, strokes, control points, transforms, attributes.

The subset of Foundry's curve API (``nuke.rotopaint`` / ``_curvelib``) that
``void_nuke.nuke.roto`` reads, plus the documented setters the tests use to
build scenes (``append``, ``addPositionKey``, ``addTranslationKey``,
``AnimAttributes.set``, ``setFlag``...). Every setter counts into ``_writes``
so a test can prove a reader changed nothing.

What Nuke does, and where the documentation is silent, the choice made:

- ``Shape.evaluate(curveNum, time)`` returns a ``CubicCurve`` whose
  ``getPoint(t)`` gives the outline at ``t`` in [0, 1] (outside raises
  ValueError), *before* the shape and layer transforms, as a ``CVec4``
  ``{x, y, 1, 0}``. Segment ``i`` of an ``n``-point closed shape spans
  ``[i/n, (i+1)/n]`` and ``getPoint(1)`` is the first point again: Nuke
  17.1's ``getPoint(0.25)`` on a 4-point square is the second corner
  (rotobridge probe ``78_transform_chain_order``). Only curve 0, the shape's
  own outline, is modelled.
- Béziers: ``leftTangent``/``rightTangent`` are offsets from the centre
  (ShapeControlPoint reference); the segment from point ``i`` to ``i+1`` has
  handles ``centre_i + right_i`` and ``centre_{i+1} + left_{i+1}``.
- B-splines (``Shape(curveKnob, type="bspline")``, as NukeFXSExporter creates
  them; it reads the ``tt`` attribute as 5 for a B-spline): the control
  points lie off the curve. The fake evaluates a uniform cubic B-spline, the
  curve of tension 0; Nuke's tension is not modelled.
- ``eOpenFlag`` marks an open spline (FlagType reference); its curve has
  ``n - 1`` segments.
- Attributes and their defaults are those Nuke 17.1 reports for a new shape
  (rotobridge probe ``40_lifetime_defaults``): ``ltn = ltm = 1``, ``ltt = 0``,
  ``fo = 1``, ``ff = 1``, ``bm = 0``... ``getValue``'s view must be a string
  (probe ``62_uniform_feather``: "argument 3 must be str, not int").
- A Layer answers ``getVisible``/``setVisible`` (Element reference) and, as
  the Roto panel offers opacity and invert for a selected layer, carries
  ``opc`` and ``inv``; it has no ``bm`` (probe ``76``/``96``).
- ``CurveKnob.toScript`` serialises the tree in Nuke's form, element flags
  included (``{curvegroup NAME FLAGS bezier``, ``{f FLAGS}``), so selecting a
  shape changes the text, as in Nuke.

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


class FlagType:
    """``nuke.rotopaint.FlagType`` (values from the _curvelib.FlagType reference)."""

    eUndefineFlag = -1
    eBreakFlag = 0
    eTangentLengthLockFlag = 1
    eKeySelectedFlag = 2
    eLeftTangentSelectedFlag = 3
    eRightTangentSelectedFlag = 4
    eOpenFlag = 5
    eSelectedFlag = 6
    eActiveFlag = 7
    eVisibleFlag = 8
    eRenderableFlag = 9
    eLockedFlag = 10
    ePressureInZFlag = 11
    eNukeAnimCurveEvalFlag = 12
    eRelativeTangentFlag = 13
    eMaxFlag = 14


class CurveType:
    """``nuke.rotopaint.CurveType`` (values from the _curvelib.CurveType reference)."""

    eUndefineCurveType = -1
    eBezierCurveType = 0
    eHermiteCurveType = 1
    eBSplineCurveType = 2
    eCardinalCurveType = 3
    eCatmullRomCurveType = 4
    eNurbsCurveType = 5


class FrameRangeType:
    """Lifetime types (the _rotopaint.FrameRangeType reference)."""

    eFrameRangeTypeAll = 0
    eFrameRangeTypeFromStart = 1
    eFrameRangeTypeSingle = 2
    eFrameRangeTypeToEnd = 3
    eFrameRangeTypeFromStartToEnd = 4


class _Curve:
    """Keys (time -> tuple of floats), linear between keys, held outside them."""

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

    def serialise(self) -> str:
        return " ".join(f"{t:g}:" + ",".join(f"{v:g}" for v in value) for t, value in self._keys)


def _check_view(view: Any) -> None:
    if not isinstance(view, str):
        raise TypeError(f"argument 'view' must be str, not {type(view).__name__}")


class CVec2:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


class CVec3:
    def __init__(self, x: float, y: float, z: float = 1.0) -> None:
        self.x, self.y, self.z = x, y, z


class CVec4:
    def __init__(self, x: float, y: float, z: float = 1.0, w: float = 0.0) -> None:
        self.x, self.y, self.z, self.w = x, y, z, w


class AnimControlPoint:
    def __init__(self, x: float = 0.0, y: float = 0.0) -> None:
        self._curve = _Curve((x, y))

    def addPositionKey(self, time: float, position: Sequence[float], view: str = "default") -> None:
        self._curve.set_key(time, tuple(position)[:2])

    def getPosition(self, time: float, view: str = "default") -> CVec3:
        _check_view(view)
        return CVec3(*self._curve.at(time))


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
        _check_view(view)
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

    def serialise(self) -> str:
        parts = [c.serialise() for c in (self._translation, self._rotation, self._scale, self._pivot)]
        return " ".join(parts) + (f" extra {self._extra}" if self._extra else "")


_SHAPE_ATTRIBUTES = (("vis", 1.0), ("r", 1.0), ("g", 1.0), ("b", 1.0), ("a", 1.0), ("opc", 1.0), ("bm", 0.0),
                     ("inv", 0.0), ("mbo", 0.0), ("mb", 1.0), ("mbs", 0.5), ("fo", 1.0), ("fx", 0.0), ("fy", 0.0),
                     ("ff", 1.0), ("ft", 0.0), ("ltn", 1.0), ("ltm", 1.0), ("ltt", 0.0), ("tt", 0.0))
_LAYER_ATTRIBUTES = (("vis", 1.0), ("opc", 1.0), ("inv", 0.0), ("pt", 0.0))
_STROKE_ATTRIBUTES = _SHAPE_ATTRIBUTES + (("bt", 0.0), ("bs", 25.0), ("h", 0.2))


class AnimAttributes:
    kOpacityAttribute = "opc"
    kInvertedAttribute = "inv"
    kVisibleAttribute = "vis"
    kBlendingModeAttribute = "bm"
    kMotionBlurOnAttribute = "mbo"
    kMotionBlurAttribute = "mb"
    kFeatherOnAttribute = "fo"
    kFeatherTypeAttribute = "ft"
    kFeatherFallOffAttribute = "ff"
    kFeatherXAttribute = "fx"
    kFeatherYAttribute = "fy"
    kLifeTimeTypeAttribute = "ltt"
    kLifeTimeNAttribute = "ltn"
    kLifeTimeMAttribute = "ltm"
    kBrushTypeAttribute = "bt"

    def __init__(self, defaults: Sequence[Tuple[str, float]] = _SHAPE_ATTRIBUTES) -> None:
        self._curves: Dict[str, _Curve] = {name: _Curve((value,)) for name, value in defaults}

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
        _check_view(view)
        return self._curve(name).at(time)[0]

    def serialise(self) -> str:
        return " ".join(f"{name} {curve.serialise()}" for name, curve in sorted(self._curves.items()))


class Element:
    _attribute_defaults: Sequence[Tuple[str, float]] = _SHAPE_ATTRIBUTES

    def __init__(self, curve_knob: Optional["CurveKnob"] = None, name: str = "") -> None:
        self.name = name
        self.locked = False
        self._transform = AnimCTransform()
        self._attributes = AnimAttributes(self._attribute_defaults)
        self._flags = 1 << FlagType.eRenderableFlag

    def getTransform(self) -> AnimCTransform:
        return self._transform

    def getAttributes(self) -> AnimAttributes:
        return self._attributes

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & (1 << flag))

    def setFlag(self, flag: int, value: bool) -> None:
        _wrote()
        self._flags = self._flags | (1 << flag) if value else self._flags & ~(1 << flag)

    def getVisible(self, time: float) -> bool:
        return self._attributes.getValue(time, "vis") != 0

    def setVisible(self, time: float, value: bool) -> None:
        self._attributes.set(time, "vis", 1.0 if value else 0.0)

    def serialise(self) -> str:
        return (f"{{{self._kind()} {self.name} {self._flags}\n {{t {self._transform.serialise()}}}\n"
                f" {{a {self._attributes.serialise()}}}")

    def _kind(self) -> str:
        return type(self).__name__.lower()


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
            text.append(" {cc {f 8192} {p " + " ".join(
                c._curve.serialise() for c in (p.center, p.leftTangent, p.rightTangent, p.featherCenter)) + "}}")
        return "\n".join(text) + "}"


class CubicCurve:
    """A baked outline for one frame; ``getPoint(t)`` for t in [0, 1]."""

    def __init__(self, segments: List[Tuple[Tuple[float, float], ...]], bspline: bool) -> None:
        self._segments = segments
        self._bspline = bspline

    def getPoint(self, t: float) -> CVec4:
        if not 0.0 <= t <= 1.0:
            raise ValueError("invalid curve parameter value (must be between 0.0 and 1.0)")
        count = len(self._segments)
        i = min(int(t * count), count - 1)
        u = t * count - i
        p0, p1, p2, p3 = self._segments[i]
        if self._bspline:
            w = ((1 - u) ** 3 / 6, (3 * u ** 3 - 6 * u ** 2 + 4) / 6, (-3 * u ** 3 + 3 * u ** 2 + 3 * u + 1) / 6,
                 u ** 3 / 6)
        else:
            w = ((1 - u) ** 3, 3 * (1 - u) ** 2 * u, 3 * (1 - u) * u ** 2, u ** 3)
        x = sum(wk * p[0] for wk, p in zip(w, (p0, p1, p2, p3)))
        y = sum(wk * p[1] for wk, p in zip(w, (p0, p1, p2, p3)))
        return CVec4(x, y, 1.0, 0.0)


class Shape(_Points):
    _BSPLINE_TT = 5.0

    def __init__(self, curve_knob: Optional["CurveKnob"] = None, *points: Any, name: str = "Bezier1",
                 type: str = "bezier") -> None:
        if type not in ("bezier", "bspline"):
            raise ValueError(f"unknown shape type {type!r}")
        super().__init__(curve_knob, *points, name=name)
        if type == "bspline":
            self._attributes._curves["tt"] = _Curve((self._BSPLINE_TT,))

    def _kind(self) -> str:
        return "curvegroup"

    def _is_bspline(self) -> bool:
        return self._attributes.getValue(0, "tt") == self._BSPLINE_TT

    def evaluate(self, curveNum: int, time: float, viewName: str = "default") -> CubicCurve:
        _check_view(viewName)
        if curveNum != 0:
            raise NotImplementedError("the fake nuke models curve 0 (the outline) only")
        if len(self._points) < 2:
            raise ValueError("a curve needs at least two control points")
        centres = [(p.center.getPosition(time).x, p.center.getPosition(time).y) for p in self._points]
        n = len(centres)
        closed = not self.getFlag(FlagType.eOpenFlag)
        count = n if closed else n - 1
        segments = []
        for i in range(count):
            if self._is_bspline():
                idx = [(i + k) % n if closed else min(max(i + k, 0), n - 1) for k in (-1, 0, 1, 2)]
                segments.append(tuple(centres[j] for j in idx))
            else:
                a, b = self._points[i], self._points[(i + 1) % n]
                right, left = a.rightTangent.getPosition(time), b.leftTangent.getPosition(time)
                (ax, ay), (bx, by) = centres[i], centres[(i + 1) % n]
                segments.append(((ax, ay), (ax + right.x, ay + right.y), (bx + left.x, by + left.y), (bx, by)))
        return CubicCurve(segments, self._is_bspline())


class Stroke(_Points):
    """A paint stroke (brush, eraser, clone, reveal...): ``evaluate(time, view)``."""

    _attribute_defaults = _STROKE_ATTRIBUTES

    def _kind(self) -> str:
        return "cubiccurve"


class Layer(Element):
    _attribute_defaults = _LAYER_ATTRIBUTES

    def __init__(self, curve_knob: Optional["CurveKnob"] = None, name: str = "Layer1") -> None:
        super().__init__(curve_knob, name)
        self._elements: List[Element] = []

    def append(self, element: Element) -> None:
        _wrote()
        self._elements.append(element)

    def insert(self, index: int, element: Element) -> None:
        _wrote()
        self._elements.insert(index, element)

    def __iter__(self) -> Iterator[Element]:
        return iter(self._elements)

    def __len__(self) -> int:
        return len(self._elements)

    def __getitem__(self, index: int) -> Element:
        return self._elements[index]

    def serialise(self) -> str:
        head = f"{{layer {self.name}\n {{f {self._flags}}}\n {{t {self._transform.serialise()}}}\n" \
               f" {{a {self._attributes.serialise()}}}"
        return "\n".join([head] + [e.serialise() for e in self._elements]) + "}"


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

    def _clone(self) -> "CurveKnob":
        import copy

        twin = copy.copy(self)
        twin.rootLayer = copy.deepcopy(self.rootLayer)
        twin._node = None
        return twin
