"""Pass 2's flow-warped start noise: Gaussian statistics, motion following, shapes, determinism, RAFT loading."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from void_nuke.errors import VoidError
from void_server.engines.void.loader import ModelFilesError
from void_server.engines.void.pipeline import temporal_windows
from void_server.engines.void.warped_noise import NoiseWarper, RaftFlow, load_raft, warped_noise

CHANNELS, LATENT_H, LATENT_W, UPSCALE = 16, 6, 8, 32
FIELD = (LATENT_H * UPSCALE, LATENT_W * UPSCALE)
CPU = torch.device("cpu")
GOLDEN = Path(__file__).parent / "golden"


def _zoom_flow(rate: float, shift=(0.0, 0.0)) -> torch.Tensor:
    """A zoom about the centre plus a shift, in field pixels: rate > 0 spreads pixels apart
    (many pixels are pulled by the expand branch), rate < 0 packs them (many particles land together)."""
    ys, xs = torch.meshgrid(torch.arange(FIELD[0]).float(), torch.arange(FIELD[1]).float(), indexing="ij")
    return torch.stack([(xs - (FIELD[1] - 1) / 2) * rate + shift[0], (ys - (FIELD[0] - 1) / 2) * rate + shift[1]])


@pytest.mark.parametrize("rate, shift", [(0.05, (0.0, 0.0)), (-0.05, (0.0, 0.0)), (0.03, (7.3, -3.1))])
def test_warped_noise_stays_zero_mean_unit_variance(rate, shift):
    """Each reduced frame has N = 16 x 6 x 8 = 768 values. Were they i.i.d. N(0, 1), the frame mean
    would have sd 1/sqrt(N) = 0.036 and the frame variance sd sqrt(2/N) = 0.051; per frame we allow
    5 sd. Over the 20 frames we allow 3 sd of a single frame, which holds however strongly the frames
    are correlated in time. Duplicated values that were not regaussianised, or a shrink that averaged
    without the 1/sqrt(sum w^2) correction, push block variances far outside these bounds (to k or 1/k)."""
    warper = NoiseWarper(CHANNELS, FIELD[0], FIELD[1], torch.Generator().manual_seed(0), CPU)
    means, variances = [], []
    flow = _zoom_flow(rate, shift)
    for _ in range(20):
        warper.step(flow)
        frame = warper.reduced(UPSCALE)
        assert frame.shape == (CHANNELS, LATENT_H, LATENT_W)
        means.append(float(frame.mean()))
        variances.append(float(frame.var()))
    assert all(abs(m) < 5 * 0.036 for m in means)
    assert all(abs(v - 1) < 5 * 0.051 for v in variances)
    assert abs(sum(means) / 20) < 3 * 0.036
    assert abs(sum(variances) / 20 - 1) < 3 * 0.051
    # the field itself stays N(0, 1) sample by sample, and weights stay positive
    assert abs(float(warper.noise.var()) - 1) < 0.02 and abs(float(warper.noise.mean())) < 0.01
    assert float(warper.weight.min()) > 0


def test_noise_moves_with_the_flow():
    """A shift of exactly one latent pixel per frame moves the field by 32 pixels: every sample that
    shares its value with no other keeps it, one latent column further right; the revealed column is new."""
    warper = NoiseWarper(CHANNELS, FIELD[0], FIELD[1], torch.Generator().manual_seed(1), CPU)
    before_field = warper.noise.clone()
    before = warper.reduced(UPSCALE)
    warper.step(_zoom_flow(0.0, (float(UPSCALE), 0.0)))
    moved = warper.noise[:, :, UPSCALE:]
    kept = (moved == before_field[:, :, :-UPSCALE]).all(dim=0)
    # Samples that happen to share a first-channel value are regaussianised together (the reference
    # groups by value): a few in ten thousand here. Particles leaving at the right are reset in place and
    # merged, with a tiny weight, into the last column.
    assert float(kept[:, :-UPSCALE].float().mean()) > 0.998
    after = warper.reduced(UPSCALE)
    assert torch.corrcoef(torch.stack([after[:, :, 1:].flatten(), before[:, :, :-1].flatten()]))[0, 1] > 0.999
    assert not torch.allclose(after[:, :, :1], before[:, :, :1])  # the uncovered column is new noise


def test_noise_warping_is_the_references_bit_for_bit():
    """golden/noise_warp.npz: the reference's own NoiseWarper (noise_warp.py at the commit in its metadata,
    as make_warped_noise.py sets it up) on six fixed flows that exercise .5 ties, zooms, a moving disc and
    a pan leaving the frame, from torch's global generator seeded as ours. Ours runs the same operations
    in the same order (grid_sample's nearest pull, exact-value groups, index_add in pixel order, the
    reduction by area): it matched to the last bit when the data was made. The tolerance only allows
    another CPU to order the weights' mean differently; any difference in the algorithm (new-region
    weights, reset particles, the reduction) is orders of magnitude larger."""
    with np.load(GOLDEN / "noise_warp.npz") as data:
        golden = {k: data[k] for k in data.files}
    meta = json.loads(str(golden["meta"]))
    flows = torch.from_numpy(golden["flows"])
    warper = NoiseWarper(meta["channels"], 8 * flows.shape[-2], 8 * flows.shape[-1],
                         torch.Generator().manual_seed(meta["seed"]), CPU)
    reduced, fields, weights = [warper.reduced(32)], [], []
    for frame, flow in enumerate(flows, start=1):
        warper.step(flow)
        reduced.append(warper.reduced(32))
        if frame in meta["field_frames_kept"]:
            fields.append(warper.noise[0].clone())
            weights.append(warper.weight.clone())
    np.testing.assert_allclose(torch.stack(fields).numpy(), golden["field_first_channel"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(torch.stack(weights).numpy(), golden["field_weight"], rtol=1e-5, atol=0)
    np.testing.assert_allclose(torch.stack(reduced).numpy(), golden["reduced"], rtol=0, atol=1e-5)


def _shift_flow(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """A stand-in flow estimator: everything moves 1.5 flow pixels right and 0.5 down."""
    flow = torch.zeros(previous.shape[0], 2, *previous.shape[-2:])
    flow[:, 0], flow[:, 1] = 1.5, 0.5
    return flow


@pytest.mark.parametrize("latents, stride", [(4, 1), (6, 4), (24, 4)])
def test_one_noise_frame_per_latent_frame_for_any_length(latents, stride):
    video = torch.rand(4 * latents - 3, 3, LATENT_H * 8, LATENT_W * 8)
    noise = warped_noise(video, (latents, CHANNELS, LATENT_H, LATENT_W), _shift_flow,
                         torch.Generator().manual_seed(0), upscale=8, flow_stride=stride)
    assert noise.shape == (1, latents, CHANNELS, LATENT_H, LATENT_W)
    for start, end in temporal_windows(latents, 22, 4):  # every sampling window gets warped noise of its own
        window = noise[:, start:end]
        assert window.shape[1] == end - start and torch.isfinite(window).all()
    assert not torch.equal(noise[0, 0], noise[0, -1])


def test_same_seed_same_noise_other_seed_other_noise():
    video = torch.rand(13, 3, LATENT_H * 8, LATENT_W * 8)
    runs = [warped_noise(video, (4, CHANNELS, LATENT_H, LATENT_W), _shift_flow,
                         torch.Generator().manual_seed(seed), upscale=8) for seed in (3, 3, 4)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_frame_count_must_match_the_latents():
    with pytest.raises(ValueError, match="need 13"):
        warped_noise(torch.rand(12, 3, 48, 64), (4, CHANNELS, LATENT_H, LATENT_W), _shift_flow,
                     torch.Generator().manual_seed(0))


def test_raft_checkpoint_is_loaded_locally_and_recognised(tmp_path):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    flow_fn = load_raft(str(path), CPU)
    assert isinstance(flow_fn, RaftFlow)
    frames = torch.rand(2, 3, 24, 32)  # below RAFT's minimum: upscaled for it, flow returned at this size
    flow = flow_fn(frames[:1], frames[1:])
    assert flow.shape == (1, 2, 24, 32) and torch.isfinite(flow).all()


def test_raft_errors_say_what_to_do(tmp_path):
    with pytest.raises(VoidError, match="raft_checkpoint"):
        load_raft(None, CPU)
    wrong = tmp_path / "wrong.pth"
    torch.save({"layer.weight": torch.zeros(2)}, wrong)
    with pytest.raises(ModelFilesError, match="neither a torchvision raft_large nor a raft_small"):
        load_raft(str(wrong), CPU)
    with pytest.raises(ModelFilesError, match="cannot read the RAFT checkpoint"):
        load_raft(str(tmp_path / "missing.pth"), CPU)
