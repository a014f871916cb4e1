"""Our VOID pipeline against the reference release's own, on the same tiny random weights (CPU).

For every setting of ``equivalence.SETTINGS`` (fp32: one, two and three
windows, classifier-free guidance, Pass 2; bf16: one, two and three windows)
both pipelines run on the tiny model of ``make_tiny_void_model`` with the same
video, model mask, prompt, start latents and conditioning-video noise (ours
from a generator seeded with the setting's seed, the reference's from torch's
global generator seeded the same way, so the two draws are equal). Both
transformers' forwards are hooked, and the script prints, per setting, the
max |Δ| of what reaches the transformer (noisy latents, mask latents, video
latents, text states, timestep, RoPE), of what it returns, of the final
latents and of the decoded frames.

    python bench/check_reference.py --reference ../void-model [--only NAME ...]
        [--write-golden tests/void_engine/golden] [--json FILE]

``--reference`` names a checkout of Netflix/void-model (never part of this
repository; its ``videox_fun`` needs ``einops`` besides what the server has).
Exit status 1 when a setting is outside its tolerance (``TOLERANCE``).
``--write-golden DIR`` also stores the reference's side of every setting as
``DIR/<setting>.npz`` (final latents, a few decoded frames, the inputs of the
first transformer call and the output of the last), which ``tests/void_engine/test_reference_golden.py``
checks our pipeline against without a checkout.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from reference_code import ReferenceCode, call_reference, checkout_commit, import_reference, rehost
from void_server.engines.void import equivalence as eq
from void_server.engines.void.testing import make_tiny_void_model
from void_server.engines.void.warped_noise import NoiseWarper

TOLERANCE = {"fp32": 1.5e-6, "bf16": 0.0}
"""Largest max |Δ| accepted per dtype, over every compared quantity. fp32: the two sides run the same
kernels in a different order in a few places (the reference's VAE and transformer classes are its own),
so a few ulps; bf16: bit for bit."""
NOISE_TOLERANCE = 0.0
"""Largest max |Δ| of the noise warping: the same arithmetic in the same order, so bit for bit."""
GOLDEN_FRAMES = (0, 1, -1)
"""Decoded frames the golden files keep (frame 0 is decoded alone, 1 starts the chunked decode)."""
GOLDEN_FIRST_CALL = ("hidden", "text", "timestep", "rope_cos", "rope_sin")
"""What the golden files keep of the first transformer call (of the last: its output)."""


def reference_pipeline(code: ReferenceCode, ours: Any, setting: eq.Setting) -> Any:
    """The reference pipeline around our pipeline's very modules (tensors shared, classes the reference's)."""
    transformer = rehost(ours.transformer, code.transformer_cls,
                         dict(ours.transformer.config, add_noise_in_inpaint_model=ours.add_noise_in_inpaint_model))
    vae = rehost(ours.vae, code.vae_cls, dict(ours.vae.config))
    pipe = code.pipeline_cls(tokenizer=ours.tokenizer, text_encoder=ours.text_encoder, vae=vae,
                             transformer=transformer, scheduler=type(ours.scheduler).from_config(ours.scheduler.config))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_reference(pipe: Any, setting: eq.Setting, inputs: eq.Inputs) -> eq.Capture:
    capture = eq.Capture()
    handles = eq.capture_transformer(pipe.transformer, capture, inpaint_kwarg=True)
    eq.capture_decode(pipe, capture)
    torch.manual_seed(setting.seed)  # the conditioning-video noise: torch.randn_like on the global generator
    try:
        with torch.no_grad():
            video = call_reference(pipe, eq.PROMPT, inputs.video, inputs.mask, inputs.latents,
                                   window_frames=85, steps=setting.steps, guidance=setting.guidance,
                                   negative_prompt=setting.negative_prompt, trimask=setting.pass_number == 1,
                                   max_sequence_length=pipe.transformer.config.max_text_seq_length)
    finally:
        for handle in handles:
            handle.remove()
    capture.frames = video[0].permute(1, 2, 3, 0).float()
    return capture


def golden_record(setting: eq.Setting, inputs: eq.Inputs, theirs: eq.Capture, weights: str,
                  commit: Optional[str]) -> Dict[str, np.ndarray]:
    """The reference's side of one setting, small enough to commit."""
    meta = {"setting": setting.__dict__, "reference_commit": commit, "inputs_sha256": inputs.digest(),
            "weights_sha256": weights, "torch": torch.__version__, "frames_kept": list(GOLDEN_FRAMES),
            "made": datetime.date.today().isoformat(), "by": "bench/check_reference.py --write-golden"}
    record = {"meta": np.array(json.dumps(meta)),
              "final_latents": theirs.final_latents.numpy(),
              "frames": theirs.frames[list(GOLDEN_FRAMES)].numpy()}
    for label, call, keys in (("first", theirs.calls[0], GOLDEN_FIRST_CALL), ("last", theirs.calls[-1], ("output",))):
        for key in keys:
            record[f"{label}_{key}"] = call[key].numpy()
    return record


def check(code: ReferenceCode, settings: List[eq.Setting], golden: Optional[Path]) -> List[Dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        model_dir, pass1, pass2 = make_tiny_void_model(scratch)
        for setting in settings:
            ours_pipe = eq.our_pipeline(model_dir, pass1 if setting.pass_number == 1 else pass2, setting)
            theirs_pipe = reference_pipeline(code, ours_pipe, setting)
            inputs = eq.make_inputs(setting)
            with torch.no_grad():
                ours = eq.run_ours(ours_pipe, setting, inputs)
            theirs = run_reference(theirs_pipe, setting, inputs)
            deltas = eq.differences(ours, theirs)
            worst = max(deltas.values())
            results.append({"setting": setting.name, "dtype": setting.dtype, "frames": setting.frames,
                            "windows": setting.windows, "guidance": setting.guidance, "pass": setting.pass_number,
                            "calls": len(ours.calls), "max_abs": deltas,
                            "ok": worst <= TOLERANCE[setting.dtype]})
            if golden is not None:
                weights = eq.weights_digest(ours_pipe.transformer, ours_pipe.vae, ours_pipe.text_encoder)
                golden.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(golden / f"{setting.name}.npz",
                                    **golden_record(setting, inputs, theirs, weights, code.commit))
    return results


# -- Pass 2's noise warping ---------------------------------------------------------------------------

NOISE_CHANNELS, NOISE_SEED = 16, 3
NOISE_FLOW_SIZE = (12, 16)
"""Flow grid of the noise-warping check; the field is 8x that (96x128), the reduced noise 3x4."""
NOISE_FIELD_FRAMES_KEPT = (1, 3, 6)
"""Frames whose whole field (first channel and weights) the golden file keeps; of every frame it keeps
the reduced noise."""


def noise_flows() -> np.ndarray:
    """Six (2, 12, 16) forward flows, in flow-grid pixels, that exercise every branch of the warp:
    a pan whose field shifts are exact .5 ties, a zoom out, a disc moving over a still background,
    a pan leaving the frame, a zoom in, and a smooth random flow."""
    h, w = NOISE_FLOW_SIZE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    flows = []
    flows.append(np.stack([np.full((h, w), 0.0625), np.full((h, w), -0.1875)]))  # 0.5 and -1.5 field px
    flows.append(np.stack([(xs - cx) * 0.1 + 1.3, (ys - cy) * 0.1]))
    disc = np.hypot(ys - 6.0, xs - 5.0) < 3.5
    flows.append(np.stack([np.where(disc, 2.7, 0.0), np.where(disc, 0.4, 0.0)]))
    flows.append(np.stack([np.full((h, w), -3.0), np.full((h, w), 0.3)]))
    flows.append(np.stack([(xs - cx) * -0.08, (ys - cy) * -0.08 - 0.7]))
    coarse = np.random.default_rng(NOISE_SEED).normal(0.0, 1.5, size=(2, 3, 4)).astype(np.float32)
    flows.append(torch.nn.functional.interpolate(torch.from_numpy(coarse)[None], size=(h, w), mode="bicubic",
                                                 align_corners=False)[0].numpy())
    return np.stack(flows).astype(np.float32)


def import_noise_warp(directory: str) -> Any:
    """``noise_warp`` from a checkout of the Go-with-the-Flow code the reference imports (RyannDaGreat/
    CommonSource, via ``rp.git_import``); it needs the ``rp`` package."""
    root = Path(directory).resolve()
    if not (root / "noise_warp.py").is_file():
        raise SystemExit(f"--noise-warp {directory}: no noise_warp.py there; give the folder of a checkout of "
                         "https://github.com/RyannDaGreat/CommonSource")
    sys.path.append(str(root))
    try:
        import noise_warp
    except ModuleNotFoundError as exc:
        raise SystemExit(f"noise_warp.py needs the package {exc.name!r}: pip install {exc.name} "
                         "(rp, fire and einops)") from exc
    return noise_warp


def reference_noise(nw: Any, flows: np.ndarray) -> Dict[str, np.ndarray]:
    """The reference's warp of the fixed flows: ``NoiseWarper`` as ``get_noise_from_video`` sets it up,
    and its per-frame readout reduced as ``downscale_noise`` there does (area / 32, x 32)."""
    import rp

    h, w = flows.shape[-2:]
    torch.manual_seed(NOISE_SEED)
    warper = nw.NoiseWarper(c=NOISE_CHANNELS, h=8 * h, w=8 * w, device="cpu")
    reduced, fields, weights = [], [], []

    def keep(frame: int) -> None:
        reduced.append((rp.torch_resize_image(warper.noise, 1 / 32, interp="area") * 32).numpy())
        if frame in NOISE_FIELD_FRAMES_KEPT:
            fields.append(warper._state[3].numpy().copy())
            weights.append(warper._state[2].numpy().copy())

    keep(0)
    for i, (dx, dy) in enumerate(flows, start=1):
        warper(torch.from_numpy(dx.copy()), torch.from_numpy(dy.copy()))
        keep(i)
    return {"reduced": np.stack(reduced), "field_first_channel": np.stack(fields), "field_weight": np.stack(weights)}


def our_noise(flows: np.ndarray) -> Dict[str, np.ndarray]:
    """The same with our ``NoiseWarper`` and a generator seeded alike."""
    h, w = flows.shape[-2:]
    warper = NoiseWarper(NOISE_CHANNELS, 8 * h, 8 * w, torch.Generator().manual_seed(NOISE_SEED),
                         torch.device("cpu"))
    reduced, fields, weights = [], [], []
    for frame in range(len(flows) + 1):
        if frame:
            warper.step(torch.from_numpy(flows[frame - 1]))
        reduced.append(warper.reduced(32).numpy())
        if frame in NOISE_FIELD_FRAMES_KEPT:
            fields.append(warper.noise[0].numpy().copy())
            weights.append(warper.weight.numpy().copy())
    return {"reduced": np.stack(reduced), "field_first_channel": np.stack(fields), "field_weight": np.stack(weights)}


def check_noise(nw: Any, source: Optional[str], golden: Optional[Path]) -> Dict[str, Any]:
    flows = noise_flows()
    theirs = reference_noise(nw, flows)
    ours = our_noise(flows)
    deltas = {k: float(np.abs(ours[k] - theirs[k]).max()) for k in theirs}
    if golden is not None:
        meta = {"noise_warp_commit": source, "seed": NOISE_SEED, "channels": NOISE_CHANNELS,
                "field_frames_kept": list(NOISE_FIELD_FRAMES_KEPT), "torch": torch.__version__,
                "made": datetime.date.today().isoformat(), "by": "bench/check_reference.py --write-golden"}
        golden.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(golden / "noise_warp.npz", meta=np.array(json.dumps(meta)), flows=flows, **theirs)
    return {"setting": "noise-warp", "max_abs": deltas, "ok": max(deltas.values()) <= NOISE_TOLERANCE}


def print_table(results: List[Dict[str, Any]]) -> None:
    names = list(results[0]["max_abs"])
    print(f"{'setting':<16} {'windows':>7} {'calls':>5} " + " ".join(f"{n:>15}" for n in names) + "  ok")
    for r in results:
        print(f"{r['setting']:<16} {r['windows']:>7} {r['calls']:>5} "
              + " ".join(f"{r['max_abs'][n]:>15.3g}" for n in names) + ("  yes" if r["ok"] else "  NO"))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", metavar="DIR", help="a checkout of Netflix/void-model")
    parser.add_argument("--noise-warp", metavar="DIR",
                        help="a checkout of RyannDaGreat/CommonSource (the reference's noise_warp.py)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[s.name for s in eq.SETTINGS],
                        help="run only these pipeline settings")
    parser.add_argument("--write-golden", metavar="DIR", type=Path,
                        help="also store the reference's side of every setting as DIR/<setting>.npz")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    if not args.reference and not args.noise_warp:
        parser.error("give --reference DIR, --noise-warp DIR or both")
    torch.set_num_threads(1)  # the toy models are faster on one thread, and reductions keep one order
    report: Dict[str, Any] = {"torch": torch.__version__, "machine": f"{platform.machine()} {platform.processor()}"}
    results: List[Dict[str, Any]] = []
    if args.reference:
        code = import_reference(args.reference)
        settings = [s for s in eq.SETTINGS if not args.only or s.name in args.only]
        results = check(code, settings, args.write_golden)
        report.update(reference_commit=code.commit, results=results)
        print(f"reference {code.commit or '(not a git checkout)'} at {code.root}; torch {torch.__version__}; "
              f"{platform.machine()} {platform.processor() or ''}".rstrip())
        print_table(results)
    if args.noise_warp:
        source = checkout_commit(Path(args.noise_warp))
        noise = check_noise(import_noise_warp(args.noise_warp), source, args.write_golden)
        report.update(noise_warp_commit=source, noise=noise)
        results.append(noise)
        print(f"\nnoise warping against noise_warp.py at {source or args.noise_warp} (16 channels, 96x128 field, "
              "6 flows):")
        print("  " + ", ".join(f"{k} max |Δ| {v:.3g}" for k, v in noise["max_abs"].items())
              + ("  ok" if noise["ok"] else "  NOT OK"))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
