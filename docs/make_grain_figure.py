"""Make the picture of docs/grain.md into docs/images/grain_match.png.

    python docs/make_grain_figure.py

A synthetic plate with film-like grain (stronger in the highlights, a little
coarser than a pixel, correlated across channels) loses a static object to the
classic engine, run in-process exactly as ``void-nuke run`` runs it. The
picture shows three crops, magnified: the plate's grain beside the object; the
result's ``fill`` layer across the edge of the edit region (the fill without
added grain: a soft patch in a grainy plate); and the result itself (the fill
with grain matched to the plate).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from void_nuke.display import display_uint8
from void_nuke.exrio import Image, make_spec, read_image, write_display_image, write_image
from void_nuke.shot import Shot
from void_server.grain import GrainProfile, unit_grain
from void_server.runner import run_shot_local

HERE = Path(__file__).resolve().parent
OUT = HERE / "images" / "grain_match.png"
H, W = 270, 480
FRAMES = range(1001, 1007)
BOX = (slice(100, 190), slice(180, 300))  # the object: 90 x 120 pixels
ZOOM = 3


def plate_background() -> np.ndarray:
    """A wall under a soft light: a warm gradient with a brighter pool, scene-linear."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    light = 0.05 + 0.35 * np.exp(-(((xx - 300) / 220) ** 2 + ((yy - 90) / 160) ** 2))
    return np.stack([light * 1.0, light * 0.82, light * 0.62], -1).astype(np.float32)


def film_grain(background: np.ndarray, seed: int) -> np.ndarray:
    """Grain 1.1 px in size, std 0.01 + 0.08 x luminance, correlated across channels."""
    shape = GrainProfile(luminance=(1.0,), amplitude=((1.0,), (1.0,), (1.0,)), size=(1.1, 1.1, 1.4),
                         correlation=((1.0, 0.7, 0.5), (0.7, 1.0, 0.7), (0.5, 0.7, 1.0)), blocks=0)
    luminance = background @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    return unit_grain(shape, (H, W), seed) * (0.01 + 0.08 * luminance)[..., None]


def make_shot(folder: Path) -> Shot:
    bg = plate_background()
    remove = np.zeros((H, W, 1), np.float16)
    remove[BOX] = 1.0
    for frame in FRAMES:
        pixels = bg + film_grain(bg, frame)
        pixels[BOX] = (0.03, 0.04, 0.09)  # a dark blue box, never moving: no frame shows behind it
        write_image(str(folder / f"plate.{frame}.exr"), Image(pixels.astype(np.float16), make_spec(W, H, ("R", "G", "B"))))
        write_image(str(folder / f"remove.{frame}.exr"), Image(remove, make_spec(W, H, ("A",))))
    return Shot.from_dict({"plate": str(folder / "plate.####.exr"), "frames": f"{FRAMES[0]}-{FRAMES[-1]}",
                           "remove": [str(folder / "remove.####.exr")], "output": {"directory": str(folder / "out")}})


def panel(rgb: np.ndarray, rows: slice, cols: slice, label: str) -> np.ndarray:
    crop = display_uint8(np.ascontiguousarray(rgb[rows, cols], np.float32))
    crop = cv2.resize(crop, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
    strip = np.full((28, crop.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, crop], axis=0)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shot = make_shot(folder)
        result = run_shot_local(shot, work_dir=str(folder / "work"))
        frame = FRAMES[2]
        image = read_image(str(Path(result.version_dir) / shot.result_name(frame)))
        plate = read_image(shot.plate_sequence.path(frame)).rgb()
    rgb = image.rgb()
    fill = np.stack([image.channel(f"fill.{c}") for c in "RGB"], -1)
    edge_rows, edge_cols = slice(70, 150), slice(130, 250)  # straddles the region's top-left corner
    beside = slice(10, 90), slice(330, 450)                  # background right of the region
    gap = np.full((80 * ZOOM + 28, 12, 3), 255, np.uint8)
    picture = np.concatenate([panel(plate, *beside, "plate grain"), gap,
                              panel(fill, edge_rows, edge_cols, "fill without grain (fill.RGB)"), gap,
                              panel(rgb, edge_rows, edge_cols, "fill with matched grain (RGB)")], axis=1)
    write_display_image(str(OUT), picture)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
