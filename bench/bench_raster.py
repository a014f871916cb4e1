"""Roto rasteriser speed: 10 animated, feathered Bézier shapes on a 4K plate.

Each frame rasterises ten shapes (radii 80-400 px, half of them feathered,
one of those also with per-vertex feather, one subtract) over a 3840x2160 window with
``rasterize_shapes``. The baseline, measured in the same run, fills the same
flattened polygons with a plain ``cv2.fillPoly`` (no antialiasing, feather or
compositing), so the ratio says what exact coverage and feather cost on this
machine whatever its speed.

    python bench/bench_raster.py [--frames 24]
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from typing import List

import cv2
import numpy as np

from void_nuke.shapes import ControlPoint, Shape, ShapeKey
from void_server.raster import outline_polygon, rasterize_shapes

WIDTH, HEIGHT = 3840, 2160
KAPPA = 4.0 / 3.0 * (math.sqrt(2.0) - 1.0)


def blob(cx: float, cy: float, r: float, wobble: np.ndarray, vertex_feather: List[float]) -> tuple:
    """A closed 6-vertex Bézier blob around (cx, cy)."""
    n = len(wobble)
    handle = 4.0 / 3.0 * math.tan(math.pi / (2 * n)) * r
    points = []
    for i, (w, f) in enumerate(zip(wobble, vertex_feather)):
        a = 2 * math.pi * i / n
        x, y = cx + r * w * math.cos(a), cy + r * w * math.sin(a)
        tx, ty = -math.sin(a) * handle, math.cos(a) * handle
        points.append(ControlPoint(x, y, x - tx, y - ty, x + tx, y + ty, f))
    return tuple(points)


def make_shapes(first: int, last: int, seed: int = 1) -> List[Shape]:
    rng = np.random.default_rng(seed)
    shapes = []
    for i in range(10):
        r = float(rng.uniform(80, 400))
        keys = []
        for frame in (first, last):
            cx, cy = rng.uniform(r, WIDTH - r), rng.uniform(r, HEIGHT - r)
            vertex_feather = [float(v) for v in rng.uniform(0, 30, 6)] if i == 3 else [0.0] * 6
            keys.append(ShapeKey(frame, blob(cx, cy, r, rng.uniform(0.8, 1.2, 6), vertex_feather),
                                 feather=float(rng.uniform(4, 24)) if i % 2 else 0.0))
        shapes.append(Shape(f"shape{i}", "remove", tuple(keys), mode="subtract" if i == 9 else "add"))
    return shapes


def time_per_frame(shapes: List[Shape], frames: int) -> float:
    """Mean milliseconds of ``rasterize_shapes`` per frame over the animation."""
    window = (0, 0, WIDTH, HEIGHT)
    rasterize_shapes(shapes, 1001, window)  # warm imports and caches
    start = time.perf_counter()
    for frame in range(1001, 1001 + frames):
        rasterize_shapes(shapes, frame, window)
    return (time.perf_counter() - start) / frames * 1000


def without_feather(shape: Shape) -> Shape:
    keys = tuple(replace(k, feather=0.0, points=tuple(replace(p, feather=0.0) for p in k.points))
                 for k in shape.keys)
    return replace(shape, keys=keys)


def run(frames: int) -> None:
    shapes = make_shapes(1001, 1000 + frames)
    ours = time_per_frame(shapes, frames)
    hard = time_per_frame([without_feather(s) for s in shapes], frames)

    start = time.perf_counter()
    for frame in range(1001, 1001 + frames):
        canvas = np.zeros((HEIGHT, WIDTH), np.uint8)
        polygons = [np.round(outline_polygon(s.at(frame)) * 256).astype(np.int32) for s in shapes]
        cv2.fillPoly(canvas, polygons, 255, cv2.LINE_8, 8)
    baseline = (time.perf_counter() - start) / frames * 1000

    print(f"10 shapes at {WIDTH}x{HEIGHT}, {frames} frames")
    print(f"rasterize_shapes, 5 of 10 feathered: {ours:7.1f} ms/frame  ({ours / baseline:5.1f}x baseline)")
    print(f"rasterize_shapes, no feather:        {hard:7.1f} ms/frame  ({hard / baseline:5.1f}x baseline)")
    print(f"baseline cv2.fillPoly (no AA):       {baseline:7.1f} ms/frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="frames to rasterise (default 24)")
    run(parser.parse_args().frames)


if __name__ == "__main__":
    main()
