"""EXR and video I/O at 4K: ``void_nuke.exrio`` against the OpenEXR library's own Python bindings,
and ``void-nuke import-void`` of a 4K clip.

Measured in one run, on 3840x2160 half-float frames (RGB, as ``import-void`` writes plates, and
RGBA + one extra layer, as results carry ``void.mask``), for zip, piz and dwaa:
  * OpenEXR     ``OpenEXR.File(...)`` read (one array per channel) and write, with as many threads as
                cores: the format's reference implementation, the baseline
  * exrio       ``read_image`` / ``write_image`` (OpenImageIO header, OpenEXR pixels where they can)
  * exrio/OIIO  the same through OpenImageIO alone (what a client without ``openexr`` gets)
Each reports frames/s by wall time and CPU seconds per frame (process time, all threads), and the
ratios exrio / OpenEXR (aim >= 0.9). CPU time is what to trust on a shared machine.

Then ``import-void`` of VOID's 4K *pillow* sample (``../shared/samples/pillow``, 62 frames) into a
temporary folder: seconds per frame by wall and CPU time (aim <= 1 s per frame on two cores),
against the plainest serial import of its first frames (decode, convert, write plate and mattes with
the OpenEXR bindings, one after the other) in the same run. Without the sample a synthetic 4K clip of
the same length is made first (``--synthetic`` forces it).

    python bench/bench_exrio.py [--frames 6] [--samples ../shared/samples] [--synthetic]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

HEIGHT, WIDTH = 2160, 3840
COMPRESSIONS = ("zip", "piz", "dwaa")
LAYOUTS = {"RGB": ("R", "G", "B"), "RGBA+mask": ("R", "G", "B", "A", "void.mask")}
BASELINE_FRAMES = 16


class Clock:
    """Wall and CPU seconds (this process, every thread) of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def plate_like(channels: int, seed: int) -> np.ndarray:
    """A 4K half frame that compresses like a plate: smooth gradients, texture and grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = 0.18 + 0.12 * np.sin(xx / 180.0) * np.cos(yy / 140.0) + 0.1 * (xx / WIDTH)
    planes = [base * (0.8 + 0.2 * c) + rng.normal(0.0, 0.01, base.shape).astype(np.float32)
              for c in range(channels)]
    return np.stack(planes, axis=-1).astype(np.float16)


def timed(run: Callable[[int], None], frames: int) -> Tuple[float, float]:
    """(frames per second by wall time, CPU seconds per frame) of ``run(i)`` for i < frames."""
    run(0)  # warm-up: libraries loaded, caches filled
    with Clock() as c:
        for i in range(frames):
            run(i)
    return frames / c.wall, c.cpu / frames


def bench_codecs(folder: str, frames: int) -> List[Dict[str, object]]:
    import OpenEXR

    from void_nuke import exrio
    from void_nuke.exrio import Image, make_spec, read_image, write_image

    exr_compression = {"zip": OpenEXR.ZIP_COMPRESSION, "piz": OpenEXR.PIZ_COMPRESSION,
                       "dwaa": OpenEXR.DWAA_COMPRESSION}
    rows = []
    for layout, names in LAYOUTS.items():
        pixels = plate_like(len(names), seed=len(names))
        spec = make_spec(WIDTH, HEIGHT, names, attributes={"void:job_id": "bench", "void:frame": 1001})
        planes = {n: np.ascontiguousarray(pixels[:, :, i]) for i, n in enumerate(names)}
        for comp in COMPRESSIONS:
            def path(kind: str, i: int) -> str:
                return os.path.join(folder, f"{kind}-{layout}-{comp}-{i}.exr")

            def write_openexr(i: int) -> None:
                header = {"compression": exr_compression[comp], "type": OpenEXR.scanlineimage}
                OpenEXR.File(header, dict(planes), num_threads=exrio.EXR_THREADS).write(path("openexr", i))

            def read_openexr(i: int) -> None:
                with OpenEXR.File(path("openexr", i), separate_channels=True,
                                  num_threads=exrio.EXR_THREADS) as f:
                    f.channels()

            def write_exrio(i: int, kind: str = "exrio") -> None:
                write_image(path(kind, i), Image(pixels, spec), compression=comp, overwrite=True)

            def read_exrio(i: int, kind: str = "exrio") -> None:
                read_image(path(kind, i))

            base_w, base_w_cpu = timed(write_openexr, frames)
            base_r, base_r_cpu = timed(read_openexr, frames)
            ours_w, ours_w_cpu = timed(write_exrio, frames)
            ours_r, ours_r_cpu = timed(read_exrio, frames)
            exrio.USE_OPENEXR = False
            try:
                oiio_w, oiio_w_cpu = timed(lambda i: write_exrio(i, "oiio"), frames)
                oiio_r, oiio_r_cpu = timed(lambda i: read_exrio(i, "oiio"), frames)
            finally:
                exrio.USE_OPENEXR = exrio.OpenEXR is not None
            rows.append({"layout": layout, "compression": comp,
                         "write": (base_w, base_w_cpu, ours_w, ours_w_cpu, oiio_w, oiio_w_cpu),
                         "read": (base_r, base_r_cpu, ours_r, ours_r_cpu, oiio_r, oiio_r_cpu)})
            for f in os.listdir(folder):
                os.remove(os.path.join(folder, f))
    return rows


def print_codecs(rows: List[Dict[str, object]]) -> None:
    print("\nEXR I/O, 3840x2160 half: frames/s (wall) and CPU s/frame; ratio = exrio / OpenEXR")
    print(f"{'layout':<10} {'comp':<5} {'op':<6} {'OpenEXR':>16} {'exrio':>16} {'exrio/OIIO':>16} "
          f"{'ratio wall':>10} {'ratio CPU':>10} {'OIIO ratio CPU':>14}")
    for row in rows:
        for op in ("write", "read"):
            bw, bc, ow, oc, iw, ic = row[op]  # type: ignore[misc]
            print(f"{row['layout']:<10} {row['compression']:<5} {op:<6} {bw:7.1f}/s {bc:5.2f}s "
                  f"{ow:7.1f}/s {oc:5.2f}s {iw:7.1f}/s {ic:5.2f}s {ow / bw:10.2f} {bc / oc:10.2f} {bc / ic:14.2f}")


def synthetic_clip(folder: str, frames: int) -> str:
    """A 4K VOID folder: an sRGB H.264 plate with a moving object and its lossless quadmask."""
    from void_nuke.voidfolder import QUADMASK_NAME, VIDEO_NAME, write_video

    os.makedirs(folder, exist_ok=True)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = (np.stack([xx * 255 // WIDTH, yy * 255 // HEIGHT, (xx + yy) * 255 // (WIDTH + HEIGHT)], -1)
            .astype(np.uint8))

    def plates():
        for i in range(frames):
            frame = base.copy()
            frame[900:1500, 600 + 30 * i:1400 + 30 * i] = (200, 40, 30)
            yield frame

    def masks():
        for i in range(frames):
            q = np.full((HEIGHT, WIDTH), 255, np.uint8)
            q[900:1500, 600 + 30 * i:1400 + 30 * i] = 0
            q[1500:1700, 600 + 30 * i:1500 + 30 * i] = 127
            yield np.repeat(q[:, :, None], 3, axis=2)

    write_video(os.path.join(folder, VIDEO_NAME), plates(), 12.0, lossless=False)
    write_video(os.path.join(folder, QUADMASK_NAME), masks(), 12.0, lossless=True)
    return folder


def serial_baseline(folder: str, out: str, frames: int) -> Tuple[float, float]:
    """(wall, CPU) s/frame of the plainest import of the first ``frames`` frames: one thread decodes,
    converts (the same lookup table) and writes each plate and its two mattes with the OpenEXR
    bindings, one after the other."""
    import OpenEXR

    from void_nuke import exrio
    from void_nuke.voidfolder import SRGB_TO_LINEAR_HALF, find_void_folder, mattes_from_quadmask, \
        read_quadmask_frames, read_rgb_frames

    src = find_void_folder(folder)
    os.makedirs(out)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with Clock() as c:
        pairs = zip(read_rgb_frames(src.video), read_quadmask_frames(src.mask))
        for i, (rgb, quad) in zip(range(frames), pairs):
            plate = SRGB_TO_LINEAR_HALF[rgb]
            OpenEXR.File(header, {n: np.ascontiguousarray(plate[:, :, k]) for k, n in enumerate("RGB")},
                         num_threads=exrio.EXR_THREADS).write(os.path.join(out, f"plate.{i}.exr"))
            for name, matte in zip(("remove", "affected"), mattes_from_quadmask(quad)):
                OpenEXR.File(header, {"A": matte.astype(np.float16)},
                             num_threads=exrio.EXR_THREADS).write(os.path.join(out, f"{name}.{i}.exr"))
    return c.wall / frames, c.cpu / frames


def bench_import(folder: str, out: str) -> Tuple[int, float, float, float]:
    """(frames, wall s/frame, CPU s/frame, peak RSS GB) of import-void of ``folder`` into ``out``."""
    from void_nuke.voidfolder import import_void_folder

    with Clock() as c:
        result = import_void_folder(folder, out)
    n = len(result.shot.frames)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return n, c.wall / n, c.cpu / n, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=6, help="frames per codec measurement (default 6)")
    parser.add_argument("--samples", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                          "samples"))
    parser.add_argument("--synthetic", action="store_true", help="import a synthetic 4K clip, not pillow")
    parser.add_argument("--skip-codecs", action="store_true")
    args = parser.parse_args()

    import OpenEXR
    import OpenImageIO

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; OpenEXR bindings "
          f"{OpenEXR.__version__}, OpenImageIO {OpenImageIO.VERSION_STRING}")
    work = tempfile.mkdtemp(prefix="bench-exrio-")
    try:
        if not args.skip_codecs:
            os.makedirs(os.path.join(work, "codecs"))
            print_codecs(bench_codecs(os.path.join(work, "codecs"), args.frames))
        pillow = os.path.join(args.samples, "pillow")
        if args.synthetic or not os.path.isdir(pillow):
            print(f"\n(no {pillow}: importing a synthetic 4K clip of 62 frames)" if not args.synthetic else "")
            pillow = synthetic_clip(os.path.join(work, "synthetic"), 62)
        n, wall, cpu, peak = bench_import(pillow, os.path.join(work, "import"))
        base_wall, base_cpu = serial_baseline(pillow, os.path.join(work, "serial"), BASELINE_FRAMES)
        print(f"\nimport-void {os.path.basename(os.path.normpath(pillow))} ({n} frames, 3840x2160): "
              f"{wall:.2f} s/frame wall, {cpu:.2f} s/frame CPU (aim <= 1 s/frame wall on 2 cores), "
              f"peak RSS {peak:.2f} GB")
        print(f"serial decode + OpenEXR writes ({BASELINE_FRAMES} frames): {base_wall:.2f} s/frame wall, "
              f"{base_cpu:.2f} s/frame CPU; ratio import-void / serial: {wall / base_wall:.2f} wall, "
              f"{cpu / base_cpu:.2f} CPU")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
