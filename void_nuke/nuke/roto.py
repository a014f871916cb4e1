"""Read Roto and RotoPaint shapes into ``void_nuke.shapes.Shape``, without changing them.

Only Foundry's documented curve API is used: ``node['curves'].rootLayer``,
iterating ``Layer`` and ``Shape``, ``ShapeControlPoint.center`` /
``leftTangent`` / ``rightTangent`` / ``featherCenter`` with
``getPosition(frame)``, ``getTransform().evaluate(frame).getMatrix()`` and
``getAttributes().getValue(frame, name)`` with the ``AnimAttributes.k*``
names. Nothing here sets a value or adds a key: the user's node is read only.

Geometry, per frame:

- tangents and feather points are offsets from the centre (Foundry's docs), so
  they are made absolute before any transform;
- a point goes through the shape's own transform, then through every parent
  layer's transform from the innermost out to the root layer;
- ``CMatrix4`` is read as 16 floats in row order (``x' = m0*x + m1*y + m3``),
  the order the community code built on this API relies on;
- Nuke's bottom-left, y-up space becomes the top-left, y-down space of
  ``void_nuke.shapes``: ``y_top = format_height - y_nuke``.

A shape's role comes from a custom attribute ``void_role`` (1 remove, 2
affected) or else from the nearest enclosing layer whose name starts with
``remove`` or ``affected`` (``remove``, ``Remove_boy``, ``affected-cup``), or
else the default role passed in.
"""
from __future__ import annotations

import math
import re
from typing import Iterator, List, Optional, Sequence, Tuple

import nuke

from ..errors import ShotError
from ..sequences import FrameRange
from ..shapes import ControlPoint, Shape, ShapeKey

ROLE_ATTRIBUTE = "void_role"
ROLE_CODES = {1: "remove", 2: "affected"}
ROTO_CLASSES = ("Roto", "RotoPaint")

# Lifetime types of a Roto shape (the order of Nuke's lifetime menu).
LIFETIME_ALL, LIFETIME_START_TO_FRAME, LIFETIME_SINGLE, LIFETIME_FRAME_TO_END, LIFETIME_RANGE = range(5)

Matrix = Tuple[float, ...]
Point = Tuple[float, float]


def _rotopaint():  # type: ignore[no-untyped-def]
    import nuke.rotopaint as rp  # documented import path of the curve classes
    return rp


def layer_role(name: str) -> Optional[str]:
    """``remove`` / ``affected`` when a layer's name starts with that word."""
    first = re.split(r"[^a-z0-9]+", name.lower(), maxsplit=1)[0]
    return first if first in ("remove", "affected") else None


def _matrix(element: object, frame: int) -> Matrix:
    m = element.getTransform().evaluate(frame).getMatrix()  # type: ignore[attr-defined]
    return tuple(float(m[i]) for i in range(16))


def _apply(m: Matrix, x: float, y: float) -> Point:
    w = m[12] * x + m[13] * y + m[15]
    if abs(w) < 1e-12:
        raise ShotError("shapes", "a Roto transform sends a point to infinity; check the layer's "
                                  "extra matrix / corner pin")
    return ((m[0] * x + m[1] * y + m[3]) / w, (m[4] * x + m[5] * y + m[7]) / w)


def _through(chain: Sequence[Matrix], x: float, y: float) -> Point:
    for m in chain:
        x, y = _apply(m, x, y)
    return x, y


def _walk(layer: object, parents: List[object], role: Optional[str], path: str
          ) -> Iterator[Tuple[object, List[object], Optional[str], str]]:
    """Yield (shape, enclosing layers innermost first, role from layer names, path)."""
    rp = _rotopaint()
    for element in layer:  # type: ignore[attr-defined]
        name = f"{path}/{element.name}" if path else element.name
        if isinstance(element, rp.Layer):
            yield from _walk(element, [element] + parents, layer_role(element.name) or role, name)
        elif isinstance(element, rp.Shape):
            yield element, parents, role, name


def _attribute_role(attrs: object, frame: int) -> Optional[str]:
    try:
        code = attrs.getValue(frame, ROLE_ATTRIBUTE)  # type: ignore[attr-defined]
    except Exception:  # the attribute is absent: Nuke raises, the value is unset
        return None
    return ROLE_CODES.get(int(round(code)))


def _lifetime(attrs: object, frames: FrameRange) -> Optional[Tuple[int, int]]:
    a = attrs
    kind = int(a.getValue(frames.first, a.kLifeTimeTypeAttribute))  # type: ignore[attr-defined]
    if kind == LIFETIME_ALL:
        return None
    start = int(round(a.getValue(frames.first, a.kLifeTimeMAttribute)))  # type: ignore[attr-defined]
    end = int(round(a.getValue(frames.first, a.kLifeTimeNAttribute)))  # type: ignore[attr-defined]
    if kind == LIFETIME_SINGLE:
        return (start, start)
    if kind == LIFETIME_START_TO_FRAME:
        return (min(frames.first, end), end)
    if kind == LIFETIME_FRAME_TO_END:
        return (start, max(frames.last, start))
    return (min(start, end), max(start, end))


def _key(shape: object, layers: Sequence[object], frame: int, height: float) -> ShapeKey:
    chain = [_matrix(shape, frame)] + [_matrix(layer, frame) for layer in layers]
    points = []
    for cp in shape:  # type: ignore[attr-defined]
        c = cp.center.getPosition(frame)
        left = cp.leftTangent.getPosition(frame)
        right = cp.rightTangent.getPosition(frame)
        fth = cp.featherCenter.getPosition(frame)
        x, y = _through(chain, c.x, c.y)
        ix, iy = _through(chain, c.x + left.x, c.y + left.y)
        ox, oy = _through(chain, c.x + right.x, c.y + right.y)
        fx, fy = _through(chain, c.x + fth.x, c.y + fth.y)
        points.append(ControlPoint(x, height - y, ix, height - iy, ox, height - oy,
                                   math.hypot(fx - x, fy - y)))
    attrs = shape.getAttributes()  # type: ignore[attr-defined]
    opacity = float(attrs.getValue(frame, attrs.kOpacityAttribute))
    if not attrs.getValue(frame, attrs.kVisibleAttribute):
        opacity = 0.0
    feather = float(attrs.getValue(frame, attrs.kFeatherXAttribute))
    return ShapeKey(frame, tuple(points), min(1.0, max(0.0, opacity)), feather)


def _same_outline(a: ShapeKey, b: ShapeKey) -> bool:
    return a.points == b.points and a.opacity == b.opacity and a.feather == b.feather


def _drop_held_keys(keys: List[ShapeKey]) -> List[ShapeKey]:
    """Drop keys equal to both neighbours: linear interpolation gives them back exactly."""
    kept = []
    for i, key in enumerate(keys):
        if 0 < i < len(keys) - 1 and _same_outline(keys[i - 1], key) and _same_outline(key, keys[i + 1]):
            continue
        kept.append(key)
    return kept


def read_shapes(node: object, frames: FrameRange, plate_size: Optional[Tuple[int, int]] = None,
                default_role: str = "remove") -> List[Shape]:
    """Every closed shape of a Roto/RotoPaint node, keyed on every frame of ``frames``.

    ``plate_size`` (width, height) is checked against the node's format: the
    shapes are in the Roto node's pixel space, so the two must match.
    """
    if node.Class() not in ROTO_CLASSES:  # type: ignore[attr-defined]
        raise ShotError("roto_nodes", f"{node.name()} is a {node.Class()} node; give Roto or "  # type: ignore[attr-defined]
                                      "RotoPaint nodes")
    fmt = node.format()  # type: ignore[attr-defined]
    size = (int(fmt.width()), int(fmt.height()))
    if plate_size is not None and tuple(plate_size) != size:
        raise ShotError("roto_nodes", f"{node.name()} is {size[0]}x{size[1]} but the plate is "  # type: ignore[attr-defined]
                                      f"{plate_size[0]}x{plate_size[1]}; set the Roto node's format "
                                      "to the plate's format")
    shapes = []
    root = node["curves"].rootLayer  # type: ignore[index]
    for shape, layers, role, path in _walk(root, [root], None, ""):
        if len(shape) < 3:  # type: ignore[arg-type]
            continue  # an open or degenerate curve encloses no area
        attrs = shape.getAttributes()  # type: ignore[attr-defined]
        keys = [_key(shape, layers, f, float(size[1])) for f in frames]
        shapes.append(Shape(
            name=f"{node.name()}/{path}",  # type: ignore[attr-defined]
            role=_attribute_role(attrs, frames.first) or role or default_role,
            keys=tuple(_drop_held_keys(keys)),
            invert=bool(attrs.getValue(frames.first, attrs.kInvertedAttribute)),
            feather_falloff=max(0.01, float(attrs.getValue(frames.first, attrs.kFeatherFallOffAttribute))),
            lifetime=_lifetime(attrs, frames),
        ))
    return shapes


def find_roto_nodes(names: str, strict: bool = True) -> List[object]:
    """The Roto/RotoPaint nodes named in ``names`` (spaces or commas between names).

    Names are full names from the script root (``Group1.Roto1`` inside a
    Group). ``strict``: a missing node or one of another class is an error
    naming it; otherwise such names are skipped.
    """
    found = []
    for name in re.split(r"[\s,]+", names.strip()):
        if not name:
            continue
        with nuke.root():
            node = nuke.toNode(name)
        if node is None:
            if strict:
                raise ShotError("roto_nodes", f"there is no node named {name!r}; list Roto or RotoPaint "
                                              "nodes by name")
            continue
        if node.Class() not in ROTO_CLASSES:
            if strict:
                raise ShotError("roto_nodes", f"{name} is a {node.Class()} node, not Roto or RotoPaint")
            continue
        found.append(node)
    return found
