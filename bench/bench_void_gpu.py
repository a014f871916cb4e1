"""VOID Pass 1 on a GPU: the full-size architecture with random weights, per memory mode.

The transformer (CogVideoX-Fun-V1.5-5b config of spec §1.1, 48 input channels,
5.57 B parameters), the CogVideoX VAE and the T5 v1.1 XXL encoder are built at
their real sizes with random weights (no download; outputs are noise, timings
and memory are real). For 85 and 197 frames at 384x672 it measures, per memory
mode: the preparation (text + VAE encodes), seconds per denoising step, the
decode, the projected Pass-1 total at 50 steps, and peak GPU memory. The
baseline, measured in the same process, is one bare transformer forward per
window of a step, so ``step / baseline`` is what the pipeline adds around the
model (windows, blending, scheduler).

    python bench/bench_void_gpu.py [--frames 85 197] [--modes full model_offload] [--steps 3] [--out FILE]

Without CUDA it says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from typing import Any, Dict, List

import torch

from void_server.settings import MEMORY_MODES

TRANSFORMER = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=48, out_channels=16, flip_sin_to_cos=True,
    freq_shift=0, time_embed_dim=512, ofs_embed_dim=None, text_embed_dim=4096, num_layers=42, dropout=0.0,
    attention_bias=True, sample_width=300, sample_height=300, sample_frames=81, patch_size=2, patch_size_t=2,
    temporal_compression_ratio=4, max_text_seq_length=226, activation_fn="gelu-approximate",
    timestep_activation_fn="silu", norm_elementwise_affine=True, norm_eps=1e-5, spatial_interpolation_scale=1.875,
    temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=False, patch_bias=False,
)
VAE = dict(block_out_channels=(128, 256, 256, 512), latent_channels=16, layers_per_block=3, norm_num_groups=32,
           temporal_compression_ratio=4, scaling_factor=0.7,
           down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4)
T5_XXL = dict(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=32128,
              feed_forward_proj="gated-gelu", is_encoder_decoder=False)
HEIGHT, WIDTH = 384, 672


def _random_init(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Materialise a meta-device model on ``device`` with small random weights (fast, no CPU init)."""
    model = model.to(torch.bfloat16).to_empty(device=device)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.02)
    return model


def build_pipeline(mode: str, tokenizer_dir: str):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    from void_server.engines.void.loader import make_scheduler
    from void_server.engines.void.memory import MemoryPlan
    from void_server.engines.void.pipeline import VoidPipeline
    from void_server.engines.void.testing import SCHEDULER_CONFIG

    device = torch.device("cuda")
    plan = MemoryPlan(mode, device)
    # models that will be offloaded are materialised on the CPU, the others straight on the GPU
    home = device if mode in ("full", "fp8") else torch.device("cpu")
    with init_empty_weights():
        transformer = CogVideoXTransformer3DModel(**TRANSFORMER)
        text_encoder = T5EncoderModel(T5Config(**T5_XXL))
    transformer = _random_init(transformer, home).eval()
    text_encoder = _random_init(text_encoder, home).eval()
    vae = AutoencoderKLCogVideoX(**VAE).to(torch.bfloat16).eval()
    for module, role in ((text_encoder, "text_encoder"), (vae, "vae"), (transformer, "transformer")):
        plan.adopt(module, role)
    pipe = VoidPipeline(T5Tokenizer.from_pretrained(tokenizer_dir), text_encoder, vae, transformer,
                        make_scheduler(SCHEDULER_CONFIG, 1))
    pipe.add_noise_in_inpaint_model = True
    pipe.set_progress_bar_config(disable=True)
    plan.place(pipe)
    return pipe


def baseline_forward(pipe, frames: int) -> float:
    """Seconds for the bare transformer forwards of one step (one per window), no pipeline around them."""
    from void_server.engines.void.pipeline import temporal_windows
    from void_server.modelspace import latent_frames

    device = pipe._execution_device
    text = torch.zeros(1, 226, 4096, device=device, dtype=torch.bfloat16)
    total = 0.0
    for start, end in temporal_windows(latent_frames(frames), 22, 4):
        x = torch.randn(1, end - start, 48, HEIGHT // 8, WIDTH // 8, device=device, dtype=torch.bfloat16)
        rope = pipe.rotary_embeddings(end - start, HEIGHT, WIDTH, device)
        t = torch.tensor([999], device=device)
        with torch.no_grad():
            pipe.transformer(hidden_states=x, encoder_hidden_states=text, timestep=t, image_rotary_emb=rope)
            torch.cuda.synchronize()
            began = time.perf_counter()
            pipe.transformer(hidden_states=x, encoder_hidden_states=text, timestep=t, image_rotary_emb=rope)
            torch.cuda.synchronize()
        total += time.perf_counter() - began
    return total


def measure(mode: str, frames: int, steps: int, tokenizer_dir: str) -> Dict[str, Any]:
    torch.cuda.empty_cache()
    pipe = build_pipeline(mode, tokenizer_dir)
    torch.cuda.reset_peak_memory_stats()
    g = torch.Generator().manual_seed(0)
    video = torch.rand(1, 3, frames, HEIGHT, WIDTH, generator=g)
    mask = (torch.rand(1, 1, frames, HEIGHT, WIDTH, generator=g) > 0.8).float()
    marks: List[float] = []

    def tick(done: int, total: int) -> None:
        torch.cuda.synchronize()
        marks.append(time.perf_counter())

    began = time.perf_counter()
    pipe(video, mask, "an empty room", num_inference_steps=steps, generator=torch.Generator().manual_seed(1),
         callback=tick)
    torch.cuda.synchronize()
    ended = time.perf_counter()
    per_step = statistics.median(b - a for a, b in zip(marks, marks[1:])) if len(marks) > 1 else marks[0] - began
    prepare = marks[0] - began - per_step
    decode = ended - marks[-1]
    peak = torch.cuda.max_memory_allocated() / 2 ** 30
    base = baseline_forward(pipe, frames) if mode in ("full", "fp8") else None
    del pipe
    return {"mode": mode, "frames": frames, "prepare_s": round(prepare, 2), "step_s": round(per_step, 3),
            "decode_s": round(decode, 2), "pass1_50_steps_s": round(prepare + 50 * per_step + decode, 1),
            "peak_vram_gib": round(peak, 2),
            "step_over_bare_forwards": round(per_step / base, 3) if base else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[85, 197])
    parser.add_argument("--modes", nargs="+", default=list(MEMORY_MODES), choices=MEMORY_MODES)
    parser.add_argument("--steps", type=int, default=3, help="denoising steps actually run per measurement")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_void_gpu: no CUDA GPU on this machine; nothing measured.")
        return
    from void_server.engines.void.testing import write_tokenizer

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer(tmp)
        for mode in args.modes:
            for frames in args.frames:
                try:
                    row = measure(mode, frames, args.steps, tmp)
                except torch.OutOfMemoryError:
                    row = {"mode": mode, "frames": frames, "error": "out of GPU memory"}
                print(json.dumps(row), flush=True)
                rows.append(row)
    report = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "host": platform.node(),
              "date": time.strftime("%Y-%m-%d"), "results": rows}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
