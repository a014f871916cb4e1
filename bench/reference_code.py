"""The reference release's classes, imported from a local checkout, for the scripts that compare with it.

Netflix/void-model is never part of this repository: ``--reference DIR`` names
a checkout of it, and its ``videox_fun`` package is imported from there.
``rehost`` puts our models' very tensors into the reference's classes, and
``call_reference`` makes the pipeline call ``predict_v2v.py`` makes for Pass 1
(and ``inference_with_pass1_warped_noise.py`` for Pass 2).
"""
from __future__ import annotations

import inspect
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch

REFERENCE_PIPELINE = Path("videox_fun") / "pipeline" / "pipeline_cogvideox_fun_inpaint.py"


@dataclass
class ReferenceCode:
    """The classes and helper taken from a checkout of the reference release."""

    root: Path
    commit: Optional[str]
    pipeline_cls: Any
    transformer_cls: Any
    vae_cls: Any
    convert_weight_dtype_wrapper: Callable[[torch.nn.Module, torch.dtype], None]


def checkout_commit(directory: Path) -> Optional[str]:
    """The checked-out commit of a git folder, or None when it is not one."""
    try:
        done = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def import_reference(directory: str) -> ReferenceCode:
    """Import the reference's pipeline and model classes from a local checkout of Netflix/void-model."""
    root = Path(directory).resolve()
    if not (root / REFERENCE_PIPELINE).is_file():
        raise SystemExit(f"--reference {directory}: no {REFERENCE_PIPELINE} there; give the folder of a "
                         "checkout of https://github.com/Netflix/void-model")
    sys.path.append(str(root))  # appended: the checkout's other top-level folders must shadow nothing
    try:
        from videox_fun.models import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
        from videox_fun.pipeline.pipeline_cogvideox_fun_inpaint import CogVideoXFunInpaintPipeline
        from videox_fun.utils.fp8_optimization import convert_weight_dtype_wrapper
    except ModuleNotFoundError as exc:
        raise SystemExit(f"the reference code at {root} needs the package {exc.name!r}, which this environment "
                         f"lacks: pip install {exc.name} (see docs/engine.md)") from exc
    return ReferenceCode(root, checkout_commit(root), CogVideoXFunInpaintPipeline, CogVideoXTransformer3DModel,
                         AutoencoderKLCogVideoX, convert_weight_dtype_wrapper)


def rehost(model: torch.nn.Module, cls: Any, config: Dict[str, Any]) -> torch.nn.Module:
    """An instance of the reference's ``cls`` holding ``model``'s very tensors (same names, strict).

    Keys of ``config`` that ``cls`` does not take are left out.
    """
    from accelerate import init_empty_weights

    accepted = set(inspect.signature(cls.__init__).parameters)
    with init_empty_weights():
        twin = cls(**{k: v for k, v in config.items() if k in accepted})
    twin.load_state_dict(model.state_dict(), strict=True, assign=True)
    leftovers = [name for name, t in list(twin.named_parameters()) + list(twin.named_buffers()) if t.is_meta]
    if leftovers:
        raise RuntimeError(f"{cls.__name__}: tensors with no counterpart in ours: {leftovers[:5]}")
    return twin.to(model.dtype).eval()


def call_reference(pipe: Any, prompt: str, video: torch.Tensor, mask: torch.Tensor, latents: torch.Tensor,
                   window_frames: int, steps: int, guidance: float, negative_prompt: str, trimask: bool,
                   max_sequence_length: int, on_step_end: Optional[Callable[[], None]] = None) -> torch.Tensor:
    """The pipeline call of the reference's scripts (spec §4, §8.2), with our start latents.

    ``video`` (1, 3, T, H, W) in [0, 1]; ``mask`` (1, 1, T, H, W) the model mask
    its loader makes (the pipeline re-quantises it: trimask for Pass 1, binary
    for Pass 2). Returns the decoded (1, 3, T, H, W) video in [0, 1].
    """
    device = pipe._execution_device

    def step_end(pipeline: Any, step: int, t: torch.Tensor, tensors: Dict[str, Any]) -> Dict[str, Any]:
        if on_step_end is not None:
            on_step_end()
        return {}

    result = pipe(prompt, negative_prompt=negative_prompt, height=video.shape[3], width=video.shape[4],
                  video=video, mask_video=mask, num_frames=window_frames, num_inference_steps=steps,
                  guidance_scale=guidance, generator=torch.Generator(device=device).manual_seed(42),
                  latents=latents.to(pipe.transformer.dtype), strength=1.0, use_trimask=trimask,
                  zero_out_mask_region=False, use_vae_mask=True, stack_mask=False,
                  max_sequence_length=max_sequence_length, callback_on_step_end=step_end)
    return result.videos
