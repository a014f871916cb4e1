"""Time the classic engine on a synthetic 640x360 shot with a known background.

    python bench/bench_classic.py [--frames 64] [--pan 1.5] [--static]

Prints the wall time and the PSNR of the filled region against the clean
background, for the engine and, as the baseline measured in the same run, for
plain OpenCV inpainting of the same holes frame by frame (what a single-frame
tool does), with the ratio of both. The object is 80x100 pixels plus a 20-pixel "affected" band under
it; ``--pan`` slides the background that many pixels a frame, ``--static``
keeps the object still (nothing to propagate: every frame searches the whole
radius, then inpaints, the slowest case).
"""
from __future__ import annotations

import argparse
import time
from typing import Dict, Tuple

import cv2
import numpy as np

from void_nuke.exrio import ImageSpec
from void_nuke.sequences import FrameRange
from void_nuke.shot import MatteSource, OutputSettings, Shot
from void_server.engines.base import EngineJob
from void_server.engines.classic import ClassicEngine

WIDTH, HEIGHT, FIRST = 640, 360, 1001


def background(shift: float) -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    x += shift
    rgb = np.stack([0.2 + 0.3 * x / WIDTH, 0.3 + 0.2 * y / HEIGHT, np.full_like(x, 0.4)], -1)
    for k in range(10):
        rgb += 0.03 * np.sin(x / (3 + k) + y / (5 + k) + k)[..., None]
    return rgb


def make_shot(frames: int, pan: float, static: bool) -> Tuple[Dict[int, np.ndarray], ...]:
    clean, plates, masks = {}, {}, {}
    for i in range(frames):
        frame = FIRST + i
        clean[frame] = background(pan * i)
        plate, mask = clean[frame].copy(), np.full((HEIGHT, WIDTH), 255, np.uint8)
        x0 = 200 if static else 20 + 8 * i
        plate[120:220, x0:x0 + 80] = [0.9, 0.1, 0.1]
        mask[120:220, x0:x0 + 80] = 0
        plate[220:240, x0 + 5:x0 + 85] *= 0.5
        mask[220:240, x0 + 5:x0 + 85] = 127
        plates[frame], masks[frame] = plate, mask
    return clean, plates, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--pan", type=float, default=0.0)
    parser.add_argument("--static", action="store_true")
    args = parser.parse_args()
    clean, plates, masks = make_shot(args.frames, args.pan, args.static)
    shot = Shot(plate="/plates/bench.####.exr", frames=FrameRange(FIRST, FIRST + args.frames - 1),
                output=OutputSettings("/renders/bench"), remove=(MatteSource("/mattes/bench.####.exr"),))
    job = EngineJob(job_id="bench", shot=shot, frames=list(range(FIRST, FIRST + args.frames)),
                    spec=ImageSpec(WIDTH, HEIGHT, ("R", "G", "B"), "float32"),
                    plate=plates.__getitem__, quadmask=masks.__getitem__, scratch="")
    engine = ClassicEngine()
    start = time.perf_counter()
    results = {frame: rgb for unit in engine.plan(job)
               for frame, rgb in engine.run(job, unit, lambda fraction, message: None)}
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    baseline = {f: inpaint(plates[f], masks[f] != 255) for f in plates}
    base_seconds = time.perf_counter() - start
    psnr, base_psnr = region_psnr(results, clean, masks), region_psnr(baseline, clean, masks)
    print(f"{args.frames} frames {WIDTH}x{HEIGHT}, pan {args.pan}, static {args.static}")
    print(f"  classic engine   {seconds:6.1f} s ({seconds / args.frames:.2f} s/frame)  "
          f"PSNR mean {np.mean(psnr):5.1f} dB, min {np.min(psnr):5.1f} dB")
    print(f"  cv2.inpaint only {base_seconds:6.1f} s ({base_seconds / args.frames:.2f} s/frame)  "
          f"PSNR mean {np.mean(base_psnr):5.1f} dB, min {np.min(base_psnr):5.1f} dB")
    print(f"  ratio: {seconds / base_seconds:.1f}x the time, {np.mean(psnr) - np.mean(base_psnr):+.1f} dB")


def inpaint(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The baseline: OpenCV's Navier-Stokes inpainting per float channel, like the engine's last resort."""
    mask = hole.astype(np.uint8)
    return np.stack([cv2.inpaint(np.ascontiguousarray(rgb[..., c]), mask, 5.0, cv2.INPAINT_NS)
                     for c in range(3)], axis=-1)


def region_psnr(results: Dict[int, np.ndarray], clean: Dict[int, np.ndarray],
                masks: Dict[int, np.ndarray]) -> list:
    errors = [np.mean((results[f] - clean[f])[masks[f] != 255] ** 2) for f in results]
    return [10 * np.log10(1.0 / max(float(e), 1e-12)) for e in errors]


if __name__ == "__main__":
    main()
