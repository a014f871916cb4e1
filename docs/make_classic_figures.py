"""Make the pictures of docs/engine-classic.md into docs/images/.

    python docs/make_classic_figures.py

Writes:

* ``classic_tabletop.png``: the 4K tabletop scene of ``bench/tabletop.py`` (a glass
  removed from a wooden table, a lime falling into it in the affected matte):
  plate, quadmask and the classic engine's result on three of 12 frames, around
  the glass, scaled down by 4;
* ``classic_unseen.png``: a region no frame shows (a box that never moves over
  wooden boards): the clean boards, OpenCV's Navier-Stokes inpainting (the
  engine's fill before) and the classic engine's patch-based fill;
* ``classic_bigben.png``: frame 10 of VOID's BigBen sample (plate, Navier-Stokes,
  classic engine), when the project's shared samples sit beside the repository.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np

from void_nuke.display import from_uint8, linear_to_srgb, srgb_to_linear, to_uint8
from void_nuke.exrio import ImageSpec, write_display_image
from void_nuke.sequences import FrameRange
from void_nuke.shot import MatteSource, OutputSettings, Shot
from void_nuke.voidfolder import find_void_folder, read_quadmask_frames, read_rgb_frames
from void_server.engines.base import EngineJob
from void_server.engines.classic import ClassicEngine
from void_server.quadmask import quadmask_to_color

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
sys.path.insert(0, str(HERE.parent / "bench"))
from tabletop import Tabletop  # noqa: E402  (the benchmark's scene)

SAMPLE = HERE.parent / ".." / "shared" / "samples" / "BigBen"
FIRST = 1001
GAP = 6


def run_classic(plates: Dict[int, np.ndarray], quadmasks: Dict[int, np.ndarray],
                keep: Optional[List[int]] = None) -> Dict[int, np.ndarray]:
    """The classic engine, default options, on in-memory frames; the results of ``keep`` (all by default)."""
    frames = sorted(plates)
    height, width = plates[frames[0]].shape[:2]
    shot = Shot(plate="/plates/figure.####.exr", frames=FrameRange(frames[0], frames[-1]),
                output=OutputSettings("/renders/figure"), remove=(MatteSource("/mattes/figure.####.exr"),))
    job = EngineJob(job_id="figure", shot=shot, frames=frames, spec=ImageSpec(width, height, ("R", "G", "B"),
                                                                              "float32"),
                    plate=lambda f: plates[f].copy(), quadmask=lambda f: quadmasks[f].copy(), scratch="")
    engine = ClassicEngine()
    return {frame: rgb for unit in engine.plan(job)
            for frame, rgb in engine.run(job, unit, lambda fraction, message: None) if keep is None or frame in keep}


def navier_stokes(rgb: np.ndarray, quadmask: np.ndarray) -> np.ndarray:
    hole = cv2.dilate((quadmask != 255).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return np.stack([cv2.inpaint(np.ascontiguousarray(rgb[..., c]), hole, 5.0, cv2.INPAINT_NS) for c in range(3)],
                    axis=-1)


def display(linear: np.ndarray) -> np.ndarray:
    return to_uint8(linear_to_srgb(np.clip(linear, 0, None)))


def sheet(rows: List[List[np.ndarray]]) -> np.ndarray:
    """uint8 pictures laid out in rows and columns with dark gaps."""
    def join(images: List[np.ndarray], axis: int) -> np.ndarray:
        shape = list(images[0].shape)
        shape[axis] = GAP
        spacer = np.full(shape, 20, np.uint8)
        return np.concatenate([x for image in images for x in (image, spacer)][:-1], axis=axis)

    return join([join(row, 1) for row in rows], 0)


def tabletop() -> None:
    scene = Tabletop(frames=12)
    plates = {FIRST + i: scene.plate(i) for i in range(scene.frames)}
    quadmasks = {FIRST + i: scene.quadmask(i) for i in range(scene.frames)}
    shown = [FIRST, FIRST + 5, FIRST + 11]
    results = run_classic(plates, quadmasks, keep=shown)
    crop = (slice(150, 1910), slice(1450, 2390))  # around the glass and the lime's fall

    def small(picture: np.ndarray) -> np.ndarray:
        return cv2.resize(picture, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)

    rows = [[display(small(plates[frame][crop])), small(quadmask_to_color(quadmasks[frame][crop])),
             display(small(results[frame][crop]))] for frame in shown]
    write_display_image(str(IMAGES / "classic_tabletop.png"), sheet(rows))


def unseen() -> None:
    sys.path.insert(0, str(HERE.parent / "tests" / "engines"))
    from test_classic import textured  # the boards the texture test measures on

    clean = textured(320, 200)
    plate, quadmask = clean.copy(), np.full((200, 320), 255, np.uint8)
    plate[50:140, 120:210] = [0.05, 0.05, 0.6]
    quadmask[50:140, 120:210] = 0
    result = run_classic({FIRST: plate}, {FIRST: quadmask})[FIRST]
    crop = (slice(20, 170), slice(90, 240))
    pictures = [clean[crop], navier_stokes(plate, quadmask)[crop], result[crop]]
    big = [cv2.resize(display(p), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST) for p in pictures]
    write_display_image(str(IMAGES / "classic_unseen.png"), sheet([big]))


def bigben() -> None:
    if not SAMPLE.is_dir():
        print(f"{SAMPLE} is not here: classic_bigben.png left as it is")
        return
    found = find_void_folder(str(SAMPLE))
    plates = {FIRST + i: srgb_to_linear(from_uint8(rgb)).astype(np.float32)
              for i, rgb in enumerate(read_rgb_frames(found.video))}
    quadmasks = {FIRST + i: q for i, q in enumerate(read_quadmask_frames(found.mask))}
    results = run_classic(plates, quadmasks)
    frame = FIRST + 10
    pictures = [plates[frame], navier_stokes(plates[frame], quadmasks[frame]), results[frame]]
    write_display_image(str(IMAGES / "classic_bigben.png"), sheet([[display(p) for p in pictures]]))


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    figures: List[Callable[[], None]] = [tabletop, unseen, bigben]
    for figure in figures:
        figure()


if __name__ == "__main__":
    main()
