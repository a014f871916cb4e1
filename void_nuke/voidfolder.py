"""VOID's sequence folders in and out: ``input_video.mp4``, ``quadmask_0.mp4``, ``prompt.json``.

Import turns a folder into what a compositor works with: a linear EXR plate
(8-bit sRGB decoded with the exact sRGB EOTF), the quadmask as a remove matte
(quadmask 0 or 63) and an affected matte (63 or 127), and a shot file. Through
the quadmask rule (remove only → 0, both → 63, affected only → 127) those two
mattes give back the very same quadmask.

Export does the reverse for a shot whose masks are mattes: the plate as 8-bit
sRGB H.264, the quadmask as lossless H.264 (qp 0, yuv444p; decoded RGB has
exactly the values 0, 63, 127 and 255 in every channel, as VOID's loader reads
channel 0), and ``prompt.json`` = ``{"bg": <shot prompt>}``.

PyAV is imported lazily (extra ``[video]``), so the rest of void_nuke never needs it.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable, Deque, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .atomic import atomic_path, atomic_write_bytes
from .display import display_uint8, from_uint8, srgb_to_linear
from .errors import ImageError, ShotError, VoidError
from .exrio import Image, ImageSpec, make_spec, read_image, read_matte, write_image
from .sequences import FrameRange, SequencePattern
from .shapes import PointPrompt, Prompts
from .shot import MaskSettings, MatteSource, OutputSettings, Shot

log = logging.getLogger(__name__)

VIDEO_NAME = "input_video.mp4"
QUADMASK_NAME = "quadmask_0.mp4"
PROMPT_NAME = "prompt.json"
CLICKS_NAME = "segmentation_info.json"
SAMPLE_QUADMASK_NAME = "trimask_quadmask.mp4"
VOID_MAX_FRAMES = 197
VOID_FPS = 12.0
LINEAR_SRGB = "Linear Rec.709 (sRGB)"

ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, what)."""


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise VoidError("reading and writing VOID folders needs PyAV; install it with "
                        "'python -m pip install \"void-nuke[video]\"' (or 'pip install av')",
                        code="missing_dependency") from None
    return av


# -- the quadmask rule ---------------------------------------------------------------------

def quantise_quadmask(values: np.ndarray) -> np.ndarray:
    """Snap 8-bit mask values to 0/63/127/255 with VOID's thresholds (≤31, ≤95, ≤191)."""
    v = np.asarray(values)
    out = np.full(v.shape, 255, np.uint8)
    out[v <= 191] = 127
    out[v <= 95] = 63
    out[v <= 31] = 0
    return out


def mattes_from_quadmask(quadmask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(remove, affected) booleans: remove = q ∈ {0, 63}, affected = q ∈ {63, 127}."""
    q = np.asarray(quadmask)
    return (q == 0) | (q == 63), (q == 63) | (q == 127)


def quadmask_from_mattes(remove: np.ndarray, affected: np.ndarray) -> np.ndarray:
    """The quadmask rule: remove only → 0, both → 63, affected only → 127, neither → 255."""
    out = np.full(np.shape(remove), 255, np.uint8)
    out[affected] = 127
    out[remove] = 0
    out[remove & affected] = 63
    return out


# -- finding a folder's files --------------------------------------------------------------

@dataclass(frozen=True)
class VoidFolder:
    """The files of one VOID sequence folder."""

    folder: str
    video: str
    mask: Optional[str]
    """The quadmask video, or None for a folder that only has clicks."""
    binary_masks: Tuple[str, ...]
    """VOID's alternative input: ``mask_*.mp4`` binary videos (white = remove)."""
    prompt: str
    clicks: Optional[str]

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.folder)) or "void"


def find_void_folder(folder: str) -> VoidFolder:
    """Locate the video, mask, prompt and clicks of a folder, in VOID's own order.

    VOID's loader uses ``mask_*.mp4`` (binary masks) when any exist, else the first
    ``mask*.mp4``, else the first ``quadmask_*.mp4``. VOID's sample folders ship
    ``trimask_quadmask.mp4``, which VOID itself does not find; it is accepted here last.
    """
    if not os.path.isdir(folder):
        raise VoidError(f"{folder} is not a folder; give a VOID sequence folder holding {VIDEO_NAME}")
    video = os.path.join(folder, VIDEO_NAME)
    if not os.path.isfile(video):
        raise VoidError(f"{folder} has no {VIDEO_NAME}; a VOID sequence folder holds {VIDEO_NAME}, "
                        f"{QUADMASK_NAME} and {PROMPT_NAME}")
    binary = tuple(sorted(glob.glob(os.path.join(glob.escape(folder), "mask_*.mp4"))))
    mask = None
    if not binary:
        for pattern in ("mask*.mp4", "quadmask_*.mp4", SAMPLE_QUADMASK_NAME):
            found = sorted(glob.glob(os.path.join(glob.escape(folder), pattern)))
            if found:
                mask = found[0]
                break
    clicks = os.path.join(folder, CLICKS_NAME)
    return VoidFolder(folder=folder, video=video, mask=mask, binary_masks=binary,
                      prompt=read_prompt(os.path.join(folder, PROMPT_NAME)),
                      clicks=clicks if os.path.isfile(clicks) else None)


def read_prompt(path: str) -> str:
    """The ``bg`` text of a ``prompt.json`` ("" when the file is absent)."""
    if not os.path.isfile(path):
        return ""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise VoidError(f"{path} is not readable JSON ({exc}); it should hold {{\"bg\": \"...\"}}") from None
    if not isinstance(data, dict) or not isinstance(data.get("bg", ""), str):
        raise VoidError(f"{path} should hold {{\"bg\": \"<the scene after removal>\"}}")
    return data.get("bg", "")


def read_clicks(path: str, first_frame: int, size: Optional[Tuple[int, int]] = None) -> Prompts:
    """Clicked points of a ``segmentation_info.json`` as positive SAM2 point prompts.

    VOID stores pixel indices by 0-based frame index; they become pixel centres
    (``+ 0.5``) on plate frame ``first_frame + index``, scaled to ``size`` (width,
    height) when the file was clicked at another resolution.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise VoidError(f"cannot read clicked points from {path}: {exc}") from None
    by_frame = data.get("primary_points_by_frame") or data.get("points_by_frame") or {}
    if not isinstance(by_frame, dict):
        raise VoidError(f"{path}: points_by_frame should map frame indices to [[x, y], ...]")
    sx = sy = 1.0
    if size and data.get("frame_width") and data.get("frame_height"):
        sx = size[0] / float(data["frame_width"])
        sy = size[1] / float(data["frame_height"])
    points = []
    for index, pts in sorted(by_frame.items(), key=lambda kv: int(kv[0])):
        for xy in pts:
            if not (isinstance(xy, (list, tuple)) and len(xy) == 2):
                raise VoidError(f"{path}: frame {index} has a point {xy!r}; points are [x, y]")
            points.append(PointPrompt(frame=first_frame + int(index), x=(float(xy[0]) + 0.5) * sx,
                                      y=(float(xy[1]) + 0.5) * sy))
    return Prompts(points=tuple(points))


# -- video decoding ------------------------------------------------------------------------

@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    frames: int
    fps: float


def probe_video(path: str) -> VideoInfo:
    """Size, frame count (by decoding when the header does not say) and frame rate."""
    av = _av()
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            frames = stream.frames or sum(1 for _ in container.decode(stream))
            rate = stream.average_rate or stream.base_rate or VOID_FPS
            return VideoInfo(stream.codec_context.width, stream.codec_context.height, int(frames),
                             float(rate))
    except (av.error.FFmpegError, IndexError) as exc:
        raise VoidError(f"cannot read the video {path}: {exc}") from None


def read_rgb_frames(path: str, size: Optional[Tuple[int, int]] = None,
                    interpolation: str = "AREA") -> Iterator[np.ndarray]:
    """Decode every frame as uint8 RGB ``(H, W, 3)``, optionally resized to ``size`` (w, h)."""
    av = _av()
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # FFmpeg's frame and slice threads
            for frame in container.decode(stream):
                if size and (frame.width, frame.height) != tuple(size):
                    frame = frame.reformat(width=size[0], height=size[1], format="rgb24",
                                           interpolation=interpolation)
                yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise VoidError(f"cannot decode {path}: {exc}") from None


def read_quadmask_frames(path: str, size: Optional[Tuple[int, int]] = None) -> Iterator[np.ndarray]:
    """A quadmask video's channel 0 (as VOID reads it), snapped to 0/63/127/255."""
    for rgb in read_rgb_frames(path, size):
        yield quantise_quadmask(rgb[:, :, 0])


def read_binary_remove_frames(paths: Sequence[str], size: Tuple[int, int]) -> Iterator[np.ndarray]:
    """VOID's ``mask_*.mp4`` inputs (white ≥ 240 = remove), united, as a quadmask."""
    readers = [read_rgb_frames(p, size) for p in paths]
    for frames in zip(*readers):
        remove = np.zeros(frames[0].shape[:2], bool)
        for rgb in frames:
            remove |= rgb[:, :, 0] >= 240
        yield quadmask_from_mattes(remove, np.zeros_like(remove))


# -- video encoding ------------------------------------------------------------------------

def write_video(path: str, frames: Iterable[np.ndarray], fps: float, lossless: bool,
                crf: int = 12) -> int:
    """Encode uint8 RGB frames as H.264 yuv444p in an mp4, atomically; returns the frame count.

    ``lossless`` uses qp 0: grey values then survive the RGB → YUV → RGB round trip
    exactly for VOID's four mask levels (verified by ``check_quadmask_video``).
    """
    av = _av()
    count = 0
    with atomic_path(path) as tmp:
        container = av.open(tmp, mode="w", format="mp4")
        try:
            stream = None
            for rgb in frames:
                rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
                if stream is None:
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.width, stream.height = rgb.shape[1], rgb.shape[0]
                    stream.pix_fmt = "yuv444p"
                    stream.options = {"qp": "0"} if lossless else {"crf": str(crf)}
                elif (rgb.shape[1], rgb.shape[0]) != (stream.width, stream.height):
                    raise ImageError(f"frame {count} is {rgb.shape[1]}x{rgb.shape[0]}, the video is "
                                     f"{stream.width}x{stream.height}; every frame needs the same size")
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise VoidError(f"no frames to write into {path}")
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
    return count


def check_quadmask_video(path: str, expected: Sequence[np.ndarray]) -> None:
    """Decode a written quadmask and require every channel to equal ``expected`` exactly."""
    n = 0
    for n, (rgb, want) in enumerate(zip(read_rgb_frames(path), expected), 1):
        for c in range(3):
            if not np.array_equal(rgb[:, :, c], want):
                raise VoidError(f"{path} frame {n - 1} does not decode to the quadmask it was written "
                                "from; the H.264 encoder is not lossless here (is libx264 available?)")
    if n != len(expected):
        raise VoidError(f"{path} decodes to {n} frames, {len(expected)} were written")


# -- import --------------------------------------------------------------------------------

SRGB_TO_LINEAR_HALF = srgb_to_linear(from_uint8(np.arange(256, dtype=np.uint8))).astype(np.float16)
"""The exact sRGB EOTF of every 8-bit code value, as half floats: decoding a frame is a lookup."""
IO_THREADS = max(2, min(4, os.cpu_count() or 1))


def run_pipelined(tasks: Iterable[Tuple[Any, ...]], on_done: Callable[[], None],
                  threads: int = IO_THREADS) -> None:
    """Run ``fn(*args)`` for each ``(fn, *args)`` of ``tasks`` on ``threads`` threads, in order.

    ``tasks`` is consumed on the calling thread (a video decoder), at most
    ``2 * threads`` tasks are in flight (bounded memory), ``on_done`` is called on the
    calling thread as each finishes, and the first error stops the rest and is raised.
    """
    pending: "Deque[Future[Any]]" = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="void-io") as pool:
        try:
            for fn, *args in tasks:
                pending.append(pool.submit(fn, *args))
                while len(pending) >= 2 * threads:
                    pending.popleft().result()
                    on_done()
            while pending:
                pending.popleft().result()
                on_done()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise

@dataclass(frozen=True)
class ImportResult:
    shot: Shot
    shot_path: str
    fps: float


def import_void_folder(folder: str, out_dir: str, first_frame: int = 1001, clicks: Optional[bool] = None,
                       shot_format: str = "toml", compression: str = "zip",
                       progress: Optional[ProgressFn] = None) -> ImportResult:
    """Turn a VOID folder into a linear EXR plate, remove/affected mattes and a shot file.

    ``clicks``: carry ``segmentation_info.json`` points into the shot's SAM2 prompts.
    By default only when the folder has no mask (the clicks are then the only way to
    say what to remove); with a mask they would make the server run SAM2 again and
    unite its matte with the imported one.
    """
    src = find_void_folder(folder)
    info = probe_video(src.video)
    if src.mask is None and not src.binary_masks and src.clicks is None:
        raise VoidError(f"{folder} has no mask video ({QUADMASK_NAME}) and no {CLICKS_NAME}: "
                        "nothing says what to remove")
    name = src.name
    plate = SequencePattern(os.path.join(out_dir, "plate", f"{name}.####.exr"))
    remove = SequencePattern(os.path.join(out_dir, "mask", f"{name}_remove.####.exr"))
    affected = SequencePattern(os.path.join(out_dir, "mask", f"{name}_affected.####.exr"))
    shot_path = os.path.join(out_dir, f"{name}.{shot_format}")
    frames = FrameRange(first_frame, first_frame + info.frames - 1)
    _refuse_existing([shot_path, plate.path(frames.first), remove.path(frames.first)])

    has_mask = src.mask is not None or bool(src.binary_masks)
    total = info.frames * (2 if has_mask else 1)
    count = {"done": 0}
    plate_spec = make_spec(info.width, info.height, ("R", "G", "B"),
                           attributes={"void:source": os.path.basename(src.video)})
    matte_spec = make_spec(info.width, info.height, ("A",))

    def write_plate(frame: int, rgb: np.ndarray) -> None:
        write_image(plate.path(frame), Image(SRGB_TO_LINEAR_HALF[rgb], plate_spec), compression)

    def write_mattes(frame: int, quad: np.ndarray) -> None:
        for pattern, matte in zip((remove, affected), mattes_from_quadmask(quad)):
            write_image(pattern.path(frame), Image(matte.astype(np.float16)[:, :, None], matte_spec), compression)

    def done(what: str) -> None:
        count["done"] += 1
        _report(progress, count["done"], total, what)

    # The main thread decodes; a few threads convert and write (OpenImageIO and the OpenEXR
    # bindings compress in native code); at most a few frames are in flight at any time.
    run_pipelined(((write_plate, frame, rgb) for frame, rgb in zip(frames, read_rgb_frames(src.video))),
                  lambda: done("plate"))
    if has_mask:
        size = (info.width, info.height)
        masks = (read_binary_remove_frames(src.binary_masks, size) if src.binary_masks
                 else read_quadmask_frames(src.mask, size))
        before = count["done"]
        run_pipelined(((write_mattes, frame, quad) for frame, quad in zip(frames, masks)), lambda: done("mask"))
        written = count["done"] - before
        if written != info.frames:
            raise VoidError(f"the mask video of {folder} has {written} frames but {VIDEO_NAME} has "
                            f"{info.frames}; VOID needs both the same length")

    use_clicks = (not has_mask) if clicks is None else clicks
    prompts = Prompts()
    if use_clicks and src.clicks:
        prompts = read_clicks(src.clicks, first_frame, (info.width, info.height))
    shot = Shot(
        plate=plate.pattern, frames=frames, name=name, prompt=src.prompt, colorspace=LINEAR_SRGB,
        output=OutputSettings(directory=os.path.join(out_dir, "render")),
        remove=(MatteSource(remove.pattern),) if has_mask else (),
        affected=(MatteSource(affected.pattern),) if has_mask else (),
        prompts=prompts,
        # The imported quadmask is final: no dilation, and frame 0 keeps what it has.
        masks=MaskSettings(dilate_remove=0, clear_affected_first_frame=False),
    )
    _relative_shot(shot, out_dir).save(shot_path)
    return ImportResult(shot=shot, shot_path=shot_path, fps=info.fps)


def _relative_shot(shot: Shot, base: str) -> Shot:
    """The same shot with paths relative to ``base``, so the imported folder can move."""
    def rel(path: str) -> str:
        return os.path.relpath(path, base)

    return replace(shot, plate=rel(shot.plate),
                   remove=tuple(replace(m, pattern=rel(m.pattern)) for m in shot.remove),
                   affected=tuple(replace(m, pattern=rel(m.pattern)) for m in shot.affected),
                   output=replace(shot.output, directory=rel(shot.output.directory)))


def _refuse_existing(paths: Iterable[str]) -> None:
    for path in paths:
        if os.path.exists(path):
            raise VoidError(f"{path} already exists; void-nuke never overwrites files: import into "
                            "an empty --out folder")


def _report(progress: Optional[ProgressFn], done: int, total: int, what: str) -> None:
    if progress is not None:
        progress(done, total, what)


# -- export --------------------------------------------------------------------------------

def export_void_folder(shot: Shot, folder: str, fps: float = VOID_FPS,
                       quadmask: Optional[MatteSource] = None, crf: int = 12,
                       progress: Optional[ProgressFn] = None) -> VoidFolder:
    """Write ``shot`` as a VOID folder: sRGB H.264 plate, lossless quadmask, prompt.json.

    The quadmask comes from ``quadmask`` (a sequence holding quadmask values / 255,
    e.g. the server's ``void.mask`` layer) or from the shot's remove/affected mattes.
    Shots that also need rasterising (Roto shapes, SAM2 clicks, dilation) must give
    ``quadmask``: those are built on the server.
    """
    if quadmask is None:
        _check_mattes_only(shot)
    frames = list(shot.process_frames)
    if len(frames) > VOID_MAX_FRAMES:
        log.warning("%s has %d frames; VOID reads only the first %d", shot.name, len(frames),
                    VOID_MAX_FRAMES)
    paths = [os.path.join(folder, n) for n in (VIDEO_NAME, QUADMASK_NAME, PROMPT_NAME)]
    _refuse_existing(paths)
    plate = SequencePattern(shot.plate)
    missing = plate.missing(frames)
    if missing:
        raise VoidError(f"plate frames {missing[:5]} of {shot.plate} are missing; render them first")
    os.makedirs(folder, exist_ok=True)
    total = 2 * len(frames)

    def plate_frames() -> Iterator[np.ndarray]:
        for i, frame in enumerate(frames, 1):
            img = read_image(plate.path(frame))
            rgb = in_display_window(img.rgb(), img.spec)
            _report(progress, i, total, "plate")
            yield display_uint8(rgb, shot.colorspace, shot.ocio_config)

    write_video(paths[0], plate_frames(), fps, lossless=False, crf=crf)

    masks: List[np.ndarray] = []

    def mask_frames() -> Iterator[np.ndarray]:
        for i, frame in enumerate(frames):
            q = (_quadmask_from_sequence(quadmask, frame) if quadmask is not None
                 else _quadmask_from_shot(shot, frame, first=(i == 0)))
            masks.append(q)
            _report(progress, len(frames) + i + 1, total, "quadmask")
            yield np.repeat(q[:, :, None], 3, axis=2)

    write_video(paths[1], mask_frames(), fps, lossless=True)
    check_quadmask_video(paths[1], masks)
    atomic_write_bytes(paths[2], (json.dumps({"bg": shot.prompt}, indent=2) + "\n").encode("utf-8"))
    return find_void_folder(folder)


def _check_mattes_only(shot: Shot) -> None:
    needs = []
    if shot.shapes:
        needs.append("Roto shapes")
    if shot.prompts:
        needs.append("SAM2 clicks")
    if shot.masks.dilate_remove:
        needs.append("remove-matte dilation")
    if not shot.remove:
        needs.append("no remove matte")
    if needs:
        raise VoidError(f"shot {shot.name} has {', '.join(needs)}; export-void builds the quadmask from "
                        "remove/affected mattes only. Render the server's quadmask (output mask_layer) "
                        "and pass it with --quadmask PATTERN", code="needs_quadmask")


def in_display_window(pixels: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Pixels over the data window placed into a zero canvas the size of the display window."""
    if spec.data_window == (spec.full_x, spec.full_y, spec.full_width, spec.full_height):
        return pixels
    canvas = np.zeros((spec.full_height, spec.full_width) + pixels.shape[2:], pixels.dtype)
    x0, y0 = spec.x - spec.full_x, spec.y - spec.full_y
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + spec.width, spec.full_width), min(y0 + spec.height, spec.full_height)
    if cx1 > cx0 and cy1 > cy0:
        canvas[cy0:cy1, cx0:cx1] = pixels[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return canvas


def _matte(source: MatteSource, frame: int, threshold: float) -> np.ndarray:
    if source.pattern is None:
        raise ShotError("remove", "export-void needs mattes as image sequences, not plate channels; "
                                  "pass the quadmask with --quadmask PATTERN")
    values, spec = read_matte(SequencePattern(source.pattern).path(frame), source.channel)
    if source.invert:
        values = 1.0 - values
    return in_display_window(values, spec) > threshold


def _quadmask_from_shot(shot: Shot, frame: int, first: bool) -> np.ndarray:
    thr = shot.masks.threshold
    remove = np.logical_or.reduce([_matte(m, frame, thr) for m in shot.remove])
    affected = np.zeros_like(remove)
    if shot.affected:
        affected = np.logical_or.reduce([_matte(m, frame, thr) for m in shot.affected])
    if first and shot.masks.clear_affected_first_frame:
        affected[:] = False  # as the server's quadmask builder: no affected role on the first frame
    return quadmask_from_mattes(remove, affected)


def _quadmask_from_sequence(source: MatteSource, frame: int) -> np.ndarray:
    values, spec = read_matte(SequencePattern(source.pattern).path(frame), source.channel)
    return quantise_quadmask(np.rint(in_display_window(values, spec) * 255.0))


# -- command line --------------------------------------------------------------------------

def register(subparsers: Any) -> None:
    """Add ``import-void`` and ``export-void`` to the void-nuke command line."""
    p = subparsers.add_parser("import-void", help="turn a VOID sequence folder into an EXR plate, "
                                                   "mattes and a shot file")
    p.add_argument("folder", help="VOID folder with input_video.mp4 and quadmask_0.mp4 "
                                  "(or trimask_quadmask.mp4), prompt.json")
    p.add_argument("--out", required=True, help="empty folder that receives plate/, mask/ and the shot")
    p.add_argument("--first-frame", type=int, default=1001, help="plate frame number of the first "
                                                                 "video frame (default 1001)")
    clicks = p.add_mutually_exclusive_group()
    clicks.add_argument("--clicks", dest="clicks", action="store_true", default=None,
                        help="also carry segmentation_info.json points into the shot's SAM2 prompts")
    clicks.add_argument("--no-clicks", dest="clicks", action="store_false",
                        help="never carry clicked points over")
    p.add_argument("--format", choices=("toml", "json", "yaml"), default="toml", help="shot file format")
    p.set_defaults(func=_cmd_import)

    p = subparsers.add_parser("export-void", help="write a shot as a VOID sequence folder")
    p.add_argument("shot", help="shot file (.toml, .json or .yaml)")
    p.add_argument("--out", required=True, help="folder that receives input_video.mp4, "
                                                "quadmask_0.mp4 and prompt.json")
    p.add_argument("--fps", type=float, default=VOID_FPS, help="frame rate of the videos (default 12)")
    p.add_argument("--quadmask", help="sequence holding the quadmask as value/255 (e.g. the server's "
                                      "mask layer); needed when the shot has shapes or clicks")
    p.add_argument("--quadmask-channel", help="channel of --quadmask to read (default alpha or the "
                                              "only channel)")
    p.add_argument("--crf", type=int, default=12, help="H.264 quality of input_video.mp4 (0 = lossless)")
    p.set_defaults(func=_cmd_export)


def _print_progress(done: int, total: int, what: str) -> None:
    sys.stderr.write(f"\r{what}: {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _cmd_import(args: argparse.Namespace) -> int:
    result = import_void_folder(args.folder, args.out, first_frame=args.first_frame, clicks=args.clicks,
                                shot_format=args.format, progress=_print_progress)
    print(f"wrote {result.shot_path} ({len(result.shot.frames)} frames {result.shot.frames}, "
          f"source {result.fps:g} fps)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    shot = Shot.load(args.shot)
    quadmask = MatteSource(args.quadmask, args.quadmask_channel) if args.quadmask else None
    export_void_folder(shot, args.out, fps=args.fps, quadmask=quadmask, crf=args.crf,
                       progress=_print_progress)
    print(f"wrote {os.path.join(args.out, VIDEO_NAME)}, {QUADMASK_NAME} and {PROMPT_NAME}")
    return 0
