"""``void-nuke demo``: a generated shot through a real server, end to end.

The shot is synthetic so the demo runs in any fresh clone: a textured,
locked-off background with an HDR highlight, a ball rolling across it (the
object to remove) and the ball's shadow (the affected region). A server is
started as a subprocess on a free loopback port, the client submits over
ZeroMQ, and the results land in ``OUT/results/v001`` with a contact sheet.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .display import QUADMASK_COLOURS, linear_to_srgb, to_uint8
from .exrio import Image, make_spec, read_image, write_display_image, write_image
from .shot import MaskSettings, OutputSettings, Shot
from .sequences import FrameRange

FIRST_FRAME = 1001


@dataclass
class SyntheticShot:
    shot: Shot
    background: np.ndarray
    """The clean plate (float32 RGB), the ground truth a removal should reach."""


def background(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A textured, locked-off scene in scene-linear RGB, with one highlight above 1.0."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    horizon = 0.45
    sky = np.stack([0.25 + 0.2 * v, 0.35 + 0.2 * v, 0.6 + 0.1 * v], axis=-1)
    planks = 0.5 + 0.5 * np.sin(2 * np.pi * (x / 23.0 + 0.15 * np.sin(y / 17.0)))
    ground = np.stack([0.30 + 0.12 * planks, 0.20 + 0.08 * planks, 0.10 + 0.04 * planks], axis=-1)
    img = np.where((v < horizon)[..., None], sky, ground)
    img *= (0.9 + 0.2 * rng.random((height, width, 1))).astype(np.float32)
    sun = np.exp(-(((u - 0.8) / 0.04) ** 2 + ((v - 0.15) / 0.06) ** 2))[..., None]
    img = img + 4.0 * sun * np.array([1.0, 0.95, 0.8], np.float32)
    return img.astype(np.float32)


def _disc(width: int, height: int, cx: float, cy: float, rx: float, ry: float, soft: float = 1.0) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return np.clip((1.0 - r) * min(rx, ry) / soft + 0.5, 0.0, 1.0).astype(np.float32)


def make_synthetic_shot(folder: str, frames: int = 24, size: Tuple[int, int] = (480, 270), seed: int = 7,
                        engine: str = "classic", first: int = FIRST_FRAME) -> SyntheticShot:
    """Write plate, remove and affected sequences into ``folder``; return the Shot and clean plate."""
    width, height = size
    os.makedirs(folder, exist_ok=True)
    bg = background(width, height, seed)
    spec = make_spec(width, height, ("R", "G", "B", "A"), "float16")
    matte_spec = make_spec(width, height, ("A",), "float16")
    radius = max(6.0, height * 0.09)
    for i in range(frames):
        t = i / max(1, frames - 1)
        cx, cy = width * (0.15 + 0.7 * t), height * 0.62 - radius * 0.8 * abs(np.sin(np.pi * 2 * t))
        ball = _disc(width, height, cx, cy, radius, radius)
        shadow = _disc(width, height, cx + radius * 0.6, height * 0.62 + radius * 1.05, radius * 1.3,
                       radius * 0.35, soft=radius * 0.25)
        plate = bg * (1.0 - 0.6 * shadow[..., None])
        shade = 0.6 + 0.4 * _disc(width, height, cx - radius * 0.3, cy - radius * 0.3, radius, radius, radius)
        red = np.array([0.8, 0.06, 0.04], np.float32) * shade[..., None]
        plate = plate * (1.0 - ball[..., None]) + red * ball[..., None]
        rgba = np.concatenate([plate, np.ones((height, width, 1), np.float32)], axis=-1).astype(np.float16)
        frame = first + i
        write_image(os.path.join(folder, f"plate.{frame:04d}.exr"), Image(rgba, spec), overwrite=True)
        write_image(os.path.join(folder, f"remove.{frame:04d}.exr"),
                    Image(ball.astype(np.float16)[..., None], matte_spec), overwrite=True)
        write_image(os.path.join(folder, f"affected.{frame:04d}.exr"),
                    Image(shadow.astype(np.float16)[..., None], matte_spec), overwrite=True)
    shot = Shot.from_dict({
        "name": "demo", "plate": os.path.join(folder, "plate.####.exr"),
        "frames": str(FrameRange(first, first + frames - 1)),
        "remove": [os.path.join(folder, "remove.####.exr")],
        "affected": [os.path.join(folder, "affected.####.exr")],
        "prompt": "A wooden deck under a blue sky, nothing on it.",
        "engine": {"name": engine},
        # the shadow is there from the first frame, so VOID's "no affected region on the first
        # frame" convention would leave it standing in frame one
        "masks": MaskSettings(threshold=0.1, feather=6.0, clear_affected_first_frame=False).to_dict(),
        "output": OutputSettings(os.path.join(os.path.dirname(folder), "results"), name="demo",
                                 mask_layer=True).to_dict(),
    })
    return SyntheticShot(shot, bg)


# -- contact sheet --------------------------------------------------------------------------

QUADMASK_CLASSES = {0: "remove", 63: "overlap", 127: "affected"}


def quadmask_preview(plate_srgb: np.ndarray, mask_value: np.ndarray) -> np.ndarray:
    """The plate dimmed to grey with the quadmask classes painted over it (uint8 RGB)."""
    grey = (plate_srgb.astype(np.float32).mean(axis=-1, keepdims=True) * 0.4).astype(np.uint8)
    out = np.repeat(grey, 3, axis=-1)
    q = np.rint(mask_value * 255.0).astype(np.int32)
    for value, name in QUADMASK_CLASSES.items():
        out[np.abs(q - value) <= 8] = QUADMASK_COLOURS[name]
    return out


def contact_sheet(plates: List[str], results: List[str], path: str, gap: int = 4) -> None:
    """Rows of plate | quadmask | result, from plate and result EXRs (with a void.mask layer)."""
    rows = []
    for plate_path, result_path in zip(plates, results):
        plate = to_uint8(linear_to_srgb(read_image(plate_path).rgb()))
        result_img = read_image(result_path)
        result = to_uint8(linear_to_srgb(result_img.rgb()))
        mask = result_img.channel("void.mask").astype(np.float32)
        h = plate.shape[0]
        spacer = np.full((h, gap, 3), 20, np.uint8)
        rows.append(np.concatenate([plate, spacer, quadmask_preview(plate, mask), spacer, result], axis=1))
    sep = np.full((gap, rows[0].shape[1], 3), 20, np.uint8)
    sheet = np.concatenate([x for row in rows for x in (row, sep)][:-1], axis=0)
    write_display_image(path, sheet)


# -- the demo ---------------------------------------------------------------------------------

def start_server(data_dir: str, extra: Optional[List[str]] = None) -> Tuple[subprocess.Popen, str]:
    """Start ``void-server serve`` on a free loopback port; return the process and its address."""
    cmd = [sys.executable, "-m", "void_server.cli", "serve", "--bind", "tcp://127.0.0.1:*", "--data", data_dir]
    # its own session: the server and its worker form one process group, stopped together
    proc = subprocess.Popen(cmd + (extra or []), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"listening on (tcp://\S+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise RuntimeError("void-server did not start:\n" + "".join(lines))


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_demo(out: str, frames: int = 24, size: Tuple[int, int] = (480, 270), progress: str = "auto") -> str:
    from .client import Client
    from .progress import make_reporter

    print(f"void-nuke demo: generating a {frames}-frame {size[0]}x{size[1]} shot in {out}/shot")
    synthetic = make_synthetic_shot(os.path.join(out, "shot"), frames, size)
    shot = synthetic.shot
    proc, address = start_server(os.path.join(out, "server-data"))
    print(f"started void-server at {address} (pid {proc.pid})")
    try:
        bar = make_reporter(progress)
        try:
            with Client(address, timeout=60) as client:
                result = client.run(shot, on_progress=bar)
        finally:
            bar.close()
    finally:
        stop_server(proc)
    picks = sorted({result.frames[0], result.frames[len(result.frames) // 2], result.frames[-1]})
    sheet = os.path.join(out, "contact_sheet.png")
    contact_sheet([shot.plate_sequence.path(f) for f in picks],
                  [os.path.join(result.version_dir, shot.result_name(f)) for f in picks], sheet)
    print(f"results: {result.version_dir} ({len(result.frames)} EXR frames, job {result.job_id})")
    print(f"contact sheet (plate | quadmask | result): {sheet}")
    return result.version_dir
