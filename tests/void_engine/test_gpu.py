"""The memory modes, and Pass 2's noise warp at its real size, on a CUDA GPU (skipped without CUDA)."""
from __future__ import annotations

import pytest
import torch

from void_server.engines.void.loader import load_base, load_transformer, make_scheduler
from void_server.engines.void.memory import MemoryPlan
from void_server.engines.void.pipeline import VoidPipeline
from void_server.engines.void.warped_noise import NoiseWarper
from void_server.modelspace import pass1_mask
from void_server.settings import MEMORY_MODES

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _run_mode(tiny_model, mode: str) -> torch.Tensor:
    device = torch.device("cuda")
    plan = MemoryPlan(mode, device)
    base = load_base(tiny_model[0], torch.bfloat16)
    plan.adopt(base.text_encoder, "text_encoder")
    plan.adopt(base.vae, "vae")
    transformer = plan.adopt(load_transformer(base.transformer_config, tiny_model[1], torch.bfloat16), "transformer")
    pipe = VoidPipeline(base.tokenizer, base.text_encoder, base.vae, transformer,
                        make_scheduler(base.scheduler_config, 1))
    plan.place(pipe)
    g = torch.Generator().manual_seed(0)
    video = torch.rand(1, 3, 85, 64, 112, generator=g)
    mask = torch.from_numpy(pass1_mask((torch.rand(1, 1, 85, 64, 112, generator=g) > 0.7).float().numpy()))
    out = pipe(video, mask, "a wall", num_inference_steps=2, generator=torch.Generator().manual_seed(1))
    # a second transformer swapped in, as Pass 2 does, must run too
    other = plan.adopt(load_transformer(base.transformer_config, tiny_model[2], torch.bfloat16), "transformer")
    plan.place(pipe, transformer=other, scheduler=make_scheduler(base.scheduler_config, 2))
    pipe(video, mask, "a wall", num_inference_steps=1, guidance_scale=6.0, generator=torch.Generator().manual_seed(1))
    return out


@pytest.mark.parametrize("mode", [m for m in MEMORY_MODES if m != "full"])
def test_every_memory_mode_matches_full_residency(tiny_model, mode):
    reference = _run_mode(tiny_model, "full")
    out = _run_mode(tiny_model, mode)
    assert out.shape == reference.shape == (85, 64, 112, 3)
    tolerance = 0.1 if mode == "fp8" else 0.02  # fp8 storage rounds the weights
    assert float((out - reference).abs().mean()) < tolerance


def test_warped_noise_at_its_real_size_on_the_gpu():
    """Pass 2's warp on the GPU with the field of a 384x672 model frame (48x84 latents x 32 = 1536x2688),
    driven by a zoom and a pan (flow at 192x336): every reduced frame is finite and N(0, 1) in the mean
    (N = 64,512 values: the mean's sd is 0.0039, the variance's 0.0056; 5 sd allowed)."""
    device = torch.device("cuda")
    warper = NoiseWarper(16, 1536, 2688, torch.Generator(device).manual_seed(0), device)
    ys, xs = torch.meshgrid(torch.arange(192.0), torch.arange(336.0), indexing="ij")
    flow = torch.stack([(xs - 167.5) * 0.02 + 1.3, (ys - 95.5) * 0.02 - 0.6]).to(device)
    for _ in range(8):
        warper.step(flow)
        frame = warper.reduced(32)
        assert frame.shape == (16, 48, 84) and bool(torch.isfinite(frame).all())
        assert abs(float(frame.mean())) < 5 * 0.0039
        assert abs(float(frame.var()) - 1) < 5 * 0.0056
    assert float(warper.weight.min()) > 0

