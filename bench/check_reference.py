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

from reference_code import ReferenceCode, call_reference, import_reference, rehost
from void_server.engines.void import equivalence as eq
from void_server.engines.void.testing import make_tiny_void_model

TOLERANCE = {"fp32": 1.5e-6, "bf16": 0.0}
"""Largest max |Δ| accepted per dtype, over every compared quantity. fp32: the two sides run the same
kernels in a different order in a few places (the reference's VAE and transformer classes are its own),
so a few ulps; bf16: bit for bit."""
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


def print_table(results: List[Dict[str, Any]]) -> None:
    names = list(results[0]["max_abs"])
    print(f"{'setting':<16} {'windows':>7} {'calls':>5} " + " ".join(f"{n:>15}" for n in names) + "  ok")
    for r in results:
        print(f"{r['setting']:<16} {r['windows']:>7} {r['calls']:>5} "
              + " ".join(f"{r['max_abs'][n]:>15.3g}" for n in names) + ("  yes" if r["ok"] else "  NO"))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", metavar="DIR", required=True, help="a checkout of Netflix/void-model")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[s.name for s in eq.SETTINGS],
                        help="run only these settings")
    parser.add_argument("--write-golden", metavar="DIR", type=Path,
                        help="also store the reference's side of every setting as DIR/<setting>.npz")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    code = import_reference(args.reference)
    torch.set_num_threads(1)  # the toy models are faster on one thread, and reductions keep one order
    settings = [s for s in eq.SETTINGS if not args.only or s.name in args.only]
    results = check(code, settings, args.write_golden)
    print(f"reference {code.commit or '(not a git checkout)'} at {code.root}; torch {torch.__version__}; "
          f"{platform.machine()} {platform.processor() or ''}".rstrip())
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps({"reference_commit": code.commit, "torch": torch.__version__,
                                         "results": results}, indent=1))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
