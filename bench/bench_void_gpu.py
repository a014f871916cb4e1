"""VOID Pass 1 on a GPU: our pipeline per memory mode, the reference's side by side, transformer utilisation.

The transformer (CogVideoX-Fun-V1.5-5b config of spec §1.1, 48 input channels,
5.57 B parameters), the CogVideoX VAE and the T5 v1.1 XXL encoder are built at
their real sizes with random weights (no download; outputs are noise, timings
and memory are real). For 85 and 197 frames at 384x672 it measures, per memory
mode: the preparation (text + VAE encodes), seconds per denoising step, the
decode, the projected Pass-1 total at 50 steps, and peak GPU memory. The
baseline, measured in the same process, is one bare transformer forward per
window of a step, so ``step / baseline`` is what the pipeline adds around the
model (windows, blending, scheduler).

``--reference DIR`` also runs the reference release's own pipeline
(``CogVideoXFunInpaintPipeline`` with VideoX-Fun's transformer and VAE classes,
imported from a local checkout of Netflix/void-model at DIR) on the same
random weights, the same T5 and scheduler config, and the same video, mask,
prompt and start latents, in bf16, in its default memory mode as
``predict_v2v.py`` configures it (``model_cpu_offload_and_qfloat8``: the
transformer is cast back to bf16 right after loading, its layers' forwards are
wrapped with a dtype cast, and the pipeline uses model CPU offload; spec §1)
and in its plain-GPU mode (``model_full_load``). It prints each side's
seconds per step and Pass-1 total and the speed-up, reference time / ours
(the aim is >= 1.5 against the reference's default mode on the same GPU).

Transformer utilisation: every transformer forward (one per window per step)
is timed with CUDA events, and its work counted analytically:

    FLOPs = 2 * B * (W_joint * (S_text + S_video) + W_video * S_video + W_text * S_text + W_sample)
          + 4 * B * layers * heads * head_dim * (S_text + S_video) ** 2

where B is the batch (2 with classifier-free guidance), S_video =
ceil(F / p_t) * (h / p) * (w / p) the window's video tokens (11088 for 22
latent frames at 384x672), S_text the text tokens (226), and W_* the weight
counts of the Linear layers by the tokens they see: attention projections and
feed-forwards of every block run over the joint text + video sequence, the
patch embedding and output projection over video tokens, the text projection
over text tokens, and the time embedding and AdaLN modulation once per sample.
The attention term is QK^T plus AV over the joint sequence. Norms, RoPE,
softmax and element-wise work are not counted, so the figure is a slight
under-estimate. Achieved TFLOP/s is compared with the GPU's dense bf16 peak
(table ``DENSE_BF16_TFLOPS``, or ``--peak-tflops``); the aim is >= 40 %.

    python bench/bench_void_gpu.py [--frames 85 197] [--modes full model_offload] [--steps 3]
        [--reference ../void-model] [--reference-modes ...] [--peak-tflops N] [--out FILE]
    python bench/bench_void_gpu.py --device cpu --tiny [--reference ../void-model]

``--tiny`` swaps in a toy-sized model (32x48 frames, 21 and 37 frames, a
21-frame window so the longer clip has two, 1 step) so the whole harness,
reference included, can be checked on a CPU in seconds; its figures mean
nothing. Without CUDA and without ``--device cpu`` it says so and exits 0.
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from reference_code import ReferenceCode, call_reference, import_reference, rehost
from void_server.settings import MEMORY_MODES

TRANSFORMER = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=48, out_channels=16, flip_sin_to_cos=True,
    freq_shift=0, time_embed_dim=512, text_embed_dim=4096, num_layers=42, dropout=0.0,
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

PROMPT = "an empty room"
NOISE_SEED = 1
"""Seed of the conditioning-video noise on both sides (ours: a generator; the reference: torch's global one)."""
WARM_UP_FRAMES = 5
"""Length of the one-step run each pipeline makes before it is measured (2 latent frames, one window)."""
PROJECTED_STEPS = 50
"""Steps of the projected Pass-1 total (notebook and README; ``predict_v2v.py`` hard-codes 30)."""
REFERENCE_MODES = ("model_cpu_offload_and_qfloat8", "model_full_load")
"""The reference's default memory mode (``config/quadmask_cogvideox.py``) and its plain-GPU mode."""

# Dense (no 2:4 sparsity) bf16 tensor-core peaks with fp32 accumulation, TFLOP/s, from NVIDIA's data
# sheets: H100 SXM5 989.4, H100 PCIe 756, H100 NVL 835 (half the sparse 1671), H200 989.4 (same
# Hopper SXM compute as H100), A100 312, L40S 362.05, GeForce RTX 4090 165.2 (Ada whitepaper, fp32
# accumulate). Boost clocks are assumed; a power- or heat-limited card runs below them. First match
# of the name as torch.cuda.get_device_name() reports it wins, so the more specific names come first.
DENSE_BF16_TFLOPS: Tuple[Tuple[str, float], ...] = (
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4),
    ("A100", 312.0), ("L40S", 362.05), ("RTX 4090", 165.2),
)


@dataclass(frozen=True)
class Profile:
    """Model sizes and clip geometry of one benchmark size."""

    name: str
    transformer: Dict[str, Any]
    vae: Dict[str, Any]
    text_encoder: Dict[str, Any]
    height: int
    width: int
    window_frames: int
    frames: Tuple[int, ...]
    steps: int


FULL = Profile("full-size", TRANSFORMER, VAE, T5_XXL, 384, 672, 85, (85, 197), 3)
TINY = Profile(
    "tiny",
    dict(TRANSFORMER, num_attention_heads=2, attention_head_dim=16, num_layers=2, text_embed_dim=32,
         max_text_seq_length=16, time_embed_dim=16),
    dict(VAE, block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=4),
    dict(T5_XXL, d_model=32, d_ff=64, d_kv=8, num_heads=2, num_layers=1, vocab_size=64),
    32, 48, 21, (21, 37), 1,
)


# -- devices -----------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_gib(device: torch.device) -> Optional[float]:
    return round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 2) if device.type == "cuda" else None


def reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"


def significant(value: float, digits: int = 4) -> float:
    """``value`` to a few significant digits, so toy-model figures do not round to zero."""
    return float(f"{value:.{digits}g}")


def dense_bf16_peak(name: str) -> Optional[float]:
    """The table's dense bf16 peak for a GPU name, or None when the GPU is not in it."""
    for key, tflops in DENSE_BF16_TFLOPS:
        if key.lower() in name.lower():
            return tflops
    return None


# -- models ------------------------------------------------------------------------------------------


@dataclass
class Components:
    """One set of random-weight models, shared by whichever pipeline is built around them."""

    tokenizer: Any
    text_encoder: torch.nn.Module
    vae: torch.nn.Module
    transformer: torch.nn.Module


def _random_init(model: torch.nn.Module, dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    """Materialise a meta-device model on ``device`` with small random weights (fast, no CPU init)."""
    model = model.to(dtype).to_empty(device=device)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.02)
    return model.eval()


def build_components(profile: Profile, dtype: torch.dtype, home: torch.device, tokenizer_dir: str,
                     seed: int = 0) -> Components:
    """The transformer, T5 and VAE of ``profile`` on ``home``; the same seed gives the same weights."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    with init_empty_weights():
        transformer = CogVideoXTransformer3DModel(**profile.transformer)
        text_encoder = T5EncoderModel(T5Config(**profile.text_encoder))
    torch.manual_seed(seed)
    transformer = _random_init(transformer, dtype, home)
    text_encoder = _random_init(text_encoder, dtype, home)
    vae = AutoencoderKLCogVideoX(**profile.vae).to(dtype=dtype).eval()
    return Components(T5Tokenizer.from_pretrained(tokenizer_dir), text_encoder, vae, transformer)


def model_home(offloaded: bool, device: torch.device) -> torch.device:
    """Models that will be offloaded are materialised on the CPU, the others straight on the device."""
    return torch.device("cpu") if offloaded and device.type == "cuda" else device


def build_ours(mode: str, device: torch.device, components: Components):
    from void_server.engines.void.loader import make_scheduler
    from void_server.engines.void.memory import MemoryPlan
    from void_server.engines.void.pipeline import VoidPipeline
    from void_server.engines.void.testing import SCHEDULER_CONFIG

    plan = MemoryPlan(mode, device)
    for module, role in ((components.text_encoder, "text_encoder"), (components.vae, "vae"),
                         (components.transformer, "transformer")):
        plan.adopt(module, role)
    pipe = VoidPipeline(components.tokenizer, components.text_encoder, components.vae, components.transformer,
                        make_scheduler(SCHEDULER_CONFIG, 1))
    pipe.add_noise_in_inpaint_model = True
    pipe.set_progress_bar_config(disable=True)
    plan.place(pipe)
    return pipe


# -- the reference release ---------------------------------------------------------------------------


def build_reference(code: ReferenceCode, mode: str, device: torch.device, components: Components,
                    profile: Profile):
    """The reference pipeline around ``components``' weights, set up as ``predict_v2v.py`` does for ``mode``."""
    from void_server.engines.void.loader import make_scheduler
    from void_server.engines.void.testing import SCHEDULER_CONFIG

    dtype = components.transformer.dtype
    transformer = rehost(components.transformer, code.transformer_cls,
                         dict(profile.transformer, add_noise_in_inpaint_model=True))
    vae = rehost(components.vae, code.vae_cls, profile.vae)
    pipe = code.pipeline_cls(tokenizer=components.tokenizer, text_encoder=components.text_encoder, vae=vae,
                             transformer=transformer, scheduler=make_scheduler(SCHEDULER_CONFIG, 1))
    pipe.set_progress_bar_config(disable=True)
    if mode == "model_cpu_offload_and_qfloat8":
        # predict_v2v.py loads the transformer as float8 and casts it straight back to bf16 (the weights
        # stay bf16, spec §1), wraps every layer's forward with a cast, and offloads whole models.
        code.convert_weight_dtype_wrapper(transformer, dtype)
        if device.type == "cuda":
            pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    return pipe


# -- timing ------------------------------------------------------------------------------------------


@dataclass
class ForwardRecord:
    """One transformer forward: its input geometry and its start/end marks."""

    batch: int
    latent_frames: int
    latent_height: int
    latent_width: int
    text_tokens: int
    start: Any
    end: Any = None


class ForwardTimer:
    """Times every forward of a transformer (CUDA events on a GPU, so no extra synchronisation)."""

    def __init__(self, transformer: torch.nn.Module, device: torch.device) -> None:
        self.device = device
        self.records: List[ForwardRecord] = []
        self._handles = [transformer.register_forward_pre_hook(self._before, with_kwargs=True),
                         transformer.register_forward_hook(self._after)]

    def _mark(self) -> Any:
        if self.device.type != "cuda":
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _before(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        text = kwargs["encoder_hidden_states"] if "encoder_hidden_states" in kwargs else args[1]
        b, f, _, h, w = hidden.shape
        self.records.append(ForwardRecord(b, f, h, w, text.shape[1], self._mark()))

    def _after(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        self.records[-1].end = self._mark()

    def seconds(self, record: ForwardRecord) -> float:
        if self.device.type == "cuda":
            return record.start.elapsed_time(record.end) / 1000.0
        return record.end - record.start

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


@dataclass
class Timing:
    prepare_s: float
    step_s: float
    decode_s: float
    peak_vram_gib: Optional[float]

    @property
    def pass1_s(self) -> float:
        return self.prepare_s + PROJECTED_STEPS * self.step_s + self.decode_s


def timed_run(run: Callable[[Callable[[], None]], torch.Tensor], device: torch.device
              ) -> Tuple[Timing, torch.Tensor]:
    """Run a pipeline call that calls ``tick()`` after every step; split its time into phases.

    With a single step the preparation cannot be told apart and is counted in the step. Returns the
    timing and the call's frames.
    """
    marks: List[float] = []

    def tick() -> None:
        sync(device)
        marks.append(time.perf_counter())

    began = time.perf_counter()
    frames = run(tick)
    sync(device)
    ended = time.perf_counter()
    per_step = statistics.median(b - a for a, b in zip(marks, marks[1:])) if len(marks) > 1 else marks[0] - began
    return Timing(prepare_s=marks[0] - began - per_step, step_s=per_step, decode_s=ended - marks[-1],
                  peak_vram_gib=peak_memory_gib(device)), frames


# -- inputs and the two calls ------------------------------------------------------------------------


@dataclass
class Inputs:
    """What both pipelines get: video and mask (1 remove, 0 keep) in [0, 1], and the start noise, on the CPU."""

    video: torch.Tensor
    mask: torch.Tensor
    latents: torch.Tensor


def make_inputs(profile: Profile, frames: int) -> Inputs:
    from void_server.modelspace import latent_frames

    g = torch.Generator().manual_seed(0)
    video = torch.rand(1, 3, frames, profile.height, profile.width, generator=g)
    mask = (torch.rand(1, 1, frames, profile.height, profile.width, generator=g) > 0.8).float()
    latents = torch.randn(1, latent_frames(frames), profile.transformer["out_channels"], profile.height // 8,
                          profile.width // 8, generator=g)
    return Inputs(video, mask, latents)


def run_ours(pipe, inputs: Inputs, profile: Profile, steps: int, tick: Callable[[], None]) -> torch.Tensor:
    """Our Pass 1; the conditioning-video noise from a generator seeded with ``NOISE_SEED``. (T, H, W, 3)."""
    return pipe(inputs.video, inputs.mask, PROMPT, num_inference_steps=steps,
                generator=torch.Generator().manual_seed(NOISE_SEED), latents=inputs.latents,
                window_frames=profile.window_frames, callback=lambda done, total: tick())


def run_reference(pipe, inputs: Inputs, profile: Profile, steps: int, tick: Callable[[], None]) -> torch.Tensor:
    """The call ``predict_v2v.py`` makes for Pass 1, with our start latents instead of its generator's, and
    torch's global generator seeded with ``NOISE_SEED`` so its conditioning-video noise is ours. (T, H, W, 3)."""
    torch.manual_seed(NOISE_SEED)
    video = call_reference(pipe, PROMPT, inputs.video, inputs.mask, inputs.latents,
                           window_frames=profile.window_frames, steps=steps, guidance=1.0, negative_prompt="",
                           trimask=True, max_sequence_length=profile.transformer["max_text_seq_length"],
                           on_step_end=tick)
    return video[0].permute(1, 2, 3, 0).float()


# -- FLOPs and utilisation ---------------------------------------------------------------------------


def linear_weights_by_tokens(transformer: torch.nn.Module) -> Dict[str, int]:
    """Weight counts of the transformer's Linear layers, keyed by the tokens each one is applied to."""
    counts = {"joint": 0, "video": 0, "text": 0, "per_sample": 0}
    for name, module in transformer.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if name.startswith("patch_embed.text_proj"):
            stream = "text"
        elif name.startswith("patch_embed") or name == "proj_out":
            stream = "video"
        elif name.startswith(("time_embedding", "norm")) or ".norm" in name:
            stream = "per_sample"  # timestep MLP and AdaLN modulation: one row per sample
        else:
            stream = "joint"  # attention projections and feed-forwards over [text ; video]
        counts[stream] += module.weight.numel()
    return counts


def video_tokens(config: Any, record: ForwardRecord) -> int:
    p, p_t = config["patch_size"], config["patch_size_t"] or 1
    return -(-record.latent_frames // p_t) * (record.latent_height // p) * (record.latent_width // p)


def forward_flops(weights: Dict[str, int], config: Dict[str, Any], record: ForwardRecord) -> float:
    """Analytic FLOPs of one forward (formula in the module docstring)."""
    s_video, s_text = video_tokens(config, record), record.text_tokens
    seq = s_video + s_text
    linear = 2 * (weights["joint"] * seq + weights["video"] * s_video + weights["text"] * s_text
                  + weights["per_sample"])
    attention = 4 * config["num_layers"] * config["num_attention_heads"] * config["attention_head_dim"] * seq ** 2
    return float(record.batch * (linear + attention))


def utilisation(timer: ForwardTimer, weights: Dict[str, int], config: Dict[str, Any], windows: int,
                peak_tflops: Optional[float]) -> Dict[str, Any]:
    """Achieved TFLOP/s per window size and over all forwards after the first step (which warms up)."""
    def fraction(tflops: float) -> Optional[float]:
        return round(tflops / peak_tflops, 3) if peak_tflops else None

    groups: Dict[Tuple[int, int, int, int, int], List[ForwardRecord]] = {}
    for record in timer.records:
        key = (record.batch, record.latent_frames, record.latent_height, record.latent_width, record.text_tokens)
        groups.setdefault(key, []).append(record)
    per_window = []
    for records in groups.values():
        seconds = statistics.median(timer.seconds(r) for r in records)
        flops = forward_flops(weights, config, records[0])
        per_window.append({"batch": records[0].batch, "latent_frames": records[0].latent_frames,
                           "tokens": video_tokens(config, records[0]) + records[0].text_tokens,
                           "forwards": len(records), "gflop": significant(flops / 1e9),
                           "median_ms": significant(seconds * 1e3), "tflops": significant(flops / seconds / 1e12),
                           "peak_fraction": fraction(flops / seconds / 1e12)})
    steady = timer.records[windows:] or timer.records
    total_flops = sum(forward_flops(weights, config, r) for r in steady)
    total_s = sum(timer.seconds(r) for r in steady)
    tflops = total_flops / total_s / 1e12
    return {"tflops": significant(tflops), "peak_fraction": fraction(tflops), "peak_tflops": peak_tflops,
            "windows": per_window}


# -- measurements ------------------------------------------------------------------------------------


@dataclass
class Settings:
    """What every measurement of one benchmark run shares."""

    profile: Profile
    device: torch.device
    dtype: torch.dtype
    steps: int
    tokenizer_dir: str
    peak_tflops: Optional[float]
    frames: List[int] = field(default_factory=list)
    outputs: Dict[int, torch.Tensor] = field(default_factory=dict)
    """Our ``full`` mode's frames per clip length, which every other run is compared with."""


def bare_forwards(pipe, settings: Settings, frames: int) -> float:
    """Seconds for the bare transformer forwards of one step (one per window), no pipeline around them."""
    from void_server.engines.void.pipeline import WINDOW_STRIDE_FRAMES, temporal_windows
    from void_server.modelspace import latent_frames

    profile, device = settings.profile, pipe._execution_device
    cfg = profile.transformer
    text = torch.zeros(1, cfg["max_text_seq_length"], cfg["text_embed_dim"], device=device, dtype=settings.dtype)
    t = torch.tensor([999], device=device)
    total = 0.0
    for start, end in temporal_windows(latent_frames(frames), latent_frames(profile.window_frames),
                                       WINDOW_STRIDE_FRAMES // 4):
        x = torch.randn(1, end - start, cfg["in_channels"], profile.height // 8, profile.width // 8, device=device,
                        dtype=settings.dtype)
        rope = pipe.rotary_embeddings(end - start, profile.height, profile.width, device)
        with torch.no_grad():
            pipe.transformer(hidden_states=x, encoder_hidden_states=text, timestep=t, image_rotary_emb=rope)
            sync(device)
            began = time.perf_counter()
            pipe.transformer(hidden_states=x, encoder_hidden_states=text, timestep=t, image_rotary_emb=rope)
            sync(device)
        total += time.perf_counter() - began
    return total


def window_count(settings: Settings, frames: int) -> int:
    from void_server.engines.void.pipeline import WINDOW_STRIDE_FRAMES, temporal_windows
    from void_server.modelspace import latent_frames

    return len(temporal_windows(latent_frames(frames), latent_frames(settings.profile.window_frames),
                                WINDOW_STRIDE_FRAMES // 4))


def measure_frames(pipe, run: Callable, settings: Settings, frames: int) -> Tuple[Dict[str, Any], torch.Tensor]:
    """One timed Pass-1 run of ``pipe`` on ``frames`` frames, with the utilisation of its transformer;
    and its output frames."""
    inputs = make_inputs(settings.profile, frames)
    weights = linear_weights_by_tokens(pipe.transformer)
    reset_memory(settings.device)
    timer = ForwardTimer(pipe.transformer, settings.device)
    try:
        timing, output = timed_run(lambda tick: run(pipe, inputs, settings.profile, settings.steps, tick),
                                   settings.device)
    finally:
        timer.close()
    return {"frames": frames, "prepare_s": round(timing.prepare_s, 3), "step_s": round(timing.step_s, 4),
            "decode_s": round(timing.decode_s, 3), "pass1_50_steps_s": round(timing.pass1_s, 2),
            "peak_vram_gib": timing.peak_vram_gib,
            "transformer": utilisation(timer, weights, settings.profile.transformer,
                                       window_count(settings, frames), settings.peak_tflops)}, output.cpu()


def warm_up(pipe, run: Callable, settings: Settings) -> None:
    """One short one-step run, so one-off start-up costs (first kernel launches, allocator growth,
    the offload hooks' first moves) stay out of the figures, on both sides alike."""
    run(pipe, make_inputs(settings.profile, WARM_UP_FRAMES), settings.profile, 1, lambda: None)


def measure_clips(pipe, run: Callable, settings: Settings, label: Dict[str, Any],
                  extra: Optional[Callable[[int, Dict[str, Any]], None]] = None) -> List[Dict[str, Any]]:
    """Warm ``pipe`` up, then measure it on every clip length; ``extra(frames, row)`` may add figures.

    Our ``full`` mode's frames are kept in ``settings.outputs``; every other run's frames are compared
    with them (``max_abs_vs_ours_full``): the same inputs and the same noise give the same frames when
    the arithmetic is the same.
    """
    warm_up(pipe, run, settings)
    rows = []
    for frames in settings.frames:
        row = dict(label)
        try:
            figures, output = measure_frames(pipe, run, settings, frames)
            row.update(figures)
            if label == {"pipeline": "ours", "mode": "full"}:
                settings.outputs[frames] = output
            elif frames in settings.outputs:
                row["max_abs_vs_ours_full"] = float((output - settings.outputs[frames]).abs().max())
            if extra is not None:
                extra(frames, row)
        except torch.OutOfMemoryError:
            row.update(frames=frames, error="out of GPU memory")
        print(json.dumps(row), flush=True)
        rows.append(row)
    pipe.remove_all_hooks()  # the caller frees the GPU once the pipeline is out of scope
    return rows


def measure_ours(mode: str, settings: Settings) -> List[Dict[str, Any]]:
    offloaded = mode not in ("full", "fp8")
    components = build_components(settings.profile, settings.dtype, model_home(offloaded, settings.device),
                                  settings.tokenizer_dir)
    pipe = build_ours(mode, settings.device, components)
    del components

    def over_bare_forwards(frames: int, row: Dict[str, Any]) -> None:
        if not offloaded:  # the bare forwards need the transformer resident
            row["step_over_bare_forwards"] = round(row["step_s"] / bare_forwards(pipe, settings, frames), 3)

    return measure_clips(pipe, run_ours, settings, {"pipeline": "ours", "mode": mode}, over_bare_forwards)


def measure_reference(code: ReferenceCode, mode: str, settings: Settings) -> List[Dict[str, Any]]:
    offloaded = mode == "model_cpu_offload_and_qfloat8"
    components = build_components(settings.profile, settings.dtype, model_home(offloaded, settings.device),
                                  settings.tokenizer_dir)
    pipe = build_reference(code, mode, settings.device, components, settings.profile)
    del components
    label: Dict[str, Any] = {"pipeline": "reference", "mode": mode}
    if offloaded and settings.device.type != "cuda":
        label["note"] = "model offload needs CUDA: only the forward cast wrapper ran"
    return measure_clips(pipe, run_reference, settings, label)


def compare(ours: List[Dict[str, Any]], reference: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Speed-ups (reference seconds / ours) for every pair of modes measured on the same frame count."""
    pairs = []
    for mine in ours:
        for theirs in reference:
            if mine["frames"] != theirs["frames"] or "error" in mine or "error" in theirs:
                continue
            pairs.append({"frames": mine["frames"], "ours": mine["mode"], "reference": theirs["mode"],
                          "step_s": [mine["step_s"], theirs["step_s"]],
                          "step_speedup": round(theirs["step_s"] / mine["step_s"], 2),
                          "pass1_s": [mine["pass1_50_steps_s"], theirs["pass1_50_steps_s"]],
                          "pass1_speedup": round(theirs["pass1_50_steps_s"] / mine["pass1_50_steps_s"], 2),
                          "max_abs_vs_ours_full": theirs.get("max_abs_vs_ours_full")})
    return pairs


# -- report ------------------------------------------------------------------------------------------


def print_comparison(pairs: List[Dict[str, Any]]) -> None:
    print(f"\nours vs the reference (speed-up = reference seconds / ours; aim >= 1.5 against "
          f"{REFERENCE_MODES[0]}; Pass 1 projected to {PROJECTED_STEPS} steps)")
    print(f"{'frames':>6}  {'ours':<18} {'reference':<30} {'s/step ours':>11} {'ref':>9} {'speed-up':>8}"
          f" {'Pass-1 s ours':>13} {'ref':>9} {'speed-up':>8} {'max |Δ| frames':>14}")
    for p in pairs:
        delta = p["max_abs_vs_ours_full"]
        print(f"{p['frames']:>6}  {p['ours']:<18} {p['reference']:<30} {p['step_s'][0]:>11.3f} {p['step_s'][1]:>9.3f}"
              f" {p['step_speedup']:>8.2f} {p['pass1_s'][0]:>13.1f} {p['pass1_s'][1]:>9.1f} {p['pass1_speedup']:>8.2f}"
              f" {'-' if delta is None else format(delta, '.3g'):>14}")


def print_utilisation(rows: List[Dict[str, Any]]) -> None:
    print("\ntransformer utilisation (analytic FLOPs / time per forward; aim >= 40 % of the dense bf16 peak)")
    print(f"{'pipeline':<9} {'mode':<30} {'frames':>6} {'latents':>7} {'tokens':>6} {'GFLOP':>8} {'ms':>9}"
          f" {'TFLOP/s':>8} {'% peak':>6}")
    for row in rows:
        if "error" in row:
            continue
        for w in row["transformer"]["windows"]:
            share = f"{100 * w['peak_fraction']:.1f}" if w["peak_fraction"] is not None else "-"
            print(f"{row['pipeline']:<9} {row['mode']:<30} {row['frames']:>6} {w['latent_frames']:>7} {w['tokens']:>6}"
                  f" {w['gflop']:>8.4g} {w['median_ms']:>9.4g} {w['tflops']:>8.4g} {share:>6}")


# -- command line ------------------------------------------------------------------------------------


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", help="clip lengths, 4k+1 with k odd (default 85 197)")
    parser.add_argument("--modes", nargs="+", default=list(MEMORY_MODES), choices=MEMORY_MODES,
                        help="our memory modes to measure")
    parser.add_argument("--steps", type=int, help="denoising steps actually run per measurement (default 3)")
    parser.add_argument("--reference", metavar="DIR", help="a checkout of Netflix/void-model to run side by side")
    parser.add_argument("--reference-modes", nargs="+", default=list(REFERENCE_MODES), choices=REFERENCE_MODES)
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, overriding the table")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="a toy-sized model: checks the harness, measures nothing")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.device == "cpu" and not args.tiny:
        parser.error("--device cpu runs only the --tiny model (the full-size one needs a GPU)")
    for frames in args.frames or ():
        if frames % 8 != 5:  # 4k + 1 with k odd: an even number of latent frames (spec §3.4)
            parser.error(f"--frames {frames}: clips must have 4k+1 frames with k odd (21, 37, 85, 93, ..., 197)")
    return args


def make_settings(args: argparse.Namespace, tokenizer_dir: str) -> Settings:
    from void_server.engines.void.memory import compute_dtype

    profile = TINY if args.tiny else FULL
    device = torch.device(args.device)
    peak = args.peak_tflops or (dense_bf16_peak(device_name(device)) if device.type == "cuda" else None)
    return Settings(profile, device, compute_dtype(device), args.steps or profile.steps, tokenizer_dir, peak,
                    list(args.frames or profile.frames))


def our_modes(args: argparse.Namespace) -> List[str]:
    """The requested modes; on a CPU only ``full`` (the others are GPU memory modes)."""
    if args.device == "cpu" and args.modes != ["full"]:
        print("bench_void_gpu: on the CPU every memory mode is 'full'; measuring that one only.")
        return ["full"]
    return list(args.modes)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_void_gpu: no CUDA GPU on this machine; nothing measured (--device cpu --tiny checks the "
              "harness).")
        return
    code = import_reference(args.reference) if args.reference else None
    from void_server.engines.void.testing import write_tokenizer

    ours: List[Dict[str, Any]] = []
    reference: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer(tmp)
        settings = make_settings(args, tmp)
        for mode in our_modes(args):
            ours += measure_ours(mode, settings)
            reset_memory(settings.device)
        if code is not None:
            for mode in args.reference_modes:
                reference += measure_reference(code, mode, settings)
                reset_memory(settings.device)
    pairs = compare(ours, reference)
    if pairs:
        print_comparison(pairs)
    print_utilisation(ours + reference)
    report = {"device": device_name(settings.device), "profile": settings.profile.name, "torch": torch.__version__,
              "host": platform.node(), "date": time.strftime("%Y-%m-%d"), "steps_run": settings.steps,
              "peak_tflops": settings.peak_tflops,
              "reference_commit": code.commit if code else None, "results": ours + reference, "comparison": pairs}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
