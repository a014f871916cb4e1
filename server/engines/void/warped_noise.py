"""Pass 2's start noise: Gaussian noise carried along the optical flow of the Pass-1 result.

This is Go-with-the-Flow noise warping (Burgert et al., Eyeline Labs) as the
VOID reference uses it (spec §8.1), re-implemented from its description:

* a noise field at ``upscale`` x the latent grid (16 channels) and a weight
  per pixel, initialised i.i.d. N(0, 1) and 1;
* per frame, the forward flow (RAFT) from the previous frame, bilinearly
  resized to the field and scaled, rounded to whole pixels, drives one step:
  an *expand* branch pulls every pixel from where the flow says it came from
  (nearest; pixels pulled from outside the frame are new, with fresh noise and
  weight 1), a *shrink* branch pushes every pixel ("particle") to where it
  goes (particles leaving the frame are dropped); pixels that received a
  particle take the shrink result, the others the expand result;
* before merging, a joint *regaussianisation*: every group of samples that
  share one source value (the particle and its expand copies, k in all) gets
  ``value / sqrt(k)`` plus zero-mean Gaussian detail, so each sample is again
  N(0, 1) while the group's sum is kept; its weight is shared out as ``w / k``;
* a shrink pixel is ``sum(w v) / sqrt(sum(w^2))`` over the particles that
  landed on it and weighs ``sum(w)``; weights are then renormalised to mean 1,
  lifted by 1e-5 and raised to 0.9999.

Each latent frame ``k`` reads the field at pixel frame ``4k`` (frame 0 is the
initial noise), reduced to the latent grid block by block as
``sum(w v) / sqrt(sum(w^2))``, which keeps unit variance.

Deliberate differences from the reference: the noise covers the whole clip
(one continuous warp, so every 22-latent window, and the overlaps between
windows, get warped noise of their own frames; the reference makes exactly 22
latent frames and so only works for clips of at most 85 frames); the field is
aligned with the latent grid of the frame the model sees (the reference warps
a 480x720 centre crop and stretches it to 48x84); every frame is used (the
reference first re-times to 72 frames); the random draws come from the
caller's generator, so a seed repeats the noise exactly. The sub-pixel
particle offsets the reference carries are always zero in its default mode
and are left out.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F

from void_nuke.errors import VoidError

from .loader import ModelFilesError

FlowFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""flow(previous (N, 3, h, w), current (N, 3, h, w)) in [0, 1] → (N, 2, h, w) forward flow in pixels."""

RAFT_MIN_SIZE = 128
"""RAFT's correlation pyramid needs frames of at least 128 pixels on each side."""
NOISE_UPSCALE = 32
"""Warp field resolution per latent pixel: the reference's 1920x2880 field for a 60x90 noise."""


class NoiseWarper:
    """One Go-with-the-Flow noise field: ``noise`` (C, H, W) and ``weight`` (H, W)."""

    def __init__(self, channels: int, height: int, width: int, generator: torch.Generator,
                 device: torch.device) -> None:
        self.generator = generator
        self.device = device
        self.noise = self._randn(channels, height, width)
        self.weight = torch.ones(height, width, device=device)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def step(self, flow: torch.Tensor) -> None:
        """Advance one frame along ``flow`` (2, H, W): the motion, in field pixels, of each pixel."""
        channels, height, width = self.noise.shape
        size = height * width
        fx, fy = flow.round().long()
        ys, xs = torch.meshgrid(torch.arange(height, device=self.device),
                                torch.arange(width, device=self.device), indexing="ij")
        # shrink branch: each pixel's particle moves to where the flow takes it
        tx, ty = xs + fx, ys + fy
        moved = ((tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)).reshape(-1)
        target = (ty * width + tx).reshape(-1)[moved]
        landed = torch.zeros(size, dtype=torch.bool, device=self.device)
        landed[target] = True
        # expand branch: each pixel no particle reached pulls from where it came from
        sx, sy = xs - fx, ys - fy
        known = ((sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)).reshape(-1)
        pulls = ~landed & known
        source = (sy * width + sx).reshape(-1)[pulls]

        # joint regaussianisation of every group sharing one source value
        noise = self.noise.reshape(channels, size)
        weight = self.weight.reshape(size)
        count = moved.float() + torch.bincount(source, minlength=size).float()
        particle_detail = self._randn(channels, int(moved.sum()))
        pulled_detail = self._randn(channels, source.numel())
        detail_sum = torch.zeros(channels, size, device=self.device)
        detail_sum[:, moved] = particle_detail
        detail_sum.index_add_(1, source, pulled_detail)
        group_mean = detail_sum / count.clamp(min=1)
        share = noise / count.clamp(min=1).sqrt()
        particles = share[:, moved] + particle_detail - group_mean[:, moved]
        pulled = share[:, source] + pulled_detail - group_mean[:, source]
        shared_weight = weight / count.clamp(min=1)

        # merge: shrink where particles landed, expand elsewhere, fresh noise in new regions
        particle_weight = shared_weight[moved]
        total = torch.zeros(size, device=self.device).index_add_(0, target, particle_weight)
        weighted = torch.zeros(channels, size, device=self.device).index_add_(
            1, target, particles * particle_weight)
        squares = torch.zeros(size, device=self.device).index_add_(0, target, particle_weight ** 2)
        fresh = ~landed & ~known
        out_noise = torch.empty(channels, size, device=self.device)
        out_weight = torch.ones(size, device=self.device)
        out_noise[:, fresh] = self._randn(channels, int(fresh.sum()))
        out_noise[:, landed] = weighted[:, landed] / squares[landed].sqrt()
        out_weight[landed] = total[landed]
        out_noise[:, pulls] = pulled
        out_weight[pulls] = shared_weight[source]
        out_weight = (out_weight / out_weight.mean() + 1e-5) ** 0.9999
        self.noise = out_noise.reshape(channels, height, width)
        self.weight = out_weight.reshape(height, width)

    def reduced(self, factor: int) -> torch.Tensor:
        """The field on a grid ``factor`` x coarser, weighted so every value stays N(0, 1)."""
        weighted = F.avg_pool2d((self.noise * self.weight)[None], factor)[0]
        power = F.avg_pool2d((self.weight ** 2)[None, None], factor)[0]
        return weighted / power.sqrt() * factor


def _resize_flow(flow: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize (N, 2, h, w) flow to ``size`` and rescale its vectors to match."""
    height, width = flow.shape[-2:]
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / width, size[0] / height], device=flow.device, dtype=flow.dtype)
    return out * scale.view(1, 2, 1, 1)


def warped_noise(video: torch.Tensor, latent_shape: Tuple[int, int, int, int], flow_fn: FlowFn,
                 generator: torch.Generator, upscale: int = NOISE_UPSCALE, flow_stride: int = 1,
                 progress: Optional[Callable[[float], None]] = None) -> torch.Tensor:
    """Warped start noise (1, F, C, h, w) for a clip ``video`` (T, 3, H, W) in [0, 1], T = 4F - 3.

    ``flow_stride`` frames separate two flow estimates (1: every frame, as the
    reference; 2 or 4 trade motion detail for speed; latent frames fall on
    multiples of 4, so the stride must divide 4).
    """
    frames, channels, height, width = latent_shape
    if video.shape[0] != 4 * frames - 3:
        raise ValueError(f"{video.shape[0]} frames do not make {frames} latent frames (need {4 * frames - 3})")
    if flow_stride not in (1, 2, 4):
        raise ValueError(f"flow_stride must be 1, 2 or 4, got {flow_stride}")
    device = video.device
    field = (height * upscale, width * upscale)
    flow_grid = (field[0] // 8, field[1] // 8)
    warper = NoiseWarper(channels, field[0], field[1], generator, device)
    out: List[torch.Tensor] = [warper.reduced(upscale)]
    picked = video[::flow_stride]
    small = F.interpolate(picked, size=flow_grid, mode="area")
    for i in range(1, small.shape[0]):
        flow = flow_fn(small[i - 1:i], small[i:i + 1])
        warper.step(_resize_flow(flow, field)[0])
        if (i * flow_stride) % 4 == 0:
            out.append(warper.reduced(upscale))
        if progress is not None:
            progress(i / (small.shape[0] - 1))
    return torch.stack(out)[None]


class RaftFlow:
    """torchvision RAFT from a local checkpoint, as a ``FlowFn``."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        height, width = previous.shape[-2:]
        scale = max(1.0, RAFT_MIN_SIZE / min(height, width))
        size = (int(round(height * scale / 8)) * 8, int(round(width * scale / 8)) * 8)
        a = F.interpolate(previous, size=size, mode="bilinear", align_corners=False) * 2 - 1
        b = F.interpolate(current, size=size, mode="bilinear", align_corners=False) * 2 - 1
        param = next(self.model.parameters())
        with torch.no_grad():
            flow = self.model(a.to(param.dtype), b.to(param.dtype))[-1].float()
        return _resize_flow(flow, (height, width))


def load_raft(checkpoint: Optional[str], device: torch.device) -> RaftFlow:
    """RAFT-large or RAFT-small (told apart by the checkpoint's keys), built without downloading."""
    from torchvision.models.optical_flow import raft_large, raft_small

    if not checkpoint:
        raise VoidError("Pass 2 needs optical flow: set raft_checkpoint in the server settings to a local "
                        "torchvision RAFT checkpoint (raft_large_C_T_SKHT_V2-ff5fadd5.pth), or run Pass 1 only",
                        code="model_files")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelFilesError(f"cannot read the RAFT checkpoint {checkpoint}: {exc}",
                              detail={"path": checkpoint}) from None
    for build in (raft_large, raft_small):
        model = build(weights=None)
        if set(model.state_dict()) == set(state):
            model.load_state_dict(state, strict=True)
            return RaftFlow(model.eval().requires_grad_(False).to(device))
    raise ModelFilesError(f"{checkpoint} is neither a torchvision raft_large nor a raft_small checkpoint",
                          detail={"path": checkpoint})
