"""Time the classic engine on synthetic shots with a known clean background.

    python bench/bench_classic.py [--frames 64] [--pan 1.5] [--static]
    python bench/bench_classic.py --tabletop [--frames 46]
    python bench/bench_classic.py --tabletop --runner [--frames 46] [--keep DIR]

The default case is a 640x360 shot: an 80x100 object plus a 20-pixel "affected"
band under it; ``--pan`` slides the background that many pixels a frame,
``--static`` keeps the object still (nothing to propagate: every frame searches
the whole radius, then synthesises).

``--tabletop`` is the production case: a 3840x2160 plate of 46 frames, a glass
on a wooden table removed (a region of about 650,000 pixels) and a lime falling
into it in the affected matte (see ``tabletop.py``). Plates are kept decoded as
half floats within 1 GiB and converted to float32 RGB on every request, as the
job runner does, and made when first asked for; that making is timed apart and
left out of the engine's figures.

``--runner`` runs the same shot as a farm node does: written as EXR plate and
mattes, then ``void-nuke run`` in a child process (quadmasks, engine, compositing
and writing the results), and prints that process's CPU time, wall time and
peak resident memory, the figures of a worker.

Both print, for the engine and, as the baseline measured in the same run, for
OpenCV's Navier-Stokes inpainting of the same holes at full resolution frame by
frame (what a single-frame tool does): CPU and wall time, the PSNR of the filled
region against the clean background, and their ratios. The tabletop case also
prints the peak resident memory of this process, how many filled pixels look
like the lime, and the high-frequency energy of the fill against the clean
background's there. The machine may be shared: CPU time is the figure to
compare; wall time shows what the two cores gave.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np

from tabletop import LIME, Tabletop
from void_nuke.exrio import Image, ImageSpec, make_spec, write_image
from void_nuke.sequences import FrameRange
from void_nuke.shot import MatteSource, OutputSettings, Shot
from void_server.engines.base import EngineJob
from void_server.engines.classic import ClassicEngine, ClassicOptions
from void_server.runner import CACHE_BYTES, FrameCache

WIDTH, HEIGHT, FIRST = 640, 360, 1001


@dataclass
class Clock:
    """CPU (this process, all threads) and wall seconds spent inside ``with clock:`` blocks."""

    cpu: float = 0.0
    wall: float = 0.0
    _start: Tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def __enter__(self) -> "Clock":
        self._start = (time.process_time(), time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu += time.process_time() - self._start[0]
        self.wall += time.perf_counter() - self._start[1]


# -- the 640x360 cases --------------------------------------------------------------------------

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


def small_case(args: argparse.Namespace) -> None:
    clean, plates, masks = make_shot(args.frames, args.pan, args.static)
    job = engine_job("bench", WIDTH, HEIGHT, args.frames, plates.__getitem__, masks.__getitem__)
    engine_clock, base_clock = Clock(), Clock()
    with engine_clock:
        results = dict(run_engine(job))
    with base_clock:
        baseline = {f: inpaint(plates[f], grown_hole(masks[f])) for f in plates}
    psnr = [region_psnr(results[f], clean[f], masks[f] != 255) for f in results]
    base_psnr = [region_psnr(baseline[f], clean[f], masks[f] != 255) for f in baseline]
    print(f"{args.frames} frames {WIDTH}x{HEIGHT}, pan {args.pan}, static {args.static}")
    report("classic engine", engine_clock, args.frames, psnr)
    report("cv2.inpaint (NS)", base_clock, args.frames, base_psnr)
    print(f"  ratio: {engine_clock.cpu / base_clock.cpu:.2f}x the CPU time, "
          f"{np.mean(psnr) - np.mean(base_psnr):+.1f} dB")


# -- the 4K tabletop case -----------------------------------------------------------------------

def tabletop_case(args: argparse.Namespace) -> None:
    scene = Tabletop(frames=args.frames)
    making = Clock()

    def make(frame: int) -> np.ndarray:
        with making:
            return scene.plate(frame - FIRST).astype(np.float16)

    decoded = FrameCache(make, CACHE_BYTES)  # the runner's own cache of decoded plates

    def plate(frame: int) -> np.ndarray:
        return decoded(frame).astype(np.float32)

    def quadmask(frame: int) -> np.ndarray:
        with making:
            return scene.quadmask(frame - FIRST)

    job = engine_job("tabletop", scene.width, scene.height, args.frames, plate, quadmask)
    engine_clock, measuring = Clock(), Clock()
    psnr: List[float] = []
    lime: List[int] = []
    energy: List[float] = []
    holes: List[int] = []
    rss_before = peak_rss_mb()
    reset_peak_rss()
    with engine_clock:
        for frame, rgb in run_engine(job):
            with measuring:
                hole = scene.quadmask(frame - FIRST) != 255
                clean = scene.clean(frame - FIRST)
                holes.append(int(hole.sum()))
                psnr.append(region_psnr(rgb, clean, hole))
                lime.append(int(lime_like(rgb[hole]).sum()))
                energy.append(high_frequency(rgb, hole) / high_frequency(clean, hole))
    rss_engine = peak_rss_mb()
    engine_cpu = engine_clock.cpu - making.cpu - measuring.cpu
    engine_wall = engine_clock.wall - making.wall - measuring.wall
    base_clock = Clock()
    base_psnr: List[float] = []
    for i in range(args.frames):
        frame_plate, hole = scene.plate(i), grown_hole(scene.quadmask(i))
        with base_clock:
            filled = inpaint(frame_plate, hole)
        base_psnr.append(region_psnr(filled, scene.clean(i), scene.quadmask(i) != 255))
    n = args.frames
    print(f"tabletop: {n} frames {scene.width}x{scene.height}, edit region {min(holes):,}-{max(holes):,} pixels "
          f"(mean {np.mean(holes):,.0f}); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"{platform.processor() or platform.machine()}")
    print(f"  classic engine    CPU {engine_cpu:7.1f} s ({engine_cpu / n:5.2f} s/frame)  wall {engine_wall:7.1f} s "
          f"({engine_wall / n:5.2f} s/frame)  PSNR mean {np.mean(psnr):5.1f} dB, min {np.min(psnr):5.1f} dB")
    print(f"  cv2.inpaint (NS)  CPU {base_clock.cpu:7.1f} s ({base_clock.cpu / n:5.2f} s/frame)  "
          f"wall {base_clock.wall:7.1f} s ({base_clock.wall / n:5.2f} s/frame)  "
          f"PSNR mean {np.mean(base_psnr):5.1f} dB, min {np.min(base_psnr):5.1f} dB")
    print(f"  ratio: {engine_cpu / base_clock.cpu:.2f}x the CPU time, {engine_wall / base_clock.wall:.2f}x the wall "
          f"time, {np.mean(psnr) - np.mean(base_psnr):+.1f} dB")
    print(f"  peak RSS {rss_engine:,.0f} MB (before the engine, making the scene: {rss_before:,.0f} MB; decoded plates cached up to "
          f"{CACHE_BYTES / 2 ** 20:,.0f} MiB as the runner does)")
    print(f"  lime-coloured pixels in the fill: {sum(lime)} in all; high-frequency energy of the fill / clean: "
          f"{np.mean(energy):.2f} (min {np.min(energy):.2f}, max {np.max(energy):.2f})")
    print(f"  making the plates (not in the engine's figures): CPU {making.cpu:.1f} s, wall {making.wall:.1f} s")


def runner_case(args: argparse.Namespace) -> None:
    """The tabletop shot through ``void-nuke run`` in a child process: a worker's time and memory."""
    scene = Tabletop(frames=args.frames)
    folder = args.keep or tempfile.mkdtemp(prefix="tabletop-")
    try:
        shot_file = write_tabletop(scene, folder)
        command = [sys.executable, "-m", "void_nuke.cli", "run", "--shot", shot_file, "--out",
                   os.path.join(folder, "renders"), "--work-dir", os.path.join(folder, "jobs")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    n = args.frames
    print(f"tabletop through void-nuke run: {n} frames {scene.width}x{scene.height}; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  worker CPU {cpu:7.1f} s ({cpu / n:5.2f} s/frame)  wall {wall:7.1f} s ({wall / n:5.2f} s/frame)  "
          f"peak RSS {after.ru_maxrss / 1024:,.0f} MB (quadmasks, engine, compositing, EXR reading and writing)")


def write_tabletop(scene: Tabletop, folder: str) -> str:
    """The scene as EXR plate and glass (remove) and lime (affected) mattes, and a shot file; its path."""
    rgb = make_spec(scene.width, scene.height, ("R", "G", "B"))
    alpha = make_spec(scene.width, scene.height, ("A",))
    glass = (scene.glass_mask().astype(np.float32) / 255).astype(np.float16)[..., None]
    for i in range(scene.frames):
        frame = FIRST + i
        write_image(os.path.join(folder, f"plate.{frame}.exr"), Image(scene.plate(i).astype(np.float16), rgb))
        write_image(os.path.join(folder, f"glass.{frame}.exr"), Image(glass, alpha))
        lime = scene.lime_mask(i, grow=6 * scene.height / 2160).astype(np.float32) / 255
        write_image(os.path.join(folder, f"lime.{frame}.exr"), Image(lime.astype(np.float16)[..., None], alpha))
    shot = Shot(plate=os.path.join(folder, "plate.####.exr"), frames=FrameRange(FIRST, FIRST + scene.frames - 1),
                output=OutputSettings(os.path.join(folder, "renders")),
                remove=(MatteSource(os.path.join(folder, "glass.####.exr")),),
                affected=(MatteSource(os.path.join(folder, "lime.####.exr")),))
    path = os.path.join(folder, "tabletop.toml")
    shot.save(path)
    return path


def lime_like(values: np.ndarray) -> np.ndarray:
    """Pixels whose chromaticity is within 0.06 of the lime's (nothing on the table or wall comes near)."""
    chroma = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-6)
    return np.linalg.norm(chroma - LIME / LIME.sum(), axis=1) < 0.06


def high_frequency(rgb: np.ndarray, where: np.ndarray) -> float:
    """Mean energy of what a 2-pixel Gaussian blur removes, over the box around ``where``'s inside."""
    x, y, w, h = cv2.boundingRect(where.astype(np.uint8))
    box = rgb[y:y + h, x:x + w]
    detail = box - cv2.GaussianBlur(box, (0, 0), 2.0)
    inner = cv2.erode(where[y:y + h, x:x + w].astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    return float(np.mean(detail[inner] ** 2))


# -- shared -------------------------------------------------------------------------------------

def engine_job(name: str, width: int, height: int, frames: int, plate: Callable[[int], np.ndarray],
               quadmask: Callable[[int], np.ndarray]) -> EngineJob:
    shot = Shot(plate=f"/plates/{name}.####.exr", frames=FrameRange(FIRST, FIRST + frames - 1),
                output=OutputSettings(f"/renders/{name}"), remove=(MatteSource(f"/mattes/{name}.####.exr"),))
    return EngineJob(job_id=name, shot=shot, frames=list(range(FIRST, FIRST + frames)),
                     spec=ImageSpec(width, height, ("R", "G", "B"), "float32"), plate=plate, quadmask=quadmask,
                     scratch="")


def run_engine(job: EngineJob):
    engine = ClassicEngine()
    for unit in engine.plan(job):
        yield from engine.run(job, unit, lambda fraction, message: None)


def grown_hole(quadmask: np.ndarray) -> np.ndarray:
    """The pixels the engine replaces: the edit region grown by the engine's default margin."""
    margin = ClassicOptions().margin
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate((quadmask != 255).astype(np.uint8), disk) > 0


def inpaint(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The baseline: OpenCV's Navier-Stokes inpainting per float channel at full resolution."""
    mask = hole.astype(np.uint8)
    return np.stack([cv2.inpaint(np.ascontiguousarray(rgb[..., c]), mask, 5.0, cv2.INPAINT_NS)
                     for c in range(3)], axis=-1)


def region_psnr(result: np.ndarray, clean: np.ndarray, where: np.ndarray) -> float:
    error = float(np.mean((result[where] - clean[where]) ** 2))
    return 10 * np.log10(1.0 / max(error, 1e-12))


def report(name: str, clock: Clock, frames: int, psnr: List[float]) -> None:
    print(f"  {name:17s} CPU {clock.cpu:6.1f} s ({clock.cpu / frames:.2f} s/frame)  wall {clock.wall:6.1f} s  "
          f"PSNR mean {np.mean(psnr):5.1f} dB, min {np.min(psnr):5.1f} dB")


def reset_peak_rss() -> None:
    """Start the peak-RSS record afresh (Linux: clear_refs 5), so making the scene does not count."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """This process's peak resident memory since the last reset (VmHWM), in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=None, help="frames (default 64; 46 with --tabletop)")
    parser.add_argument("--pan", type=float, default=0.0)
    parser.add_argument("--static", action="store_true")
    parser.add_argument("--tabletop", action="store_true", help="the 4K large-region case")
    parser.add_argument("--runner", action="store_true", help="with --tabletop: through void-nuke run, as a worker")
    parser.add_argument("--keep", help="with --runner: write the shot and results here and keep them")
    args = parser.parse_args()
    if args.tabletop:
        args.frames = args.frames or 46
        (runner_case if args.runner else tabletop_case)(args)
    else:
        args.frames = args.frames or 64
        small_case(args)


if __name__ == "__main__":
    main()
