"""VoidPipeline against the reference's definitions (spec §4-§5), on a tiny random-weight model."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
import torch

from void_server.engines.void.pipeline import (decode_video_latents, temporal_windows, window_weights)
from void_server.modelspace import pass1_mask

H, W = 32, 48  # a multiple of 16 (VAE 8x, patch 2); small enough for a CPU


def _clip(frames: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    video = torch.rand(1, 3, frames, H, W, generator=g)
    video[:, :, :, :4] = 0.0  # a black band: pixels at exactly -1 after normalisation
    quad = torch.zeros(1, 1, frames, H, W)
    quad[..., 8:24, 12:30] = 128 / 255
    quad[..., 12:20, 16:26] = 1.0
    mask = torch.from_numpy(pass1_mask(quad.numpy()))
    return video, mask


class _Spy:
    """Records the transformer's and VAE's inputs without changing them."""

    def __init__(self, pipe) -> None:
        self.transformer: List[Dict[str, Any]] = []
        self.vae: List[torch.Tensor] = []
        self._handles = [pipe.transformer.register_forward_pre_hook(self._on_transformer, with_kwargs=True)]
        encode = pipe.vae.encode

        def spy_encode(x, *args, **kwargs):
            self.vae.append(x.detach().clone())
            return encode(x, *args, **kwargs)

        pipe.vae.encode = spy_encode

    def _on_transformer(self, module, args, kwargs):
        self.transformer.append({k: (v.detach().clone() if isinstance(v, torch.Tensor) else v)
                                 for k, v in kwargs.items()})


@pytest.mark.parametrize("latents, expected", [
    (22, [(0, 22)]),
    (24, [(0, 22), (18, 24)]),
    (26, [(0, 22), (18, 26)]),
    (40, [(0, 22), (18, 40)]),
    (50, [(0, 22), (18, 40), (36, 50)]),
])
def test_window_schedules_match_the_reference(latents, expected):
    assert temporal_windows(latents, 22, 4) == expected


@pytest.mark.parametrize("latents", [22, 24, 26, 40, 50, 96])
def test_window_weights_ramp_and_sum_to_one(latents):
    windows = temporal_windows(latents, 22, 4)
    weights = window_weights(windows, 4)
    total = torch.zeros(latents)
    for (start, end), w in zip(windows, weights):
        total[start:end] += w
    assert torch.allclose(total, torch.ones(latents))
    if len(windows) > 1:
        assert torch.allclose(weights[1][:4], torch.tensor([0.2, 0.4, 0.6, 0.8]))
        assert torch.allclose(weights[0][-4:], torch.tensor([0.8, 0.6, 0.4, 0.2]))


@pytest.mark.parametrize("latents", [2, 4, 22])
def test_decode_gives_4f_minus_3_frames_with_frame_0_decoded_alone(base_components, latents):
    vae = base_components.vae
    z = torch.randn(1, 16, latents, H // 8, W // 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        video = decode_video_latents(vae, z)
        first = vae.decode(z[:, :, :1]).sample
    assert video.shape == (1, 3, 4 * latents - 3, H, W)
    assert torch.allclose(video[:, :, :1], first, atol=1e-6)
    # the time-doubling switch is undone afterwards: stock decode of one latent gives one frame again
    assert first.shape[2] == 1 and vae.decode(z[:, :, 1:2]).sample.shape[2] == 1


def test_channel_order_and_mask_vae_input(pipeline):
    video, mask = _clip(85)
    spy = _Spy(pipeline)
    frames = pipeline(video, mask, "an empty table", num_inference_steps=1,
                      generator=torch.Generator().manual_seed(3))
    assert frames.shape == (85, H, W, 3) and 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0

    # the mask goes to the VAE as 1 - mask, three channels, in [0, 1] (not rescaled to [-1, 1])
    mask_input = spy.vae[0]
    assert mask_input.shape == (1, 3, 85, H, W)
    assert torch.equal(mask_input, (1.0 - mask).repeat(1, 3, 1, 1, 1))
    assert torch.unique(mask_input).tolist() == pytest.approx([0.0, 128 / 255, 1.0])
    # the video goes in [-1, 1]; black stays exactly -1 (no noise there), the rest is noised
    video_input = spy.vae[1]
    assert torch.all(video_input[:, :, :, :4] == -1.0)
    noise = video_input[:, :, :, 4:] - (video[:, :, :, 4:] * 2 - 1)
    assert 0.05 < float(noise.std()) < 0.063  # sigma 0.0563 (spec §4.4)

    # transformer input channels: [noisy 16, VAE(1 - mask) 16, VAE(video) 16]
    hidden = spy.transformer[0]["hidden_states"]
    assert hidden.shape == (1, 22, 48, H // 8, W // 8)
    vae = pipeline.vae
    with torch.no_grad():
        mask_latents = vae.encode(mask_input).latent_dist.mode() * vae.config.scaling_factor
        video_latents = vae.encode(video_input).latent_dist.mode() * vae.config.scaling_factor
    assert torch.allclose(hidden[:, :, 16:32], mask_latents.permute(0, 2, 1, 3, 4), atol=1e-5)
    assert torch.allclose(hidden[:, :, 32:48], video_latents.permute(0, 2, 1, 3, 4), atol=1e-5)
    assert abs(float(hidden[:, :, :16].std()) - 1.0) < 0.1  # pure noise at the first step


def test_same_seed_same_output_other_seed_other_output(pipeline):
    video, mask = _clip(85)
    runs = [pipeline(video, mask, "a calm lake", num_inference_steps=2, generator=torch.Generator().manual_seed(s))
            for s in (7, 7, 8)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_long_clip_is_sampled_in_overlapping_windows_with_their_own_rope(pipeline):
    video, mask = _clip(93)  # 24 latent frames: windows [0, 22) and [18, 24)
    spy = _Spy(pipeline)
    steps = []
    frames = pipeline(video, mask, "a street", num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                      callback=lambda done, total: steps.append((done, total)))
    assert frames.shape[0] == 93
    assert steps == [(1, 2), (2, 2)]
    lengths = [call["hidden_states"].shape[1] for call in spy.transformer]
    assert lengths == [22, 6, 22, 6]
    tokens_per_latent_pair = (H // 16) * (W // 16)
    cos, _ = spy.transformer[1]["image_rotary_emb"]
    assert cos.shape[0] == 3 * tokens_per_latent_pair  # RoPE built for the 6-frame window alone
    first_cos, _ = spy.transformer[0]["image_rotary_emb"]
    assert torch.equal(cos, first_cos[:cos.shape[0]])  # positions restart at 0 in every window
    assert spy.transformer[0]["timestep"].tolist() == [999]


def test_guidance_doubles_the_batch_negative_first(pipeline):
    video, mask = _clip(85)
    spy = _Spy(pipeline)
    pipeline(video, mask, "a duck floats on water", negative_prompt="", num_inference_steps=1,
             guidance_scale=6.0, generator=torch.Generator().manual_seed(0))
    call = spy.transformer[0]
    assert call["hidden_states"].shape[0] == 2
    text = call["encoder_hidden_states"]
    with torch.no_grad():
        positive = pipeline._t5_embeds("a duck floats on water", torch.device("cpu"), torch.float32)
        negative = pipeline._t5_embeds("", torch.device("cpu"), torch.float32)
    assert torch.equal(text[1:], positive) and torch.equal(text[:1], negative)
    assert text.shape[1] == pipeline.transformer.config.max_text_seq_length


def test_without_guidance_the_negative_prompt_is_never_encoded(pipeline):
    video, mask = _clip(85)
    spy = _Spy(pipeline)
    pipeline(video, mask, "a duck", num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    assert spy.transformer[0]["hidden_states"].shape[0] == 1


def test_given_latents_are_the_start_noise(pipeline):
    video, mask = _clip(85)
    start = torch.randn(1, 22, 16, H // 8, W // 8, generator=torch.Generator().manual_seed(5))
    spy = _Spy(pipeline)
    pipeline(video, mask, "a duck", num_inference_steps=1, latents=start, generator=torch.Generator().manual_seed(0))
    assert torch.equal(spy.transformer[0]["hidden_states"][:, :, :16], start)


def test_clip_lengths_the_model_cannot_take_are_refused(pipeline):
    video, mask = _clip(89)  # 23 latent frames: odd, patch_size_t = 2 needs even
    with pytest.raises(ValueError, match="multiple of 2"):
        pipeline(video, mask, "x", num_inference_steps=1)
    video, mask = _clip(86)
    with pytest.raises(ValueError, match="4k\\+1"):
        pipeline(video, mask, "x", num_inference_steps=1)
