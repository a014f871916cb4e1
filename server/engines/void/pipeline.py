"""VOID's inpainting pipeline on stock diffusers models.

diffusers 0.42 has the VOID transformer and VAE classes but no CogVideoX-Fun
inpaint pipeline, so this is one, written like diffusers'
``CogVideoXFunControlPipeline``: ``__call__`` reads top to bottom and every
step is a named method. It follows the reference release (section numbers
refer to the VOID inference specification):

* text (§4.1): T5 on ids padded to the transformer's text length, no attention
  mask; classifier-free guidance only when guidance > 1, batch [negative, positive];
* conditioning latents (§4.3-4.4): the VAE of ``1 - mask`` in [0, 1] tiled to
  three channels, and the VAE of the whole, unmasked video in [-1, 1] (with
  sigma = 0.0563 noise except at pixels equal to -1 when the base config has
  ``add_noise_in_inpaint_model``), posterior mode x scaling factor;
* input channels (§4.5): [noisy 16, mask latents 16, video latents 16];
* sampling (§4.7): 22-latent windows with stride 18, per-window RoPE,
  v-prediction DDIM stepped per window, float32 guidance and step, each
  stepped window cast to the model dtype and cross-faded with 0.2/0.4/0.6/0.8
  weights in the model dtype into a float32 canvas, as the reference does;
* decoding (§5): latent 0 alone, then 2-latent chunks with the conv cache
  carried and time always doubled, giving 4F - 3 frames; ``x / 2 + 0.5`` clamped.

Unlike the reference, the conditioning-video noise comes from the caller's
generator, so a seed repeats a run exactly.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel, DiffusionPipeline
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.models.upsampling import CogVideoXUpsample3D
from diffusers.utils.accelerate_utils import apply_forward_hook
from diffusers.utils.torch_utils import randn_tensor

from void_server.modelspace import WINDOW_FRAMES, latent_frames

NOISE_AUG_STRENGTH = 0.0563
"""Sigma of the noise added to the conditioning video (the reference's ``__call__`` default)."""
WINDOW_STRIDE_FRAMES = 16
"""Temporal multidiffusion overlap in pixel frames (4 latent frames), the reference default."""

StepCallback = Callable[[int, int], None]
"""callback(step done, total steps); may raise to stop the run."""


def temporal_windows(num_latents: int, window: int, overlap: int) -> List[Tuple[int, int]]:
    """Latent-frame windows ``[start, end)`` of the multidiffusion loop (spec §4.7).

    Windows start at 0; each next one starts ``overlap`` frames before the
    previous end; the last one ends at ``num_latents``. One window when the
    clip fits in one.
    """
    if num_latents <= window:
        return [(0, num_latents)]
    windows = []
    start = 0
    while True:
        end = min(start + window, num_latents)
        windows.append((start, end))
        if end == num_latents:
            return windows
        start = end - overlap


def window_weights(windows: List[Tuple[int, int]], overlap: int) -> List[torch.Tensor]:
    """Per-frame blend weights of each window: linear ramps over every overlap, else 1.

    The ramp is ``linspace(0, 1, overlap + 2)[1:-1]`` (0.2 .. 0.8 for 4), rising
    at the start of a non-first window and falling at the end of a non-last one,
    so overlapping weights sum to one.
    """
    ramp = torch.linspace(0.0, 1.0, overlap + 2)[1:-1]
    weights = []
    for i, (start, end) in enumerate(windows):
        w = torch.ones(end - start)
        if i > 0:
            w[:overlap] = ramp
        if i < len(windows) - 1:
            w[-overlap:] = ramp.flip(0)
        weights.append(w)
    return weights


def _upsample_doubling_time(self: CogVideoXUpsample3D, inputs: torch.Tensor) -> torch.Tensor:
    """``CogVideoXUpsample3D.forward`` with time always doubled (VideoX-Fun's decoder, spec §5)."""
    inputs = F.interpolate(inputs, scale_factor=2.0)
    b, c, t, h, w = inputs.shape
    out = self.conv(inputs.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
    return out.reshape(b, t, *out.shape[1:]).permute(0, 2, 1, 3, 4)


@contextmanager
def _time_doubling_upsamplers(vae: AutoencoderKLCogVideoX) -> Iterator[None]:
    """Make every time-compressing upsampler double time, even for a one-frame chunk."""
    patched = [m for m in vae.decoder.modules() if isinstance(m, CogVideoXUpsample3D) and m.compress_time]
    for module in patched:
        module.forward = _upsample_doubling_time.__get__(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward


@apply_forward_hook
def decode_video_latents(vae: AutoencoderKLCogVideoX, z: torch.Tensor) -> torch.Tensor:
    """Decode (B, 16, F, h, w) latents with VideoX-Fun's temporal schedule → 4F - 3 frames.

    Latent 0 is decoded alone (1 frame); the rest go in chunks of two with the
    causal conv cache carried over and time doubled by every upsampler, so
    the trailing single latent of an even F still gives 4 frames. (diffusers'
    own ``decode`` chunks from 0 and would give 4F frames of other content.)
    Decorated so an offloaded VAE is moved onto the device first.
    """
    post_quant = vae.post_quant_conv if vae.post_quant_conv is not None else (lambda x: x)
    first, cache = vae.decoder(post_quant(z[:, :, :1]), conv_cache=None)
    frames = [first]
    with _time_doubling_upsamplers(vae):
        for start in range(1, z.shape[2], 2):
            out, cache = vae.decoder(post_quant(z[:, :, start:start + 2]), conv_cache=cache)
            frames.append(out)
    return torch.cat(frames, dim=2)


class VoidPipeline(DiffusionPipeline):
    """VOID inpainting: video + quadmask-derived mask + prompt → video."""

    model_cpu_offload_seq = "text_encoder->vae->transformer->vae"
    _optional_components: List[str] = []

    def __init__(self, tokenizer, text_encoder, vae: AutoencoderKLCogVideoX,
                 transformer: CogVideoXTransformer3DModel, scheduler) -> None:
        super().__init__()
        self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                              transformer=transformer, scheduler=scheduler)
        self.add_noise_in_inpaint_model = False
        """Set from the base transformer config's VideoX-Fun key (spec §4.4)."""

    @property
    def vae_scale_factor_spatial(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def vae_scale_factor_temporal(self) -> int:
        return self.vae.config.temporal_compression_ratio

    # -- 1. inputs -------------------------------------------------------------------------

    def check_inputs(self, video: torch.Tensor, mask: torch.Tensor, latents: Optional[torch.Tensor]) -> None:
        if video.ndim != 5 or video.shape[:2] != (1, 3):
            raise ValueError(f"video must be (1, 3, T, H, W) in [0, 1], got {tuple(video.shape)}")
        if mask.shape != (1, 1) + tuple(video.shape[2:]):
            raise ValueError(f"mask must be (1, 1, T, H, W) matching the video {tuple(video.shape)}, "
                             f"got {tuple(mask.shape)}")
        frames, height, width = video.shape[2:]
        multiple = self.vae_scale_factor_spatial * self.transformer.config.patch_size
        if height % multiple or width % multiple:
            raise ValueError(f"frame size {height}x{width} must be a multiple of {multiple}")
        if (frames - 1) % self.vae_scale_factor_temporal:
            raise ValueError(f"{frames} frames: the clip must have 4k+1 frames (pad it first)")
        patch_t = self.transformer.config.patch_size_t or 1
        if latent_frames(frames) % patch_t:
            raise ValueError(f"{frames} frames give {latent_frames(frames)} latent frames, which must be a "
                             f"multiple of {patch_t}: pad the clip to 4k+1 frames with k odd")
        if latents is not None and latents.shape[1] != latent_frames(frames):
            raise ValueError(f"latents have {latents.shape[1]} frames, the clip needs {latent_frames(frames)}")

    # -- 2. text ---------------------------------------------------------------------------

    def _t5_embeds(self, prompt: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        length = self.transformer.config.max_text_seq_length
        ids = self.tokenizer([prompt], padding="max_length", max_length=length, truncation=True,
                             add_special_tokens=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(device))[0].to(device=device, dtype=dtype)

    def encode_prompt(self, prompt: str, negative_prompt: str, guidance: bool, device: torch.device,
                      dtype: torch.dtype) -> torch.Tensor:
        """(1 or 2, L, D) text states; with guidance the batch is [negative, positive] (spec §4.1)."""
        positive = self._t5_embeds(prompt, device, dtype)
        if not guidance:
            return positive
        return torch.cat([self._t5_embeds(negative_prompt, device, dtype), positive], dim=0)

    # -- 3. conditioning latents -----------------------------------------------------------

    def _encode_mode(self, pixels: torch.Tensor) -> torch.Tensor:
        """VAE posterior mode x scaling factor, as (B, F, 16, h, w)."""
        latents = self.vae.encode(pixels).latent_dist.mode() * self.vae.config.scaling_factor
        return latents.permute(0, 2, 1, 3, 4)

    def prepare_mask_latents(self, mask: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """VAE of ``1 - mask`` tiled to three channels, kept in [0, 1] (spec §4.3)."""
        pixels = (1.0 - mask).repeat(1, 3, 1, 1, 1).to(device=device, dtype=dtype)
        return self._encode_mode(pixels)

    def prepare_video_latents(self, video: torch.Tensor, dtype: torch.dtype, device: torch.device,
                              generator: Optional[torch.Generator], noise_aug_strength: float) -> torch.Tensor:
        """VAE of the whole video in [-1, 1], noised where the base model expects it (spec §4.4)."""
        pixels = video * 2.0 - 1.0
        if self.add_noise_in_inpaint_model and noise_aug_strength > 0:
            # The reference draws ``randn_like`` of its video tensor, which is laid out frames first
            # (B, F, C, H, W in memory): a tensor of that layout filled by ``normal_`` gets the very
            # same numbers from the same seed (torch fills non-contiguous tensors element by element).
            b, c, f, h, w = pixels.shape
            noise = torch.empty((b, f, c, h, w), device=pixels.device, dtype=pixels.dtype).permute(0, 2, 1, 3, 4)
            noise.normal_(generator=generator)
            pixels = torch.where(pixels == -1.0, pixels, pixels + noise * noise_aug_strength)
        return self._encode_mode(pixels.to(device=device, dtype=dtype))

    # -- 4. initial latents ----------------------------------------------------------------

    def latent_shape(self, frames: int, height: int, width: int) -> Tuple[int, int, int, int, int]:
        """(1, F, 16, h, w): the start noise for a clip of ``frames`` pixel frames of height x width."""
        return (1, latent_frames(frames), self.transformer.config.out_channels,
                height // self.vae_scale_factor_spatial, width // self.vae_scale_factor_spatial)

    def prepare_latents(self, video: torch.Tensor, dtype: torch.dtype, device: torch.device,
                        generator: Optional[torch.Generator], latents: Optional[torch.Tensor]) -> torch.Tensor:
        """(1, F, 16, h, w) start noise over the whole clip, or the given latents (Pass 2's warped noise)."""
        shape = self.latent_shape(*video.shape[2:])
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents must be {shape}, got {tuple(latents.shape)}")
        return (latents * self.scheduler.init_noise_sigma).to(device=device, dtype=dtype)

    # -- 5. denoising ----------------------------------------------------------------------

    def rotary_embeddings(self, num_latents: int, height: int, width: int,
                          device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """CogVideoX-1.5 "slice" RoPE for one window; positions restart at 0 per window (spec §4.8)."""
        cfg = self.transformer.config
        p, p_t = cfg.patch_size, cfg.patch_size_t or 1
        grid_h = height // (self.vae_scale_factor_spatial * p)
        grid_w = width // (self.vae_scale_factor_spatial * p)
        # max_size only bounds the slice; any value at least the grid gives identical RoPE.
        max_size = (max(cfg.sample_height // p, grid_h), max(cfg.sample_width // p, grid_w))
        return get_3d_rotary_pos_embed(embed_dim=cfg.attention_head_dim, crops_coords=None,
                                       grid_size=(grid_h, grid_w), temporal_size=(num_latents + p_t - 1) // p_t,
                                       grid_type="slice", max_size=max_size, device=device)

    def predict_window(self, latents: torch.Tensor, conditioning: torch.Tensor, text: torch.Tensor,
                       t: torch.Tensor, rope: Tuple[torch.Tensor, torch.Tensor], guidance_scale: float) -> torch.Tensor:
        """The transformer's v-prediction for one window, guided, in float32."""
        guided = text.shape[0] == 2
        model_input = torch.cat([latents, conditioning], dim=2)
        if guided:
            model_input = torch.cat([model_input] * 2)
        model_input = self.scheduler.scale_model_input(model_input, t)
        prediction = self.transformer(hidden_states=model_input, encoder_hidden_states=text,
                                      timestep=t.expand(model_input.shape[0]), image_rotary_emb=rope,
                                      return_dict=False)[0].float()
        if guided:
            uncond, cond = prediction.chunk(2)
            prediction = uncond + guidance_scale * (cond - uncond)
        return prediction

    def denoise(self, latents: torch.Tensor, conditioning: torch.Tensor, text: torch.Tensor,
                timesteps: torch.Tensor, guidance_scale: float, window: int, overlap: int,
                callback: Optional[StepCallback]) -> torch.Tensor:
        """Windowed DDIM: every timestep steps each window and blends the results (spec §4.7).

        The arithmetic is the reference's, dtype for dtype: each stepped window
        is cast to the model dtype, multiplied by its blend weights in the model
        dtype, and accumulated in a float32 canvas with float32 weight sums; the
        quotient is cast back. In bfloat16 the weights are 0.2002, 0.4004,
        0.6016 and 0.8008, and the products round before they are summed: this
        is what makes a several-window bf16 run bit-identical to the reference.
        """
        windows = temporal_windows(latents.shape[1], window, overlap)
        weights = [w.to(device=latents.device, dtype=latents.dtype).view(1, -1, 1, 1, 1)
                   for w in window_weights(windows, overlap)]
        height = latents.shape[3] * self.vae_scale_factor_spatial
        width = latents.shape[4] * self.vae_scale_factor_spatial
        ropes: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}
        for step, t in enumerate(timesteps):
            canvas = torch.zeros(latents.shape, dtype=torch.float32, device=latents.device)
            total = torch.zeros_like(canvas[:, :, :1, :1, :1])
            for (start, end), weight in zip(windows, weights):
                if end - start not in ropes:
                    ropes[end - start] = self.rotary_embeddings(end - start, height, width, latents.device)
                part = latents[:, start:end]
                prediction = self.predict_window(part, conditioning[:, start:end], text, t,
                                                 ropes[end - start], guidance_scale)
                stepped = self.scheduler.step(prediction, t, part, return_dict=False)[0].to(latents.dtype)
                canvas[:, start:end] += stepped * weight
                total[:, start:end] += weight
            latents = (canvas / total).to(latents.dtype)
            if callback is not None:
                callback(step + 1, len(timesteps))
        return latents

    # -- 6. decoding -----------------------------------------------------------------------

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(1, F, 16, h, w) → (4F - 3, H, W, 3) float32 in [0, 1] on the CPU."""
        z = latents.permute(0, 2, 1, 3, 4) / self.vae.config.scaling_factor
        video = decode_video_latents(self.vae, z.to(self.vae.dtype))
        video = (video / 2 + 0.5).clamp(0, 1)
        return video[0].permute(1, 2, 3, 0).float().cpu()

    # -- the whole run ---------------------------------------------------------------------

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, mask: torch.Tensor, prompt: str, negative_prompt: str = "",
                 num_inference_steps: int = 50, guidance_scale: float = 1.0,
                 generator: Optional[torch.Generator] = None, latents: Optional[torch.Tensor] = None,
                 noise_aug_strength: float = NOISE_AUG_STRENGTH, window_frames: int = WINDOW_FRAMES,
                 window_stride_frames: int = WINDOW_STRIDE_FRAMES,
                 callback: Optional[StepCallback] = None) -> torch.Tensor:
        """Inpaint ``video`` where ``mask`` says so.

        ``video`` is (1, 3, T, H, W) in [0, 1] and ``mask`` (1, 1, T, H, W) the
        re-quantised model mask (1 remove, ~0.5 affected, 0 keep; see
        ``modelspace.pass1_mask``/``pass2_mask``), both already padded to
        4k+1 frames with k odd. Returns (T, H, W, 3) float32 in [0, 1].
        """
        # 1. check inputs
        self.check_inputs(video, mask, latents)
        device = self._execution_device
        dtype = self.transformer.dtype
        guided = guidance_scale > 1.0

        # 2. encode the prompt
        text = self.encode_prompt(prompt, negative_prompt, guided, device, dtype)

        # 3. conditioning latents: [mask 16, video 16] on the channel axis
        conditioning = torch.cat([
            self.prepare_mask_latents(mask, self.vae.dtype, device),
            self.prepare_video_latents(video, self.vae.dtype, device, generator, noise_aug_strength),
        ], dim=2).to(dtype)

        # 4. timesteps and initial latents
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = self.prepare_latents(video, dtype, device, generator, latents)

        # 5. windowed denoising
        latents = self.denoise(latents, conditioning, text, self.scheduler.timesteps, guidance_scale,
                               window=latent_frames(window_frames),
                               overlap=window_stride_frames // self.vae_scale_factor_temporal,
                               callback=callback)

        # 6. decode
        frames = self.decode_latents(latents)
        self.maybe_free_model_hooks()
        return frames
