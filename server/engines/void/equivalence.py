"""Our side of the side-by-side check against the reference release, on the tiny model.

The check (``bench/check_reference.py``) runs ``VoidPipeline`` and the reference
release's ``CogVideoXFunInpaintPipeline`` on the same tiny random weights
(``testing.make_tiny_void_model``), the same video, model mask, prompt, start
latents and conditioning-video noise, and compares what reaches the
transformer, what it returns, the final latents and the decoded frames. The
reference code is never part of this repository: this module holds what both
the check and the test suite's golden-fixture test need, i.e. the settings,
their inputs (made from fixed seeds), and a run of our pipeline that records
every transformer call.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from void_server.modelspace import latent_frames, model_mask, pass1_mask, pass2_mask

from .loader import load_base, load_transformer, make_scheduler
from .pipeline import VoidPipeline

HEIGHT, WIDTH = 32, 48
"""Frame size of the tiny model's clips."""
PROMPT = "an empty table"
REFERENCE_NEGATIVE = ("The video is not of a high quality, it has a low resolution. Watermark present in each "
                      "frame. The background is solid. Strange body and strange trajectory. Distortion. ")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Setting:
    """One comparison: clip length, dtype, guidance, and which pass's recipe."""

    name: str
    dtype: str
    frames: int
    guidance: float = 1.0
    pass_number: int = 1
    steps: int = 2
    seed: int = 0

    @property
    def negative_prompt(self) -> str:
        """Pass 1 uses the reference's negative prompt (only read with guidance), Pass 2 an empty one."""
        return REFERENCE_NEGATIVE if self.pass_number == 1 else ""

    @property
    def windows(self) -> int:
        latents = latent_frames(self.frames)
        return 1 if latents <= 22 else 1 + -(-(latents - 22) // 18)


SETTINGS: Tuple[Setting, ...] = (
    Setting("fp32-1-window", "fp32", 85),
    Setting("fp32-2-windows", "fp32", 93, seed=1),
    Setting("fp32-3-windows", "fp32", 197, seed=2),
    Setting("fp32-cfg", "fp32", 93, guidance=6.0, seed=3),
    Setting("fp32-pass2", "fp32", 85, guidance=6.0, pass_number=2, seed=4),
    Setting("bf16-1-window", "bf16", 85, seed=5),
    Setting("bf16-2-windows", "bf16", 93, seed=6),
    Setting("bf16-3-windows", "bf16", 197, seed=7),
)


@dataclass
class Inputs:
    """What both pipelines get for a setting, on the CPU."""

    video: torch.Tensor
    """(1, 3, T, H, W) in [0, 1], with a black band (pixels at exactly -1 after normalisation)."""
    mask: torch.Tensor
    """(1, 1, T, H, W): the model mask as the reference's loader makes it (1, 192/255, 128/255, 0)."""
    latents: torch.Tensor
    """(1, F, 16, h, w) start noise."""

    def pipeline_mask(self, pass_number: int) -> torch.Tensor:
        """The mask our pipeline gets: the in-pipeline re-quantisation the reference applies itself."""
        quantise = pass1_mask if pass_number == 1 else pass2_mask
        return torch.from_numpy(quantise(self.mask.numpy()))

    def digest(self) -> str:
        return _digest([self.video, self.mask, self.latents])


def make_inputs(setting: Setting) -> Inputs:
    """The setting's clip: random video, a moving object with an affected ring and an overlap band."""
    g = torch.Generator().manual_seed(1000 + setting.seed)
    frames = setting.frames
    video = torch.rand(1, 3, frames, HEIGHT, WIDTH, generator=g)
    video[:, :, :, :3] = 0.0
    yy, xx = np.mgrid[0:HEIGHT * 4, 0:WIDTH * 4]
    quad = np.full((frames, HEIGHT * 4, WIDTH * 4), 255, dtype=np.uint8)
    for t in range(frames):
        r = np.hypot(yy - 60.5 - 0.3 * t, xx - 70.25 - 0.6 * t)
        quad[t][r < 40] = 127
        quad[t][r < 26] = 0
        quad[t][(r >= 26) & (r < 30)] = 63
    mask = torch.from_numpy(model_mask(quad, (HEIGHT, WIDTH)))[None, None]
    latents = torch.randn(1, latent_frames(frames), 16, HEIGHT // 8, WIDTH // 8, generator=g)
    return Inputs(video, mask, latents)


@dataclass
class Capture:
    """Every transformer call of a run, its final latents and decoded frames (all on the CPU, float32)."""

    calls: List[Dict[str, torch.Tensor]] = field(default_factory=list)
    final_latents: Optional[torch.Tensor] = None
    frames: Optional[torch.Tensor] = None
    """(T, H, W, 3) in [0, 1]."""


def record_call(capture: Capture, hidden: torch.Tensor, text: torch.Tensor, timestep: torch.Tensor,
                rope: Optional[Tuple[torch.Tensor, torch.Tensor]], output: torch.Tensor) -> None:
    """One transformer call: its 48-channel input, text, timestep, RoPE and output, as float32."""
    call = {"hidden": hidden, "text": text, "timestep": timestep, "output": output}
    if rope is not None:
        call["rope_cos"], call["rope_sin"] = rope
    capture.calls.append({k: v.detach().float().cpu().clone() for k, v in call.items()})


def _argument(args: tuple, kwargs: dict, name: str, index: int) -> Any:
    return kwargs[name] if name in kwargs else (args[index] if len(args) > index else None)


def capture_transformer(transformer: torch.nn.Module, capture: Capture, inpaint_kwarg: bool = False) -> List[Any]:
    """Hook ``transformer``'s forward into ``capture``; the reference's passes the 32 conditioning
    channels as ``inpaint_latents``, which are put back behind the 16 noisy ones."""
    pending: Dict[str, Any] = {}

    def before(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        hidden = _argument(args, kwargs, "hidden_states", 0)
        if inpaint_kwarg and kwargs.get("inpaint_latents") is not None:
            hidden = torch.cat([hidden, kwargs["inpaint_latents"]], dim=2)
        pending.update(hidden=hidden, text=_argument(args, kwargs, "encoder_hidden_states", 1),
                       timestep=_argument(args, kwargs, "timestep", 2), rope=kwargs.get("image_rotary_emb"))

    def after(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        out = output[0] if isinstance(output, (tuple, list)) else output.sample
        record_call(capture, pending["hidden"], pending["text"], pending["timestep"], pending["rope"], out)

    return [transformer.register_forward_pre_hook(before, with_kwargs=True),
            transformer.register_forward_hook(after, with_kwargs=True)]


def capture_decode(pipe: Any, capture: Capture) -> None:
    """Record the latents a pipeline's ``decode_latents`` gets (both pipelines decode through it)."""
    decode = pipe.decode_latents

    def recording(latents: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        capture.final_latents = latents.detach().float().cpu().clone()
        return decode(latents, *args, **kwargs)

    pipe.decode_latents = recording


def our_pipeline(model_dir: str, checkpoint: str, setting: Setting) -> VoidPipeline:
    """Our pipeline on the tiny model in the setting's dtype, with the pass's checkpoint and scheduler."""
    dtype = DTYPES[setting.dtype]
    base = load_base(model_dir, dtype)
    pipe = VoidPipeline(base.tokenizer, base.text_encoder, base.vae,
                        load_transformer(base.transformer_config, checkpoint, dtype),
                        make_scheduler(base.scheduler_config, setting.pass_number))
    pipe.add_noise_in_inpaint_model = base.transformer_config.add_noise_in_inpaint_model
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_ours(pipe: VoidPipeline, setting: Setting, inputs: Inputs) -> Capture:
    """Our pipeline on the setting; the conditioning-video noise comes from a generator seeded with the
    setting's seed (the reference side seeds torch's global generator with it)."""
    capture = Capture()
    handles = capture_transformer(pipe.transformer, capture)
    capture_decode(pipe, capture)
    try:
        frames = pipe(inputs.video, inputs.pipeline_mask(setting.pass_number), PROMPT,
                      negative_prompt=setting.negative_prompt, num_inference_steps=setting.steps,
                      guidance_scale=setting.guidance, generator=torch.Generator().manual_seed(setting.seed),
                      latents=inputs.latents)
    finally:
        for handle in handles:
            handle.remove()
        del pipe.decode_latents
    capture.frames = frames.float()
    return capture


def differences(ours: Capture, theirs: Capture) -> Dict[str, float]:
    """Max |Δ| per quantity over all transformer calls, plus final latents and frames."""
    if len(ours.calls) != len(theirs.calls):
        raise AssertionError(f"{len(ours.calls)} transformer calls here, {len(theirs.calls)} in the reference")
    parts = {"noisy latents": lambda c: c["hidden"][:, :, :16], "mask latents": lambda c: c["hidden"][:, :, 16:32],
             "video latents": lambda c: c["hidden"][:, :, 32:], "text": lambda c: c["text"],
             "timestep": lambda c: c["timestep"], "rope": lambda c: torch.cat([c["rope_cos"], c["rope_sin"]]),
             "transformer out": lambda c: c["output"]}
    out = {}
    for name, pick in parts.items():
        out[name] = max(_max_abs(pick(a), pick(b)) for a, b in zip(ours.calls, theirs.calls))
    out["final latents"] = _max_abs(ours.final_latents, theirs.final_latents)
    out["frames"] = _max_abs(ours.frames, theirs.frames)
    return out


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {tuple(a.shape)} here, {tuple(b.shape)} in the reference")
    return float((a.float() - b.float()).abs().max())


def _digest(tensors: List[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def weights_digest(*modules: torch.nn.Module) -> str:
    """SHA-256 of the modules' tensors (names and values), to tell that golden data fits these weights."""
    h = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()
