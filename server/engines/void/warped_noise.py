"""Pass 2's start noise: Gaussian noise carried along the optical flow of the Pass-1 result.

This is Go-with-the-Flow noise warping (Burgert et al., Eyeline Labs) exactly
as the VOID reference computes it (spec §8.1: ``make_warped_noise.py`` with
``noise_warp.py``'s ``NoiseWarper``, ``warp_xyωc`` and ``regaussianize`` in
their default mode), re-implemented from that code's behaviour and checked
against its outputs (``tests/void_engine/golden/noise_warp.npz``):

* a noise field at ``upscale`` x the latent grid (16 channels) and a weight per
  pixel, initialised i.i.d. N(0, 1) and 1;
* per frame, the forward flow from the previous frame is bilinearly resized to
  the field and scaled, and drives one step with two branches. *Expand*: every
  pixel pulls noise and weight from where the flow says it came from (nearest,
  by ``grid_sample`` as the reference does); pixels pulled from outside the
  frame get noise 0 and weight 1. *Shrink*: every pixel's particle moves to
  where the flow takes it; a particle whose rounded position leaves the frame
  is reset in place to noise 0 and weight 1. Where a particle lands, the shrink
  branch wins and the expand sample there becomes noise 0, weight 1;
* joint *regaussianisation* of both branches (one image twice as wide): every
  group of samples sharing one value of the first channel, the zeros included,
  gets ``value / sqrt(k)`` plus zero-mean Gaussian detail (k the group size),
  and its weight is shared out as ``w / k``. So newly revealed pixels, reset
  particles and the unused expand samples form one zero group, whose members
  get fresh N(0, 1 - 1/k) noise and weight 1/k;
* a pixel where particles landed is ``sum(w v) / sqrt(sum(w^2))`` over them and
  weighs ``sum(w)``; weights are then renormalised to mean 1, lifted by 1e-5
  and raised to 0.9999.

A frame is read out as ``w v / sqrt(w^2)`` per field pixel, then area-averaged
over ``upscale`` x ``upscale`` blocks (unweighted) and multiplied by
``upscale``, which keeps unit variance for independent samples.

What this engine adds: the noise covers the whole clip (one continuous warp, so
every 22-latent window, and the overlaps between windows, get warped noise of
their own frames; the reference makes exactly 22 latent frames and so only
works for clips of at most 85 frames); the field is aligned with the latent
grid of the frame the model sees (the reference warps a 480x720 centre crop
and stretches it to 48x84); every frame is used (the reference re-times to 72
frames first); each latent frame ``k`` reads the field at pixel frame ``4k``;
the random draws come from the caller's generator, so a seed repeats the noise
exactly (the reference draws from torch's global generator, in the same order:
the initial field, then one (C, H, 2W) draw per step); the noise stays float32
(the reference stores it as float16 before the model casts it to bf16). The
sub-pixel particle offsets the reference carries are always zero in its
default mode and are left out.
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
        """Advance one frame along ``flow`` (2, h, w): the motion of each pixel in pixels of its own grid,
        bilinearly resized to the field (vectors scaled to match) first."""
        channels, height, width = self.noise.shape
        flow = resize_flow(flow[None].to(self.device, torch.float32), (height, width))[0]
        xs = torch.arange(width, device=self.device, dtype=flow.dtype)
        ys = torch.arange(height, device=self.device, dtype=flow.dtype)[:, None]

        # expand: pull from where each pixel came from; from outside the frame: noise 0, weight 1
        pull_x = (-flow[0] + xs) / (width - 1) * 2 - 1
        pull_y = (-flow[1] + ys) / (height - 1) * 2 - 1
        pulled = F.grid_sample(torch.cat([self.weight[None], self.noise])[None],
                               torch.stack([pull_x, pull_y], dim=-1)[None],
                               mode="nearest", padding_mode="zeros", align_corners=True)[0]
        expand_weight, expand_noise = pulled[0], pulled[1:]
        expand_weight[expand_weight == 0] = 1

        # shrink: push each particle; one whose rounded position leaves the frame is reset in place
        to_x, to_y = (xs + flow[0]).round(), (ys + flow[1]).round()
        leaving = ~((to_x >= 0) & (to_x < width) & (to_y >= 0) & (to_y < height))
        particle_noise = torch.where(leaving, 0.0, self.noise)
        particle_weight = torch.where(leaving, 1.0, self.weight)
        shift = torch.where(leaving, 0.0, flow).round().long()
        target_x = shift[0] + torch.arange(width, device=self.device)
        target_y = shift[1] + torch.arange(height, device=self.device)[:, None]
        # (the rounded shift, not the rounded position, places a particle: at a .5 tie the two may
        # disagree, and a particle placed outside is dropped, as in the reference)
        placed = ((target_x >= 0) & (target_x < width) & (target_y >= 0) & (target_y < height)).reshape(-1)
        target = (target_y * width + target_x).reshape(-1)[placed]
        landed = torch.zeros(height * width, dtype=torch.bool, device=self.device)
        landed[target] = True
        landed = landed.reshape(height, width)
        expand_noise = torch.where(landed, 0.0, expand_noise)
        expand_weight = torch.where(landed, 1.0, expand_weight)

        # both branches side by side, regaussianised together
        noise, weight = _regaussianize(torch.cat([particle_noise, expand_noise], dim=2),
                                       torch.cat([particle_weight, expand_weight], dim=1),
                                       self._randn(channels, height, 2 * width))
        particle_noise, expand_noise = noise[:, :, :width], noise[:, :, width:]
        particle_weight, expand_weight = weight[:, :width], weight[:, width:]

        # merge the particles that landed together; elsewhere keep the expand sample
        moved_weight = particle_weight.reshape(-1, 1)[placed]
        moved_noise = (particle_noise * particle_weight).permute(1, 2, 0).reshape(-1, channels)[placed]
        size = height * width
        total = torch.zeros(size, 1, device=self.device).index_add_(0, target, moved_weight)
        weighted = torch.zeros(size, channels, device=self.device).index_add_(0, target, moved_noise)
        squares = torch.zeros(size, 1, device=self.device).index_add_(0, target, moved_weight ** 2)
        shrink_noise = (weighted / squares.sqrt()).T.reshape(channels, height, width)
        self.noise = torch.where(landed, shrink_noise, expand_noise)
        weight = torch.where(landed, total.reshape(height, width), expand_weight)
        weight = weight / weight.mean() + 1e-5
        self.weight = weight ** 0.9999

    def readout(self) -> torch.Tensor:
        """The field as the reference reads it: ``w v / sqrt(w^2)`` per pixel."""
        return self.noise * self.weight[None] / (self.weight[None] ** 2).sqrt()

    def reduced(self, factor: int) -> torch.Tensor:
        """The field ``factor`` x coarser: block averages x ``factor``, so independent N(0, 1) stay N(0, 1)."""
        _, height, width = self.noise.shape
        return F.interpolate(self.readout()[None], size=(height // factor, width // factor), mode="area")[0] * factor


def _regaussianize(noise: torch.Tensor, weight: torch.Tensor, foreign: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Regaussianise (C, H, W) ``noise`` in groups of equal first-channel values, with ``foreign`` detail.

    A group of k samples of one value v becomes ``v / sqrt(k)`` plus the
    group's zero-mean share of ``foreign``, so each is N(0, 1) again while the
    group's sum is kept; its weights are divided by k. Sums run in pixel order.
    """
    channels = noise.shape[0]
    _, group, counts = torch.unique(noise[0].reshape(-1), return_inverse=True, return_counts=True)
    detail = foreign.permute(1, 2, 0).reshape(-1, channels)
    sums = torch.zeros(counts.numel(), channels, device=noise.device).index_add_(0, group, detail)
    means = (sums / counts[:, None])[group].T.reshape(noise.shape)
    sizes = counts[group].reshape(noise.shape[1:])
    out = noise / sizes[None] ** 0.5 + (foreign - means)
    return out, (weight / sizes).nan_to_num()


def resize_flow(flow: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize (N, 2, h, w) flow to ``size`` and rescale its vectors to match."""
    height, width = flow.shape[-2:]
    if (height, width) == tuple(size):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    out[:, 0] *= size[1] / width
    out[:, 1] *= size[0] / height
    return out


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
    flow_grid = (field[0] // 8, field[1] // 8)  # the reference's flow: half the frame, field / 8
    warper = NoiseWarper(channels, field[0], field[1], generator, device)
    out: List[torch.Tensor] = [warper.reduced(upscale)]
    picked = video[::flow_stride]
    small = F.interpolate(picked, size=flow_grid, mode="area")
    for i in range(1, small.shape[0]):
        flow = flow_fn(small[i - 1:i], small[i:i + 1])
        warper.step(flow[0])
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
        return resize_flow(flow, (height, width))


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
