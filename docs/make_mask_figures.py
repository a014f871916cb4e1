"""Make the pictures of docs/masks.md into docs/images/.

    python docs/make_mask_figures.py

Uses frame 10 of the BigBen sample (VOID's own plate and quadmask) when the
project's shared samples sit beside the repository, else a synthetic frame
whose quadmask is built here from two Roto shapes. Writes:

* ``mask_plate.png``: the plate frame;
* ``mask_quadmask.png``: its quadmask in the preview colours;
* ``mask_model.png``: the model-space mask (384x672) as grey (white = remove);
* ``mask_ring.png``: a magnified corner of the model-space mask in class colours,
  showing the ring that area resizing leaves at hard edges;
* ``mask_passes.png``: what Pass 1 (three levels) and Pass 2 (binary) see;
* ``mask_combination.png``: the combination rule on two overlapping mattes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from void_nuke.shapes import ControlPoint, Shape, ShapeKey
from void_nuke.shot import MaskSettings
from void_server import modelspace
from void_server.quadmask import build_quadmask, quadmask_to_color
from void_server.raster import rasterize_shapes

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
SAMPLE = HERE.parent / ".." / "shared" / "samples" / "BigBen"
FRAME = 10
KAPPA = 4.0 / 3.0 * (math.sqrt(2.0) - 1.0)


def read_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video as uint8 RGB (H, W, 3)."""
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{path} has fewer than {index + 1} frames")


def ellipse(name: str, role: str, cx: float, cy: float, rx: float, ry: float) -> Shape:
    points = []
    for quarter in range(4):
        a = quarter * math.pi / 2
        x, y = cx + rx * math.cos(a), cy + ry * math.sin(a)
        tx, ty = -math.sin(a) * KAPPA * rx, math.cos(a) * KAPPA * ry
        points.append(ControlPoint(x, y, x - tx, y - ty, x + tx, y + ty))
    return Shape(name, role, (ShapeKey(1, tuple(points)),))


def synthetic() -> Tuple[np.ndarray, np.ndarray]:
    """A 544x360 frame (a ball and its shadow on a floor) and its quadmask from Roto shapes."""
    height, width = 360, 544
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    plate = (np.array([170, 200, 230]) * (1 - rows) + np.array([90, 80, 70]) * rows) * np.ones((1, width, 1))
    shapes = [ellipse("ball", "remove", 260, 170, 60, 60), ellipse("shadow", "affected", 280, 250, 110, 28)]
    window = (0, 0, width, height)
    shadow = rasterize_shapes(shapes, 1, window, role="affected")
    ball = rasterize_shapes(shapes, 1, window, role="remove")
    plate = plate * (1 - 0.5 * shadow[:, :, None])
    plate = plate * (1 - ball[:, :, None]) + np.array([200, 40, 40]) * ball[:, :, None]
    quadmask = build_quadmask([ball], [shadow], MaskSettings(), first_frame=False)
    return plate.astype(np.uint8), quadmask


def class_colours(model_mask: np.ndarray) -> np.ndarray:
    """Model-space levels (1, 192/255, 128/255, 0) back to class preview colours."""
    classes = (255 - np.rint(model_mask * 255)).astype(np.uint8)
    classes[classes == 64] = 63
    classes[classes == 128] = 127
    return quadmask_to_color(classes)


def magnified_edge(model_mask: np.ndarray, size: int = 40, zoom: int = 8) -> np.ndarray:
    """A ``size``-pixel crop around the first remove pixel's edge, magnified with a pixel grid."""
    rows, cols = np.nonzero(model_mask == 1.0)
    r0 = int(np.clip(rows.min() - size // 4, 0, model_mask.shape[0] - size))
    c0 = int(np.clip(cols[rows == rows.min()].min() - size // 2, 0, model_mask.shape[1] - size))
    crop = class_colours(model_mask[r0:r0 + size, c0:c0 + size])
    big = np.repeat(np.repeat(crop, zoom, axis=0), zoom, axis=1)
    big[::zoom, :] = 60
    big[:, ::zoom] = 60
    return big


def passes(model_mask: np.ndarray) -> np.ndarray:
    """Pass 1's and Pass 2's masks side by side (grey; white = 1), 8 px apart."""
    grey = [np.rint(m * 255).astype(np.uint8) for m in (modelspace.pass1_mask(model_mask),
                                                        modelspace.pass2_mask(model_mask))]
    gap = np.full((model_mask.shape[0], 8), 128, np.uint8)
    return np.concatenate([grey[0], gap, grey[1]], axis=1)


def combination() -> np.ndarray:
    """The combination rule: a remove disc over an affected bar, as preview colours."""
    window = (0, 0, 320, 180)
    shapes = [ellipse("object", "remove", 130, 90, 60, 60), ellipse("affected", "affected", 200, 100, 100, 40)]
    q = build_quadmask([rasterize_shapes(shapes, 1, window, role="remove")],
                       [rasterize_shapes(shapes, 1, window, role="affected")], MaskSettings(), first_frame=False)
    return quadmask_to_color(q)


def save(name: str, rgb_or_grey: np.ndarray) -> None:
    image = rgb_or_grey if rgb_or_grey.ndim == 2 else cv2.cvtColor(rgb_or_grey, cv2.COLOR_RGB2BGR)
    path = IMAGES / name
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {path}")
    print(f"{path.relative_to(HERE.parent)}  {image.shape[1]}x{image.shape[0]}  {path.stat().st_size // 1024} kB")


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    if SAMPLE.is_dir():
        plate = read_frame(SAMPLE / "input_video.mp4", FRAME)
        quadmask = modelspace.quantize_quadmask(read_frame(SAMPLE / "trimask_quadmask.mp4", FRAME)[:, :, 0])
        print(f"BigBen frame {FRAME}")
    else:
        plate, quadmask = synthetic()
        print("synthetic frame (no shared samples beside the repository)")
    model_mask = modelspace.model_mask(quadmask[None])[0]
    save("mask_plate.png", plate)
    save("mask_quadmask.png", quadmask_to_color(quadmask))
    save("mask_model.png", np.rint(model_mask * 255).astype(np.uint8))
    save("mask_ring.png", magnified_edge(model_mask))
    save("mask_passes.png", passes(model_mask))
    save("mask_combination.png", combination())


if __name__ == "__main__":
    main()
