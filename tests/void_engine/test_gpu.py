"""The memory modes on a CUDA GPU with the tiny model (skipped without CUDA)."""
from __future__ import annotations

import pytest
import torch

from void_server.engines.void.loader import load_base, load_transformer, make_scheduler
from void_server.engines.void.memory import MemoryPlan
from void_server.engines.void.pipeline import VoidPipeline
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
