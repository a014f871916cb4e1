"""Host memory of the server for a 4K, 197-frame job: frames are streamed, not held.

A 3840x2160 RGBA half plate of 197 frames (13 GB of pixels) is uploaded to a real
void-server over ZeroMQ and its quadmask preview streamed back (the preview runs
every stage of the job except the engine, so the measurement is the transport and
job machinery, not a model). Peak resident memory of the server process, its worker
and this client are sampled from /proc and compared with the size of one frame and
of the whole shot.

    python bench/bench_server_memory.py [--frames 197] [--keep]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import tempfile
import threading
import time
from typing import Dict, List

import numpy as np

from void_nuke.client import Client
from void_nuke.demo import start_server, stop_server
from void_nuke.exrio import Image, make_spec, write_image
from void_nuke.shot import Shot

WIDTH, HEIGHT = 3840, 2160


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


class Sampler(threading.Thread):
    """Samples the peak RSS of the server and its worker every 100 ms."""

    def __init__(self, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.peak: Dict[str, int] = {"server": 0, "worker": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak["server"] = max(self.peak["server"], rss_kb(self.server_pid))
            for child in children(self.server_pid):
                self.peak["worker"] = max(self.peak["worker"], rss_kb(child))
            time.sleep(0.1)


def make_plate(folder: str, frames: int) -> Shot:
    """Three distinct 4K frames, linked 197 times: a long plate without 13 GB of disk."""
    rng = np.random.default_rng(0)
    spec = make_spec(WIDTH, HEIGHT, ("R", "G", "B", "A"), "float16")
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    sources = []
    for k in range(3):
        rgba = rng.random((HEIGHT, WIDTH, 4), dtype=np.float32)
        rgba[..., 3] = ((x - 1200 - 600 * k) ** 2 + (y - 1000) ** 2 < 300 ** 2)  # the object to remove
        path = os.path.join(folder, f"source{k}.exr")
        write_image(path, Image(rgba.astype(np.float16), spec), compression="none")
        sources.append(path)
    for i in range(frames):
        os.symlink(sources[i % 3], os.path.join(folder, f"plate.{1001 + i:04d}.exr"))
    return Shot.from_dict({"plate": os.path.join(folder, "plate.####.exr"), "frames": f"1001-{1000 + frames}",
                           "remove": [{"channel": "A"}], "masks": {"feather": 0},
                           "output": {"directory": os.path.join(folder, "out"), "compression": "none"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=197)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="void-membench-")
    try:
        shot = make_plate(work, args.frames)
        proc, address = start_server(os.path.join(work, "server-data"))
        sampler = Sampler(proc.pid)
        sampler.start()
        t0 = time.perf_counter()
        try:
            with Client(address, timeout=120) as client:
                result = client.run(shot, preview=True)
        finally:
            elapsed = time.perf_counter() - t0
            sampler.stop.set()
            sampler.join()
            stop_server(proc)
        frame_mb = WIDTH * HEIGHT * 4 * 2 / 1e6
        shot_mb = frame_mb * args.frames
        client_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(f"{time.strftime('%Y-%m-%d')}  {platform.machine()} cores={os.cpu_count()}")
        print(f"{args.frames} frames of {WIDTH}x{HEIGHT} RGBA half: {frame_mb:.1f} MB/frame, "
              f"{shot_mb / 1e3:.1f} GB in all; uploaded and {len(result.frames)} preview frames "
              f"streamed back in {elapsed:.0f} s")
        for name, kb in (("server", sampler.peak["server"]), ("worker", sampler.peak["worker"]),
                         ("client", client_mb * 1e3)):
            mb = kb / 1e3
            print(f"  peak RSS {name:<7} {mb:8.0f} MB = {mb / frame_mb:5.1f} frames = "
                  f"{100 * mb / shot_mb:5.2f} % of the shot")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
