"""The ``void`` engine: VOID Pass 1 (and optionally Pass 2) on plates of any size and length.

For each segment of the shot (see ``segments``): the plate frames go through
OCIO to the display-referred encoding the model saw, the region of interest is
cropped and fitted into the model frame (``framing``), the quadmask becomes the
model mask exactly as the reference derives it (``modelspace``), both are
mirror-padded to the reference's clip length, and ``VoidPipeline`` runs. Pass 2
re-runs the second checkpoint from noise warped along the Pass-1 result.
The padding is cut off again, the result is scaled back into the crop,
converted back to scene-linear and pasted into the plate; overlapping segments
are cross-faded. The job runner composites the result over the plate through
the edit region, so only the edited pixels change.

Models load on the first run, not when the engine is created, so the server's
HELLO stays cheap. See docs/engine.md for settings, memory modes and every
deliberate difference from the reference.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

from void_nuke.atomic import atomic_path
from void_nuke.errors import ShotError
from void_server.colour import MODEL_COLORSPACE, ColourTransform, choose_config
from void_server.modelspace import (MAX_FRAMES, WINDOW_FRAMES, mirror_pad, padded_length, pass1_mask,
                                    pass2_mask)
from void_server.settings import MEMORY_MODES

from ..base import Engine, EngineJob, ProgressFn, WorkUnit, parse_options
from .framing import FITS, Framing, choose_framing, edit_box, union
from .files import checkpoint_candidates, checkpoint_path, missing_checkpoint
from .loader import ModelFilesError, checkpoint_sha256, load_base, load_transformer, make_scheduler
from .memory import MemoryPlan, compute_dtype, out_of_memory, resolve_device
from .pipeline import VoidPipeline
from .segments import Segment, fade_weight, interpolate, plan_segments
from .warped_noise import load_raft, warped_noise

REFERENCE_NEGATIVE_PROMPT = (
    "The video is not of a high quality, it has a low resolution. Watermark present in each frame. "
    "The background is solid. Strange body and strange trajectory. Distortion. ")
"""The reference's Pass-1 negative prompt; used only when Pass-1 guidance is above 1."""
TRAINING_FPS = 12.0


@dataclass(frozen=True)
class VoidOptions:
    """The engine's knobs, read from ``shot.engine.options`` (all optional)."""

    resolution: str = "384x672"
    """Model frame, HEIGHTxWIDTH, multiples of 16. VOID was trained and run at 384x672."""
    fps_mode: str = "native"
    """``native``: the model sees every frame. ``12fps``: every n-th frame, n = round(plate_fps / 12),
    as VOID was trained at 12 fps; the frames between are interpolated linearly."""
    plate_fps: float = 24.0
    segment_frames: int = MAX_FRAMES
    """Most model frames per segment (85-197)."""
    segment_overlap: int = 16
    """Model frames two segments share and cross-fade."""
    roi_margin: float = 0.5
    """Context around the edit region in roi mode, as a fraction of its longer side, each side."""
    fit: str = "stretch"
    """How the crop fills the model frame: ``stretch`` as the reference (any aspect resized to the model
    frame), or ``letterbox`` (aspect kept, mirrored bands; see ``framing``)."""
    pass2_mask: str = "trimask"
    """``trimask``: Pass 2 sees remove/affected/keep like Pass 1 (and its training). ``binary``: the
    reference's Pass-2 inference, where the affected region also becomes remove."""
    pass2_guidance: float = 6.0
    flow_stride: int = 1
    """Frames between two optical-flow estimates for Pass 2's noise (1, 2 or 4)."""
    negative_prompt: str = REFERENCE_NEGATIVE_PROMPT
    model_colorspace: str = MODEL_COLORSPACE
    ocio_display: str = ""
    ocio_view: str = ""
    """When set, the model sees the plate through this display/view instead of ``model_colorspace``."""

    _CHOICES = {"fps_mode": ("native", "12fps"), "pass2_mask": ("trimask", "binary"), "flow_stride": (1, 2, 4),
                "fit": FITS}
    _LIMITS = {"plate_fps": (1.0, 240.0), "segment_frames": (WINDOW_FRAMES, MAX_FRAMES),
               "segment_overlap": (1, 64), "roi_margin": (0.0, 4.0), "pass2_guidance": (1.0, 30.0)}

    @classmethod
    def from_options(cls, options: Dict[str, Any]) -> "VoidOptions":
        """Validate ``options``; errors name the option and what it accepts."""
        options_ = cls(**parse_options(cls, "void", options, cls._LIMITS, cls._CHOICES))
        options_.size  # validates the resolution
        if options_.segment_overlap >= options_.segment_frames:
            raise ShotError("engine.options.segment_overlap", "must be smaller than segment_frames")
        return options_

    @property
    def size(self) -> Tuple[int, int]:
        """(height, width) of the model frame."""
        try:
            height, width = (int(v) for v in self.resolution.lower().split("x"))
        except ValueError:
            raise ShotError("engine.options.resolution", f"write HEIGHTxWIDTH, e.g. 384x672, got "
                                                         f"{self.resolution!r}") from None
        if height < 16 or width < 16 or height % 16 or width % 16:
            raise ShotError("engine.options.resolution", f"height and width must be multiples of 16 "
                                                         f"(VAE 8x, patch 2), got {self.resolution!r}")
        return height, width

    @property
    def frame_step(self) -> int:
        return max(1, round(self.plate_fps / TRAINING_FPS)) if self.fps_mode == "12fps" else 1


@dataclass
class SegmentResult:
    """The model's frames for a segment's positions, and where they belong in the plate."""

    framing: Optional[Framing]
    """None when the segment has nothing to edit (its frames are the plate's)."""
    frames: Dict[int, np.ndarray]

    def save(self, path: str, positions: range) -> None:
        """Keep the frames of ``positions`` for the next unit's cross-fade (atomic)."""
        with atomic_path(path, overwrite=True) as tmp:
            with open(tmp, "wb") as fh:
                if self.framing is None:
                    np.savez(fh, empty=True)
                else:
                    np.savez(fh, empty=False, positions=np.array(list(positions)),
                             frames=np.stack([self.frames[p] for p in positions]),
                             box=np.array(self.framing.box), inner=np.array(self.framing.inner),
                             size=np.array(self.framing.size))

    @classmethod
    def load(cls, path: str) -> "SegmentResult":
        with np.load(path) as data:
            if bool(data["empty"]):
                return cls(None, {})
            framing = Framing(box=tuple(int(v) for v in data["box"]), inner=tuple(int(v) for v in data["inner"]),
                              size=tuple(int(v) for v in data["size"]))
            return cls(framing, dict(zip((int(p) for p in data["positions"]), data["frames"])))


class _Stages:
    """Maps the progress of one stage of a unit onto the unit's [0, 1]."""

    def __init__(self, progress: ProgressFn, weights: List[Tuple[str, float]]) -> None:
        self.progress = progress
        total = sum(w for _, w in weights)
        self.spans: Dict[str, Tuple[float, float]] = {}
        start = 0.0
        for name, weight in weights:
            self.spans[name] = (start, start + weight / total)
            start += weight / total

    def report(self, stage: str, fraction: float, message: str) -> None:
        low, high = self.spans[stage]
        self.progress(low + (high - low) * min(max(fraction, 0.0), 1.0), message)

    def steps(self, stage: str, label: str) -> Callable[[int, int], None]:
        return lambda done, total: self.report(stage, done / total, f"{label}: step {done}/{total}")


class VoidEngine(Engine):
    name = "void"
    version = "1"

    def __init__(self, settings: Dict[str, Any]) -> None:
        self.settings = dict(settings)
        self.device = resolve_device(str(settings.get("device") or "auto"))
        self.dtype = compute_dtype(self.device)
        self.memory = MemoryPlan(str(settings.get("memory_mode") or "full"), self.device)
        self._pipe: Optional[VoidPipeline] = None
        self._base: Any = None
        self._transformers: Dict[int, torch.nn.Module] = {}
        self._current_pass = 0
        self._raft: Any = None
        self._last_run: Dict[str, Any] = {}

    # -- what the server reports -----------------------------------------------------------

    def describe(self) -> Dict[str, Any]:
        """For the server's HELLO: nothing is loaded to answer."""
        pass2 = checkpoint_path(self.settings, 2)
        return {
            "engine": self.name, "version": self.version, "device": str(self.device),
            "memory_mode": self.memory.mode, "memory_modes": list(MEMORY_MODES),
            "checkpoints": {"pass1": os.path.basename(checkpoint_path(self.settings, 1)),
                            "pass2": os.path.basename(pass2) if os.path.exists(pass2) else None},
            "passes": [1, 2] if os.path.exists(pass2) and self.settings.get("raft_checkpoint") else [1],
            "loaded": self._pipe is not None,
        }

    def metadata(self) -> Dict[str, Any]:
        meta = super().metadata()
        meta.update({f"void:{k}": v for k, v in self._last_run.items()})
        for number in range(1, int(self._last_run.get("passes", 1)) + 1):
            path = checkpoint_path(self.settings, number)
            meta[f"void:checkpoint_pass{number}"] = os.path.basename(path)
            meta[f"void:checkpoint_pass{number}_sha256"] = checkpoint_sha256(path)
        return meta

    # -- planning --------------------------------------------------------------------------

    @staticmethod
    def _segments(job: EngineJob, options: VoidOptions) -> List[Segment]:
        return plan_segments(len(job.frames), options.frame_step, options.segment_frames, options.segment_overlap)

    def plan(self, job: EngineJob) -> List[WorkUnit]:
        options = VoidOptions.from_options(job.shot.engine.options)
        return [WorkUnit(s.index, tuple(job.frames[p] for p in range(*s.deliver)))
                for s in self._segments(job, options)]

    # -- running ---------------------------------------------------------------------------

    def run(self, job: EngineJob, unit: WorkUnit, progress: ProgressFn) -> Iterator[Tuple[int, np.ndarray]]:
        options = VoidOptions.from_options(job.shot.engine.options)
        settings = job.shot.engine
        self._last_run = {"steps": settings.steps, "seed": settings.seed, "guidance": settings.guidance,
                          "passes": settings.passes, "memory_mode": self.memory.mode,
                          "resolution": options.resolution, "fps_mode": options.fps_mode, "fit": options.fit}
        config = choose_config(job.shot.ocio_config, self.settings.get("ocio_config") or "ocio://default")
        self._last_run["ocio_config"] = config.config
        progress(0.0, config.note)
        colour = ColourTransform(config.config, job.shot.colorspace, options.model_colorspace,
                                 options.ocio_display or None, options.ocio_view or None)
        segments = self._segments(job, options)
        segment = segments[unit.index]
        stages = _Stages(progress, [("prepare", 1), ("pass1", 8)] +
                         ([("noise", 1), ("pass2", 8)] if settings.passes == 2 else []) + [("deliver", 1)])
        result = self._segment(job, options, colour, segment, stages)
        if segment.fade_out[1] > segment.fade_out[0]:
            result.save(self._tail_path(job, segment.index), range(*segment.fade_out))
        previous = None
        if segment.fade_in[1] > segment.fade_in[0]:
            previous = self._previous_tail(job, options, colour, segments[segment.index - 1], stages)
        for position in range(*segment.deliver):
            frame = job.frames[position]
            plate = job.plate(frame)
            own = _paste(plate, result, position, colour)
            if previous is not None and segment.fade_in[0] <= position < segment.fade_in[1]:
                weight = np.float32(fade_weight(position, segment.fade_in))
                own = (1 - weight) * _paste(plate, previous, position, colour) + weight * own
            stages.report("deliver", (position - segment.deliver[0] + 1) / (segment.deliver[1] - segment.deliver[0]),
                          f"frame {frame}")
            yield frame, own.astype(np.float32, copy=False)

    @staticmethod
    def _tail_path(job: EngineJob, index: int) -> str:
        return os.path.join(job.scratch, f"void-segment-{index:03d}-tail.npz")

    def _previous_tail(self, job: EngineJob, options: VoidOptions, colour: ColourTransform,
                       previous: Segment, stages: _Stages) -> SegmentResult:
        """The previous segment's results where this one fades in; re-made if the scratch file is gone."""
        path = self._tail_path(job, previous.index)
        if os.path.exists(path):
            return SegmentResult.load(path)
        result = self._segment(job, options, colour, previous, stages)
        result.save(path, range(*previous.fade_out))
        return SegmentResult.load(path)

    def _segment(self, job: EngineJob, options: VoidOptions, colour: ColourTransform, segment: Segment,
                 stages: _Stages) -> SegmentResult:
        """Run the model on one segment; its results for every position it covers."""
        stages.report("prepare", 0.0, "reading the quadmask")
        # Quadmasks are read twice (here and for the model frames) rather than held: at 4K a
        # segment's masks would take 1.7 GB.
        edit = None
        for position in segment.positions:
            edit = union(edit, edit_box(job.quadmask(job.frames[position])))
        if edit is None:
            return SegmentResult(None, {})
        framing = choose_framing(job.shot.engine.roi, edit, (job.spec.height, job.spec.width), options.size,
                                 options.roi_margin, options.fit, job.shot.pixel_aspect)
        video, mask = [], []
        for i, position in enumerate(segment.samples):
            frame = job.frames[position]
            display = colour.to_model(framing.crop(job.plate(frame)))
            video.append(framing.video_to_model(display[None])[0])
            mask.append(framing.mask_to_model(framing.crop(job.quadmask(frame))[None])[0])
            stages.report("prepare", (i + 1) / len(segment.samples), "preparing model frames")
        count = len(segment.samples)
        padded = padded_length(count, WINDOW_FRAMES, MAX_FRAMES)
        frames = self._passes(job, options, mirror_pad(np.stack(video), padded), mirror_pad(np.stack(mask), padded),
                              stages)
        return SegmentResult(framing, interpolate(segment.samples, frames[:count]))

    def _passes(self, job: EngineJob, options: VoidOptions, video: np.ndarray, mask: np.ndarray,
                stages: _Stages) -> np.ndarray:
        """Pass 1 and, when asked, Pass 2 on padded model frames (T, H, W, 3) → (T, H, W, 3)."""
        settings = job.shot.engine
        pixels = torch.from_numpy(np.ascontiguousarray(video)).permute(3, 0, 1, 2)[None]
        where = f"on {video.shape[0]} frames at {video.shape[1]}x{video.shape[2]}"
        try:
            result = self._pipeline(1)(
                pixels, torch.from_numpy(pass1_mask(mask))[None, None],
                job.shot.prompt, negative_prompt=options.negative_prompt, num_inference_steps=settings.steps,
                guidance_scale=settings.guidance, generator=torch.Generator().manual_seed(settings.seed),
                callback=stages.steps("pass1", "Pass 1"))
            if settings.passes == 2:
                result = self._pass2(job, options, pixels, mask, result, stages)
        except torch.OutOfMemoryError:
            if self._pipe is not None:
                self._pipe.maybe_free_model_hooks()
            torch.cuda.empty_cache()
            raise out_of_memory(self.memory.mode, where) from None
        return result.numpy()

    def _pass2(self, job: EngineJob, options: VoidOptions, pixels: torch.Tensor, mask: np.ndarray,
               first: torch.Tensor, stages: _Stages) -> torch.Tensor:
        settings = job.shot.engine
        if self._raft is None:
            self._raft = load_raft(self.settings.get("raft_checkpoint"), self.device)
        pipe = self._pipeline(2)
        noise = warped_noise(first.permute(0, 3, 1, 2).to(self.device), pipe.latent_shape(*first.shape[:3])[1:],
                             self._raft,
                             torch.Generator(self.device).manual_seed(settings.seed), flow_stride=options.flow_stride,
                             progress=lambda f: stages.report("noise", f, "warping noise along the Pass-1 flow"))
        pass_mask = pass1_mask(mask) if options.pass2_mask == "trimask" else pass2_mask(mask)
        return pipe(
            pixels, torch.from_numpy(pass_mask)[None, None], job.shot.prompt, negative_prompt="",
            num_inference_steps=settings.steps, guidance_scale=options.pass2_guidance,
            generator=torch.Generator().manual_seed(settings.seed), latents=noise.float().cpu(),
            callback=stages.steps("pass2", "Pass 2"))

    # -- models ----------------------------------------------------------------------------

    def _transformer(self, number: int) -> torch.nn.Module:
        if number not in self._transformers:
            path = checkpoint_path(self.settings, number)
            if not os.path.isfile(path):
                raise ModelFilesError(missing_checkpoint(self.settings, number),
                                      detail={"searched": checkpoint_candidates(self.settings, number)})
            model = load_transformer(self._base.transformer_config, path, self.dtype)
            self._transformers[number] = self.memory.adopt(model, "transformer")
        return self._transformers[number]

    def _pipeline(self, number: int) -> VoidPipeline:
        """The pipeline with pass ``number``'s transformer and scheduler in place (loads on first use)."""
        if self._pipe is None:
            base = load_base(str(self.settings.get("model_dir") or ""), self.dtype)
            self.memory.adopt(base.text_encoder, "text_encoder")
            self.memory.adopt(base.vae, "vae")
            self._base = base
            self._pipe = VoidPipeline(base.tokenizer, base.text_encoder, base.vae, self._transformer(number),
                                      make_scheduler(base.scheduler_config, number))
            self._pipe.add_noise_in_inpaint_model = base.transformer_config.add_noise_in_inpaint_model
            self._pipe.set_progress_bar_config(disable=True)
            self.memory.place(self._pipe)
            self._current_pass = number
        elif self._current_pass != number:
            self.memory.place(self._pipe, transformer=self._transformer(number),
                              scheduler=make_scheduler(self._base.scheduler_config, number))
            self._current_pass = number
        return self._pipe

    def close(self) -> None:
        self._pipe = None
        self._base = None
        self._transformers.clear()
        self._raft = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _paste(plate: np.ndarray, result: SegmentResult, position: int, colour: ColourTransform) -> np.ndarray:
    """The plate with the segment's result for ``position`` in its crop (scene-linear)."""
    out = np.array(plate, dtype=np.float32, copy=True)
    if result.framing is not None:
        x0, y0, x1, y1 = result.framing.box
        out[y0:y1, x0:x1] = colour.from_model(result.framing.from_model(result.frames[position]))
    return out
