"""Runs one job, top to bottom: check inputs → masks → engine → back to the plate.

The same runner serves the server's worker process and in-process runs
(``void-nuke run``, batches, farm tasks). It is resumable: quadmasks already
built, work units already finished and result frames already written are not
computed again, and the engines are deterministic, so a job resumed after a
``kill -9`` ends with the same files as one that never stopped.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from void_nuke import __version__
from void_nuke.atomic import atomic_write_bytes
from void_nuke.display import is_linear_srgb
from void_nuke.errors import Cancelled, ImageError, VoidError
from void_nuke.exrio import Image, ImageSpec, matte_from_image, read_image, read_spec, write_image
from void_nuke.preflight import SCENE_LINEAR, check_frames, prepare
from void_nuke.progress import EtaClock, Progress
from void_nuke.results import RunResult
from void_nuke.sequences import SequencePattern
from void_nuke.shot import Shot, new_job_id
from void_nuke.versions import VersionFolder, preview_shot

from . import quadmask as qm
from .composite import composite, edit_alpha
from .engines.base import Engine, EngineJob
from .engines.registry import create_engine
from .failures import FAILURES_LOG, JobFailure, append_to_log, job_failure
from .grain import FILL_LAYER, MEASURE_FRAMES, GrainProfile, grain_metadata, grain_seed, measure_grain, \
    synthesise_grain
from .inputcheck import (check_sequences, finite_plate, finite_rgb, keep_plate_outside, nonfinite_warning,
                         nothing_to_remove, removes_something)
from .jobfiles import JobDir
from .raster import rasterize_shapes

log = logging.getLogger(__name__)

MASK_SHARE = 0.1
"""Share of the progress bar given to building quadmasks."""
CACHE_BYTES = 256 << 20
"""Decoded plates kept for re-reads close together (an engine reading a frame, then its compositing).
At 4K a frame is 50-66 MB, so no engine's whole window fits anyway: a larger cache saved no decoding
on the 4K tabletop benchmark (bench/bench_classic.py --tabletop --runner) and cost 700 MB of worker memory."""

Report = Callable[[Progress], None]


class FrameCache:
    """A small LRU of decoded frames, bounded in bytes."""

    def __init__(self, load: Callable[[int], Any], budget: int = CACHE_BYTES) -> None:
        self._load = load
        self._budget = budget
        self._items: "OrderedDict[int, Any]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __call__(self, frame: int) -> Any:
        with self._lock:
            if frame in self._items:
                self._items.move_to_end(frame)
                return self._items[frame]
        value = self._load(frame)
        size = getattr(value, "nbytes", 0) or getattr(getattr(value, "pixels", None), "nbytes", 0)
        with self._lock:
            self._items[frame] = value
            self._bytes += size
            while self._bytes > self._budget and len(self._items) > 2:
                _, old = self._items.popitem(last=False)
                self._bytes -= getattr(old, "nbytes", 0) or getattr(getattr(old, "pixels", None), "nbytes", 0)
        return value


@dataclass
class JobOptions:
    preview: bool = False
    """Stop after the quadmask and deliver it (colour preview + ``void.mask``) instead of a result."""


@dataclass
class JobRunner:
    job_id: str
    shot: Shot
    """The shot with paths this process can read."""
    job_dir: JobDir
    results_dir: str
    """Where results go; empty when ``version`` claims the folder at the first result."""
    settings: Dict[str, Any]
    report: Report = lambda p: None
    check_cancel: Callable[[], None] = lambda: None
    on_result: Callable[[int, str], None] = lambda frame, path: None
    options: JobOptions = field(default_factory=JobOptions)
    engines: Optional["EngineCache"] = None
    version: Optional[VersionFolder] = None
    """Claims the version folder when the first result is about to be written (in-process runs)."""

    def __post_init__(self) -> None:
        self.frames: List[int] = list(self.shot.process_frames)
        self.plate_seq = self.shot.plate_sequence
        self.source_seq = self._source_plate()
        self.linearise = plate_to_scene_linear(self.shot, self.settings)
        self.plates = FrameCache(self._read_plate)
        self.quadmask_seq = SequencePattern(self.job_dir.work_pattern("quadmask"))
        self.clock = EtaClock()
        self.warnings: List[Dict[str, Any]] = []
        """Things the user should know about a job that still succeeded (``{code, message, detail}``)."""
        self.nonfinite: Dict[int, int] = {}
        """Plate frame → pixels holding NaN or infinity."""
        self._grain: Optional[GrainProfile] = None
        self.where: Tuple[str, str, Optional[int]] = ("job", "the job", None)
        """(stage, what runs, frame) for the message of an unexpected failure."""

    def _source_plate(self) -> SequencePattern:
        """The plate as the client named it (the server reads uploaded copies under other names)."""
        try:
            with open(os.path.join(self.job_dir.root, "shot.json"), encoding="utf-8") as fh:
                return Shot.from_dict(json.load(fh)).plate_sequence
        except (OSError, ValueError, VoidError):
            return self.plate_seq

    def _read_plate(self, frame: int) -> Image:
        image = read_image(self.plate_seq.path(frame))
        return image if self.linearise is None else self.linearise(image)

    # -- top level -------------------------------------------------------------------------

    def run(self) -> List[int]:
        """Run every stage; return the frames delivered.

        An exception nobody expected becomes a ``JobFailure`` that names the stage,
        the frame and what to do, with a trace id; its traceback goes to the job
        folder's ``failures.log`` (and, through the worker, to the server log).
        """
        try:
            return self.run_stages()
        except Cancelled:
            raise
        except VoidError as exc:  # already says what is wrong; add the frame it happened on
            if self.where[2] is not None:
                exc.detail.setdefault("frame", self.where[2])
            raise
        except Exception as exc:
            stage, what, frame = self.where
            failure = job_failure(exc, stage, what, frame)
            append_to_log(self.job_dir.root, self.job_id, failure)
            raise failure from exc

    def at(self, stage: str, what: str, frame: Optional[int] = None) -> None:
        """Note what runs now, for the message of a failure."""
        self.where = (stage, what, frame)

    def run_stages(self) -> List[int]:
        self.at("job", "checking the inputs")
        self.check_inputs()
        self.spec = read_spec(self.plate_seq.path(self.frames[0]))
        self.build_quadmasks()
        if self.options.preview:
            return self.write_previews()
        self.check_something_to_remove()
        name = self.shot.engine.name
        self.at("engine", f"loading the {name} engine")
        engine = (self.engines or EngineCache()).get(name, self.settings)
        self.at("engine", f"the {name} engine")
        shot = self.shot if self.linearise is None else self.shot.with_changes(colorspace=SCENE_LINEAR)
        job = EngineJob(job_id=self.job_id, shot=shot, frames=self.frames, spec=self.spec,
                        plate=self.plate_rgb, quadmask=self.read_quadmask, scratch=self.job_dir.scratch,
                        settings=self.settings)
        units = engine.plan(job)
        for n, unit in enumerate(units):
            self.run_unit(engine, job, unit, n, len(units))
        if self.nonfinite:
            self.warnings.append(nonfinite_warning(self.nonfinite))
        self._emit("done", None, len(units), len(units), 1.0, "finished")
        return self.frames

    def plate_rgb(self, frame: int) -> np.ndarray:
        """Scene-linear RGB of a plate frame (float32, finite); the decoded plates are what is cached."""
        return finite_rgb(self.plates(frame).rgb())

    # -- stage 0: inputs -------------------------------------------------------------------

    def check_inputs(self) -> None:
        for role, seq in self.shot.inputs():
            check_frames(role, seq, self.frames, self.shot.handles)
        check_sequences(self.shot, self.frames)

    def check_something_to_remove(self) -> None:
        """A remove region that is empty on every frame is a mistake, not a result equal to the plate."""
        if not any(removes_something(self.read_quadmask(f)) for f in self.frames):
            raise nothing_to_remove(self.shot, self.frames)

    # -- stage 1: quadmasks ----------------------------------------------------------------

    def build_quadmasks(self) -> None:
        sam2_seq = self.segment_prompts() if self.shot.prompts else None
        todo = [f for f in self.frames if not os.path.isfile(self.quadmask_seq.path(f))]
        for i, frame in enumerate(self.frames):
            self.check_cancel()
            if frame not in todo:
                continue
            self.at("masks", "building the quadmask", frame)
            remove, affected = self.mattes(frame)
            if sam2_seq is not None:
                remove.append(read_image(sam2_seq.path(frame)).pixels[:, :, 0].astype(np.float32))
            first = frame == self.frames[0] and self.shot.engine.name in qm.FIRST_FRAME_RULE_ENGINES
            q = qm.build_quadmask(remove, affected, self.shot.masks, first_frame=first,
                                  shape=(self.spec.height, self.spec.width))
            self.write_quadmask(frame, q)
            self._emit("masks", frame, i + 1, len(self.frames), MASK_SHARE * (i + 1) / len(self.frames),
                       f"quadmask {frame}")

    def mattes(self, frame: int) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Every remove and affected alpha for ``frame``, at the plate's data window."""
        found: Dict[str, List[np.ndarray]] = {"remove": [], "affected": []}
        for key, sources in (("remove", self.shot.remove), ("affected", self.shot.affected)):
            for i, src in enumerate(sources):
                if src.pattern is None:
                    alpha = matte_from_image(self.plates(frame), src.channel, f"plate channel {src.channel}")
                else:
                    img = read_image(SequencePattern(src.pattern).path(frame))
                    alpha = self.fit_to_plate(matte_from_image(img, src.channel, src.pattern), img.spec,
                                              f"{key}[{i}]")
                found[key].append(1.0 - alpha if src.invert else alpha)
            if any(s.role == key for s in self.shot.shapes):
                found[key].append(rasterize_shapes(self.shot.shapes, frame, self.spec, role=key))
        return found["remove"], found["affected"]

    def fit_to_plate(self, alpha: np.ndarray, spec: ImageSpec, what: str) -> np.ndarray:
        """Place a matte on the plate's data window (mattes may have their own data window)."""
        p = self.spec
        if (spec.full_width, spec.full_height) != (p.full_width, p.full_height):
            raise ImageError(f"{what}: the matte's format is {spec.full_width}x{spec.full_height} but the "
                             f"plate's is {p.full_width}x{p.full_height}; render the matte at plate resolution")
        if spec.data_window == p.data_window:
            return alpha
        out = np.zeros((p.height, p.width), np.float32)
        x0, y0 = max(p.x, spec.x), max(p.y, spec.y)
        x1, y1 = min(p.x + p.width, spec.x + spec.width), min(p.y + p.height, spec.y + spec.height)
        if x1 > x0 and y1 > y0:
            out[y0 - p.y:y1 - p.y, x0 - p.x:x1 - p.x] = alpha[y0 - spec.y:y1 - spec.y, x0 - spec.x:x1 - spec.x]
        return out

    def segment_prompts(self) -> SequencePattern:
        """Run SAM2 on the clicked points once; its masks are cached in the job folder."""
        seq = SequencePattern(self.job_dir.work_pattern("sam2"))
        if not seq.missing(self.frames):
            return seq
        self.at("masks", "SAM2 segmentation of the clicked points")
        from .sam2_masks import segment

        mask_prompts = {}
        for name in self.shot.prompts.mask_shapes:
            shape = next(s for s in self.shot.shapes if s.name == name)
            for key in shape.keys:
                if key.frame in self.shot.process_frames:
                    mask_prompts[key.frame] = rasterize_shapes([shape], key.frame, self.spec) > 0.5

        def progress(fraction: float, message: str) -> None:
            self.check_cancel()
            self._emit("masks", None, 0, len(self.frames), MASK_SHARE * 0.5 * fraction, message)

        spec = self.plate_shaped(("Y",))
        origin = (self.spec.x - self.spec.full_x, self.spec.y - self.spec.full_y)  # clicks are in the format
        for frame, mask in segment(self.frames, self.plate_rgb, self.shot.prompts, mask_prompts, self.settings,
                                   progress, origin=origin):
            path = seq.path(frame)
            if not os.path.isfile(path):
                write_image(path, Image(mask.astype(np.float16)[:, :, None], spec))
        return seq

    def plate_shaped(self, channels: Tuple[str, ...], **attributes: Any) -> ImageSpec:
        """A half-float spec with the plate's data and display windows."""
        return replace(self.spec, channels=channels, dtype="float16", attributes=attributes)

    def write_quadmask(self, frame: int, q: np.ndarray) -> None:
        spec = self.plate_shaped(("Y",))
        write_image(self.quadmask_seq.path(frame), Image(q.astype(np.float16)[:, :, None], spec),
                    overwrite=True)

    def read_quadmask(self, frame: int) -> np.ndarray:
        return read_image(self.quadmask_seq.path(frame)).pixels[:, :, 0].astype(np.uint8)

    # -- stage 2: engine and paste-back ----------------------------------------------------

    def run_unit(self, engine: Engine, job: EngineJob, unit: Any, n: int, count: int) -> None:
        base = MASK_SHARE + (1.0 - MASK_SHARE) * n / count
        share = (1.0 - MASK_SHARE) / count

        def progress(fraction: float, message: str) -> None:
            self.check_cancel()
            self._emit("engine", None, n, count, base + share * min(max(fraction, 0.0), 1.0), message)

        if all(self.has_result(f) for f in unit.frames):
            return  # finished before a crash or by an earlier task: never computed twice
        what = f"the {engine.name} engine"
        self.at("engine", what, unit.frames[0])
        for i, (frame, rgb) in enumerate(engine.run(job, unit, progress)):
            path = self.result_path(frame)
            if not os.path.isfile(path):
                self.at("result", "writing the result", frame)
                self.write_result(engine, frame, rgb, path)
            self.on_result(frame, path)
            self.at("engine", what, unit.frames[i + 1] if i + 1 < len(unit.frames) else None)
            self._emit("engine", frame, n, count, base + share * (unit.frames.index(frame) + 1) / len(unit.frames),
                       f"frame {frame}")

    def has_result(self, frame: int) -> bool:
        if self.version is not None:
            return self.version.has(self.shot.result_name(frame))
        return os.path.isfile(os.path.join(self.results_dir, self.shot.result_name(frame)))

    def result_path(self, frame: int) -> str:
        """Where ``frame``'s result goes; claims the version folder when there is one to claim."""
        if self.version is not None:
            return self.version.file(self.shot.result_name(frame))
        return os.path.join(self.results_dir, self.shot.result_name(frame))

    def write_result(self, engine: Engine, frame: int, rgb: np.ndarray, path: str) -> None:
        q = self.read_quadmask(frame)
        alpha = edit_alpha(q, self.shot.masks.feather)
        attributes = self.metadata(engine, frame, q)
        grain = None
        if self.shot.output.grain:
            self.at("result", "matching the plate's grain", frame)
            profile = self.grain_profile()
            attributes.update(grain_metadata(profile))
            if profile.present:
                grain = synthesise_grain(profile, rgb, alpha > 0, grain_seed(self.job_id, frame))
        else:
            attributes["void:grain"] = "off"
        self.at("result", "writing the result", frame)
        extra = {"void.mask": qm.mask_layer(q)} if self.shot.output.mask_layer else None
        plate = self.plates(frame)
        clean, bad = finite_plate(plate)
        result = composite(clean, rgb, alpha, extra, attributes, grain=grain,
                           fill_layer=FILL_LAYER if grain is not None else None)
        if bad:
            self.nonfinite[frame] = bad
            keep_plate_outside(result, plate, alpha)
        write_image(path, result, compression=self.shot.output.compression)

    def grain_profile(self) -> GrainProfile:
        """The plate's grain, measured once per job on a few frames and kept in the job's scratch folder."""
        if self._grain is None:
            path = os.path.join(self.job_dir.scratch, "grain.json")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as fh:
                    self._grain = GrainProfile.from_dict(json.load(fh))
            else:
                step = max(1, len(self.frames) // MEASURE_FRAMES)
                sample = self.frames[::step][:MEASURE_FRAMES]
                feather = self.shot.masks.feather
                self._grain = measure_grain((self.plate_rgb(f), edit_alpha(self.read_quadmask(f), feather) > 0)
                                            for f in sample)
                atomic_write_bytes(path, json.dumps(self._grain.to_dict()).encode(), overwrite=True)
        return self._grain

    def metadata(self, engine: Engine, frame: int, q: np.ndarray) -> Dict[str, Any]:
        """Provenance: the job, the real plate file, and only the settings the engine says it used."""
        attrs: Dict[str, Any] = {
            "void:job_id": self.job_id, "void:version": __version__, "void:source_frame": frame,
            "void:source_file": os.path.basename(self.source_seq.path(frame)),
        }
        if self.linearise is not None:
            attrs["void:plate_colorspace"] = self.shot.colorspace
            attrs["void:colorspace"] = SCENE_LINEAR
        attrs.update(engine.metadata())
        for key, value in qm.quadmask_stats(q).items():
            if key == "bbox":  # edit region [x, y, w, h] in data-window pixels, or none
                value = " ".join(str(int(v)) for v in value) if value else "none"
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                attrs[f"void:mask.{key}"] = value
        return attrs

    # -- preview ----------------------------------------------------------------------------

    def write_previews(self) -> List[int]:
        """Deliver the quadmask as colour (R, G, B) plus ``void.mask``, one frame per plate frame."""
        spec = self.plate_shaped(("R", "G", "B", "void.mask"),
                                 **{"void:job_id": self.job_id, "void:preview": "quadmask"})
        for i, frame in enumerate(self.frames):
            self.check_cancel()
            path = self.result_path(frame)
            if not os.path.isfile(path):
                self.at("result", "writing the quadmask preview", frame)
                q = self.read_quadmask(frame)
                colour = (qm.quadmask_to_color(q).astype(np.float32) / 255.0) ** 2.2
                pixels = np.concatenate([colour, qm.mask_layer(q)[:, :, None]], axis=2).astype(np.float16)
                write_image(path, Image(pixels, spec), compression=self.shot.output.compression)
            self.on_result(frame, path)
            self._emit("engine", frame, i + 1, len(self.frames),
                       MASK_SHARE + (1 - MASK_SHARE) * (i + 1) / len(self.frames), f"preview {frame}")
        return self.frames

    def _emit(self, stage: str, frame: Optional[int], done: int, total: int, fraction: float,
              message: str) -> None:
        self.report(Progress(self.job_id, stage, frame, done, total, round(fraction, 4),
                             self.clock.eta(fraction), message))


class EngineCache:
    """Keeps one loaded engine between jobs; loading VOID takes a while."""

    def __init__(self) -> None:
        self._key: Optional[Tuple[str, str]] = None
        self._engine: Optional[Engine] = None

    def get(self, name: str, settings: Dict[str, Any]) -> Engine:
        key = (name, repr(sorted((k, repr(v)) for k, v in settings.items())))
        if self._key != key:
            self.release()
            log.info("new %s engine (its models load once, on first use)", name)
            self._engine = create_engine(name, settings)
            self._key = key
        assert self._engine is not None
        return self._engine

    def release(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine, self._key = None, None


def default_work_dir() -> str:
    """The folder that keeps in-process jobs' state, each in ``jobs/<job id>`` below it."""
    return os.environ.get("VOID_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "void-nuke")


def run_shot_local(shot: Shot, job_id: Optional[str] = None, on_progress: Optional[Report] = None,
                   cancel_event: Optional[threading.Event] = None, version: Optional[str] = None,
                   settings: Optional[Dict[str, Any]] = None, work_dir: Optional[str] = None,
                   preview: bool = False, check_inputs: bool = True) -> RunResult:
    """Run ``shot`` in this process and write results into a new version folder.

    The inputs are checked first (``preflight``); the version folder is claimed when the
    first result is about to be written and given back if the run ends without frames.
    ``version`` names the folder (``v003``) instead of the next free one; farm tasks of one
    shot use it to land in one folder. A quadmask ``preview`` lands in
    ``OUT/quadmask/vNNN/<name>_quadmask.####.exr``. Existing frames are never overwritten.
    """
    from .settings import ServerSettings

    if check_inputs:
        shot = prepare(shot).shot
    if preview:
        shot = preview_shot(shot)
    job_id = job_id or new_job_id(shot)
    work_dir = work_dir or default_work_dir()
    job_dir = JobDir.create(work_dir, job_id)
    job_dir.save_shot(shot.to_dict())
    folder = VersionFolder(shot.output.directory, job_id, version)

    def check_cancel() -> None:
        if cancel_event is not None and cancel_event.is_set():
            raise Cancelled()

    runner = JobRunner(job_id=job_id, shot=shot, job_dir=job_dir, results_dir="",
                       settings=settings or ServerSettings(data_dir=work_dir).engine_settings(),
                       report=on_progress or (lambda p: None), check_cancel=check_cancel,
                       options=JobOptions(preview=preview), version=folder)
    try:
        frames = runner.run()
    except JobFailure as exc:  # no server log here: point at the job folder's log instead
        exc.detail["log"] = os.path.join(job_dir.root, FAILURES_LOG)
        raise
    finally:
        folder.release_if_empty()
    pattern = f"{shot.output_name}.{'#' * shot.result_padding}.exr"
    return RunResult(job_id=job_id, version_dir=folder.path or "", frames=frames,
                     pattern=os.path.join(folder.path, pattern) if folder.path else "")


# -- colour ------------------------------------------------------------------------------------

def plate_to_scene_linear(shot: Shot, settings: Dict[str, Any]) -> Optional[Callable[[Image], Image]]:
    """A converter from the plate's colour space to scene-linear, or None when it is scene-linear.

    Integer plates (JPEG, PNG, DPX...) hold display- or log-encoded values; their shot names
    that colour space. OpenColorIO converts them to ``SCENE_LINEAR`` on reading, so masks,
    engines and results all work in scene-linear. A colour space is left as it is when the
    config marks it scene-linear (or data), or marks no encoding at all.
    """
    if is_linear_srgb(shot.colorspace):
        return None
    import PyOpenColorIO as OCIO

    from .colour import ColourError, choose_config, load_config

    config_name = choose_config(shot.ocio_config, settings.get("ocio_config") or "ocio://default").config
    cfg = load_config(config_name)
    space = cfg.getColorSpace(shot.colorspace)
    if space is None:
        raise ColourError(f"the plate's colour space {shot.colorspace!r} is not in the OCIO config {config_name}; "
                          "name one of its colour spaces with --colorspace (or the shot's colorspace)")
    if space.isData() or space.getEncoding() in ("", "scene-linear", "data"):
        return None
    processor = cfg.getProcessor(shot.colorspace, SCENE_LINEAR).getDefaultCPUProcessor()

    def convert(image: Image) -> Image:
        rgb = np.ascontiguousarray(image.rgb(), np.float32)
        processor.apply(OCIO.PackedImageDesc(rgb, rgb.shape[1], rgb.shape[0], 3))
        pixels = image.pixels.astype(np.float32, copy=True)
        for i, name in enumerate(("R", "G", "B")):
            if name in image.spec.channels:
                pixels[:, :, image.spec.channel_index(name)] = rgb[:, :, i]
        return Image(pixels, replace(image.spec, dtype="float32"))

    return convert
