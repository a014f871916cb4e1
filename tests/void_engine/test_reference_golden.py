"""Our pipeline against the reference release's own outputs on the tiny model (golden data, no checkout needed).

``golden/<setting>.npz`` holds what the reference's ``CogVideoXFunInpaintPipeline``
(Netflix/void-model, the commit named in each file's metadata) computed for
each setting of ``equivalence.SETTINGS`` on the tiny model: the inputs of its
first transformer call, the output of its last, the final latents and three
decoded frames. ``bench/check_reference.py --reference DIR --write-golden
tests/void_engine/golden`` made them (see golden/README.md). Tolerances: bf16
bit for bit; fp32 1.5e-6 (the decoded frames differ by about 1e-6 because the
reference decodes with its own VAE class; everything before the decode is
bit for bit, but a different CPU may sum in another order).

With ``VOID_REFERENCE`` naming a checkout of the reference, the whole
side-by-side check also runs here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from void_server.engines.void import equivalence as eq

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]
TOLERANCE = {"fp32": 1.5e-6, "bf16": 0.0}


def _close(name: str, ours: torch.Tensor, theirs: np.ndarray, tolerance: float) -> None:
    ours = ours.float().numpy()
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape}, the reference's {theirs.shape}"
    worst = float(np.abs(ours - theirs).max())
    assert worst <= tolerance, f"{name}: max |Δ| {worst:.3g} against the reference (tolerance {tolerance})"


@pytest.mark.parametrize("setting", eq.SETTINGS, ids=[s.name for s in eq.SETTINGS])
def test_pipeline_reproduces_the_reference_outputs(tiny_model, setting):
    with np.load(GOLDEN / f"{setting.name}.npz") as data:
        golden = {k: data[k] for k in data.files}
    meta = json.loads(str(golden["meta"]))
    assert meta["setting"] == setting.__dict__, "the setting changed since the golden data was made: regenerate it"
    inputs = eq.make_inputs(setting)
    assert inputs.digest() == meta["inputs_sha256"], "the inputs are not the ones the golden data was made from"
    model_dir, pass1, pass2 = tiny_model
    pipe = eq.our_pipeline(model_dir, pass1 if setting.pass_number == 1 else pass2, setting)
    assert eq.weights_digest(pipe.transformer, pipe.vae, pipe.text_encoder) == meta["weights_sha256"], (
        "the tiny model's weights differ from the ones the golden data was made with (another torch?): "
        "regenerate it with bench/check_reference.py --write-golden")

    with torch.no_grad():
        ours = eq.run_ours(pipe, setting, inputs)

    tolerance = TOLERANCE[setting.dtype]
    assert len(ours.calls) == setting.steps * setting.windows
    first = ours.calls[0]
    for key in ("hidden", "text", "timestep", "rope_cos", "rope_sin"):
        _close(f"first transformer call, {key}", first[key], golden[f"first_{key}"], tolerance)
    _close("last transformer output", ours.calls[-1]["output"], golden["last_output"], tolerance)
    _close("final latents", ours.final_latents, golden["final_latents"], tolerance)
    _close("decoded frames", ours.frames[meta["frames_kept"]], golden["frames"], TOLERANCE[setting.dtype])


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VOID_REFERENCE"), reason="VOID_REFERENCE names no checkout of the reference")
def test_side_by_side_with_a_reference_checkout(tmp_path):
    """bench/check_reference.py against the checkout VOID_REFERENCE names: every setting within tolerance."""
    out = tmp_path / "check.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "check_reference.py"),
                           "--reference", os.environ["VOID_REFERENCE"], "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert [r["setting"] for r in results] == [s.name for s in eq.SETTINGS]
    assert all(r["ok"] for r in results)
