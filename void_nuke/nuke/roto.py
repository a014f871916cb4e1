"""Read a Roto/RotoPaint node's shapes as Nuke draws them, without changing the node.

Only Foundry's documented curve API is used: ``node['curves'].rootLayer``,
iterating ``Layer``/``Shape``/``Stroke``, ``Shape.evaluate(0, frame)`` (the
outline Nuke draws, for every curve type), ``Element.getFlag`` /
``getVisible``, ``getTransform().evaluate(frame).getMatrix()``,
``getAttributes().getValue(frame, name)`` with the ``AnimAttributes.k*``
names, and ``ShapeControlPoint.featherCenter``. Nothing here sets a value or
adds a key.

What the server's shapes can carry exactly is read into
``void_nuke.shapes.Shape``; what they cannot is returned as *reasons*, so
that the caller renders that input through Nuke instead (or, when the artist
forces shapes, says what was left out):

- paint strokes (brush, eraser, clone, reveal...), motion blur (per shape or
  the node's global motion blur), blend modes other than over, screen and
  minus (see ``void_nuke.roto_curves``), a minus shape inside a sub-layer
  (whether Nuke limits it to its layer is not documented), layers with
  opacity or invert, animated invert, feather with ``fx != fy`` or a falloff
  type other than the default, the node's ``mix`` below 1, an output without
  alpha, a mask or second background input, a format that is not the plate's;
- open splines (``eOpenFlag``): Nuke draws them as lines of a width, which a
  filled shape cannot be; they are left out and named.

Geometry: every outline sample goes through the shape's transform and then
every parent layer's, innermost first (``CMatrix4`` read row-major), and
Nuke's bottom-left, y-up space becomes the top-left, y-down space of
``void_nuke.shapes``: ``y_top = format_height - y_nuke``. Nuke draws the
first element of a layer on top; the server draws the last on top, so the
shapes come back bottom first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

from ..errors import ShotError
from ..roto_curves import (Matrix, Piece, blend_mode, blend_name, drop_held_keys, fit_outline, key_from_pieces,
                           lifetime, signed_widths, through)
from ..sequences import FrameRange
from ..shapes import Shape, ShapeKey

ROTO_CLASSES = ("Roto", "RotoPaint")


def _rotopaint():  # type: ignore[no-untyped-def]
    import nuke.rotopaint as rp  # documented import path of the curve classes
    return rp


@dataclass(frozen=True)
class RotoRead:
    """What one Roto node contributes: exact shapes, and what shapes cannot say."""

    shapes: Tuple[Shape, ...]
    reasons: Tuple[str, ...] = ()
    """Why these shapes would not be the matte Nuke draws (render the input instead)."""


def _matrix(element: object, frame: int, view: str) -> Matrix:
    transform = element.getTransform()  # type: ignore[attr-defined]
    evaluated = transform.evaluate(frame) if view == "default" else transform.evaluate(frame, view)
    m = evaluated.getMatrix()
    return tuple(float(m[i]) for i in range(16))


def _walk(layer: object, parents: List[object], path: str) -> Iterator[Tuple[object, List[object], str]]:
    """(element, enclosing layers innermost first, path) in Nuke's order: the first drawn on top."""
    for element in layer:  # type: ignore[attr-defined]
        name = f"{path}/{element.name}" if path else element.name
        yield element, parents, name
        if isinstance(element, _rotopaint().Layer):
            yield from _walk(element, [element] + parents, name)


def _attribute(attrs: object, frame: int, name: str, view: str, default: float) -> float:
    try:
        return float(attrs.getValue(frame, name, view))  # type: ignore[attr-defined]
    except (ValueError, KeyError, AttributeError):  # the element does not carry this attribute
        return default


def _node_reasons(node: object, plate_size: Optional[Tuple[int, int]]) -> List[str]:
    name = node.name()  # type: ignore[attr-defined]
    reasons = []
    fmt = node.format()  # type: ignore[attr-defined]
    size = (int(fmt.width()), int(fmt.height()))
    if plate_size is not None and tuple(plate_size) != size:
        reasons.append(f"{name} is {size[0]}x{size[1]} but the plate is {plate_size[0]}x{plate_size[1]}")
    mix = node.knob("mix")  # type: ignore[attr-defined]
    if mix is not None and float(mix.value()) != 1.0:
        reasons.append(f"{name}'s mix is {float(mix.value()):g}")
    output = node.knob("output")  # type: ignore[attr-defined]
    if output is not None and str(output.value()) not in ("alpha", "rgba"):
        reasons.append(f"{name} outputs {output.value()}, not alpha")
    blur = node.knob("global_motionblur")  # type: ignore[attr-defined]
    if blur is not None and blur.value():
        reasons.append(f"{name} has global motion blur")
    extra = [i for i in range(1, node.inputs()) if node.input(i) is not None]  # type: ignore[attr-defined]
    if extra:
        reasons.append(f"{name} has a mask or a second background connected (input {extra[0]})")
    return reasons


class _ShapeReader:
    """One shape's keys over the frames, and what stops it being exact."""

    def __init__(self, shape: object, layers: Sequence[object], frames: FrameRange, height: float,
                 view: str) -> None:
        self.shape, self.layers, self.frames, self.height, self.view = shape, layers, frames, height, view
        self.attrs = shape.getAttributes()  # type: ignore[attr-defined]

    def values(self, name: str, default: float = 0.0) -> List[float]:
        return [_attribute(self.attrs, f, name, self.view, default) for f in self.frames]

    def reasons(self, path: str, nested: bool) -> List[str]:
        a = self.attrs
        found = []
        bm = self.values(a.kBlendingModeAttribute)
        mode = blend_mode(bm)
        if mode is None:
            names = sorted({blend_name(v) for v in bm})
            found.append(f"shape {path} uses the {'/'.join(names)} blend mode")
        elif mode == "subtract" and nested:
            found.append(f"minus shape {path} sits inside a layer")
        if any(self.values(a.kMotionBlurOnAttribute)):
            found.append(f"shape {path} has motion blur")
        fx, fy = self.values(a.kFeatherXAttribute), self.values(a.kFeatherYAttribute)
        if any(x != y for x, y in zip(fx, fy)):
            found.append(f"shape {path} has a different feather in x and y")
        if any(self.values(a.kFeatherTypeAttribute)):
            found.append(f"shape {path} has a non-default feather falloff type")
        if len(set(self.values(a.kInvertedAttribute))) > 1:
            found.append(f"shape {path} animates invert")
        if len(set(self.values(a.kFeatherFallOffAttribute, 1.0))) > 1:
            found.append(f"shape {path} animates its feather falloff")
        return found

    def _chain(self, frame: int) -> List[Matrix]:
        return [_matrix(self.shape, frame, self.view)] + [_matrix(layer, frame, self.view) for layer in self.layers]

    def _pieces(self, frame: int, levels: List[int]) -> Tuple[List[Piece], List[int], List[Matrix]]:
        curve = self.shape.evaluate(0, frame, self.view)  # type: ignore[attr-defined]
        chain = self._chain(frame)

        def sample(t: float) -> Tuple[float, float]:
            p = curve.getPoint(t)
            x, y = through(chain, p.x, p.y)
            return x, self.height - y

        pieces, needed = fit_outline(sample, len(levels), levels)
        return pieces, needed, chain

    def keys(self) -> List[ShapeKey]:
        a = self.attrs
        levels = [0] * len(self.shape)  # type: ignore[arg-type]
        while True:
            fitted = [self._pieces(f, levels) for f in self.frames]
            needed = [max(n[i] for _, n, _ in fitted) for i in range(len(levels))]
            if needed == levels:
                break
            levels = needed
        keys = []
        for frame, (pieces, _, chain) in zip(self.frames, fitted):
            visible = all(e.getVisible(frame) for e in [self.shape] + list(self.layers))  # type: ignore[attr-defined]
            opacity = _attribute(a, frame, a.kOpacityAttribute, self.view, 1.0) if visible else 0.0
            feather_on = _attribute(a, frame, a.kFeatherOnAttribute, self.view, 1.0) != 0
            feather = _attribute(a, frame, a.kFeatherXAttribute, self.view, 0.0) if feather_on else 0.0
            widths = self._widths(frame, pieces, chain) if feather_on else [0.0] * len(pieces)
            keys.append(key_from_pieces(frame, pieces, widths, opacity, feather))
        return drop_held_keys(keys)

    def _widths(self, frame: int, pieces: Sequence[Piece], chain: Sequence[Matrix]) -> List[float]:
        """Per-point feather (``featherCenter``, an offset from the centre) at every piece start."""
        points = list(self.shape)  # type: ignore[call-overload]
        n = len(points)
        offsets = [(p.featherCenter.getPosition(frame, self.view).x, p.featherCenter.getPosition(frame, self.view).y)
                   for p in points]
        if not any(x or y for x, y in offsets):
            return [0.0] * len(pieces)
        curve = self.shape.evaluate(0, frame, self.view)  # type: ignore[attr-defined]
        moved = []
        for *_, t in pieces:
            i = min(int(t * n), n - 1)
            f = t * n - i
            (ax, ay), (bx, by) = offsets[i], offsets[(i + 1) % n]
            dx, dy = ax + (bx - ax) * f, ay + (by - ay) * f
            p = curve.getPoint(t)
            x0, y0 = through(chain, p.x, p.y)
            x1, y1 = through(chain, p.x + dx, p.y + dy)
            moved.append((x1 - x0, y0 - y1))  # y flips with the points
        return signed_widths(pieces, moved)


def read_roto(node: object, frames: FrameRange, role: str, plate_size: Optional[Tuple[int, int]] = None,
              view: str = "default") -> RotoRead:
    """The shapes of a Roto/RotoPaint node on every frame of ``frames``, bottom first, and what is not exact."""
    if node.Class() not in ROTO_CLASSES:  # type: ignore[attr-defined]
        raise ShotError("roto", f"{node.name()} is a {node.Class()} node, not Roto or RotoPaint")  # type: ignore[attr-defined]
    rp = _rotopaint()
    reasons = _node_reasons(node, plate_size)
    height = float(node.format().height())  # type: ignore[attr-defined]
    root = node["curves"].rootLayer  # type: ignore[index]
    prefix = node.fullName()  # type: ignore[attr-defined]
    shapes: List[Shape] = []
    for element, layers, path in _walk(root, [root], ""):
        if isinstance(element, rp.Layer):
            opacity = {_attribute(element.getAttributes(), f, "opc", view, 1.0) for f in frames}
            inverted = {_attribute(element.getAttributes(), f, "inv", view, 0.0) for f in frames}
            if opacity != {1.0} or inverted != {0.0}:
                reasons.append(f"layer {path} has its own opacity or invert")
            continue
        if isinstance(element, rp.Stroke):
            reasons.append(f"paint stroke {path}")
            continue
        if not isinstance(element, rp.Shape):
            continue
        if element.getFlag(rp.FlagType.eOpenFlag):
            reasons.append(f"open spline {path} (Nuke draws it as a line; shapes leave it out)")
            continue
        if len(element) < 3:
            continue  # fewer than three points enclose no area
        reader = _ShapeReader(element, layers, frames, height, view)
        reasons.extend(reader.reasons(path, nested=len(layers) > 1))
        attrs = element.getAttributes()
        first = frames.first
        shapes.append(Shape(
            name=f"{prefix}/{path}", role=role, keys=tuple(reader.keys()),
            invert=_attribute(attrs, first, attrs.kInvertedAttribute, view, 0.0) != 0,
            mode=blend_mode(reader.values(attrs.kBlendingModeAttribute)) or "add",
            feather_falloff=max(0.01, _attribute(attrs, first, attrs.kFeatherFallOffAttribute, view, 1.0)),
            lifetime=lifetime(_attribute(attrs, first, attrs.kLifeTimeTypeAttribute, view, 0.0),
                              _attribute(attrs, first, attrs.kLifeTimeNAttribute, view, 1.0),
                              _attribute(attrs, first, attrs.kLifeTimeMAttribute, view, 1.0), frames),
        ))
    shapes.reverse()  # Nuke lists the top shape first; the server draws the last one on top
    return RotoRead(tuple(shapes), tuple(reasons))
