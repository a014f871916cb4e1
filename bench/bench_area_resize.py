"""The model-space area resize on 4K input: ``modelspace.area_resize`` against torch.

``area_resize`` reproduces ``F.interpolate(mode='area')`` bit for bit in numpy
(the reference's resize; the module stays torch-free). This measures it on a
4K quadmask clip (uint8, one channel) and on 4K RGB float frames, both to
384x672, and prints the CPU seconds per frame and the ratio to torch's own
kernel on one thread, measured in the same run.

    python bench/bench_area_resize.py [--frames 100]
"""
from __future__ import annotations

import argparse
import resource

import numpy as np
import torch
import torch.nn.functional as F

from void_server.modelspace import MODEL_SIZE, area_resize


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(fn, frames: np.ndarray) -> float:
    start = cpu_seconds()
    fn(frames)
    return (cpu_seconds() - start) / frames.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="4K mask frames (RGB: a tenth of that)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    yy, xx = np.mgrid[0:2160, 0:3840]
    mask = np.full((args.frames, 2160, 3840), 255, dtype=np.uint8)
    for t in range(args.frames):
        r = np.hypot(yy - 1000.5 - 3 * t, xx - 1700.25 - 5 * t)
        mask[t][r < 420] = 127
        mask[t][r < 300] = 0
    rgb = np.random.default_rng(0).random((max(1, args.frames // 10), 2160, 3840, 3), dtype=np.float32)

    cases = [
        ("quadmask 4K uint8", mask,
         lambda f: area_resize(f, MODEL_SIZE),
         lambda f: F.interpolate(torch.from_numpy(f).float()[None], size=MODEL_SIZE, mode="area")),
        ("RGB 4K float32", rgb,
         lambda f: area_resize(f, MODEL_SIZE),
         lambda f: F.interpolate(torch.from_numpy(f).permute(3, 0, 1, 2), size=MODEL_SIZE, mode="area")),
    ]
    print(f"{'input':<20} {'ours s/frame':>13} {'torch s/frame':>14} {'ratio':>7}")
    for name, frames, ours, baseline in cases:
        base = measure(baseline, frames)
        own = measure(ours, frames)
        print(f"{name:<20} {own:13.4f} {base:14.4f} {own / base:7.2f}")


if __name__ == "__main__":
    main()
