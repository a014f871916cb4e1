"""Grain that matches the plate: measured from a synthetic plate of known grain, added to a grainless
fill, the fill's grain has the plate's amplitude at every brightness, its size and its channel
correlation (within ±20 %), and nothing outside the edit region changes."""
from __future__ import annotations

import os
from typing import Callable, Tuple

import cv2
import numpy as np
import pytest

from void_nuke.exrio import Image, make_spec, read_image
from void_server import grain as g
from void_server.composite import composite, edit_alpha

H, W = 432, 768
CORRELATION = ((1.0, 0.6, 0.45), (0.6, 1.0, 0.6), (0.45, 0.6, 1.0))
SIZES = [0.0, 0.8, 1.5, 2.5]  # white grain to coarse film grain (Gaussian sigma, px)


def amplitude(channel: int, luminance: np.ndarray) -> np.ndarray:
    """The plate's grain: stronger with brightness, different per channel (blue the noisiest)."""
    return (0.004, 0.003, 0.006)[channel] + (0.02, 0.015, 0.03)[channel] * luminance


def clean_background(h: int = H, w: int = W) -> np.ndarray:
    """A smooth plate: luminance rising from 0.02 to 1.2 across the frame, a slow vertical wave."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lum = 0.02 * np.exp(np.log(60.0) * xx / w)
    return (np.stack([lum, 0.8 * lum, 0.6 * lum], -1) * (1 + 0.1 * np.sin(yy / 90.0))[..., None]).astype(np.float32)


def known_grain(background: np.ndarray, size: float, seed: int,
                amp: Callable[[int, np.ndarray], np.ndarray] = amplitude) -> np.ndarray:
    """Grain of ``size`` with the known amplitude curve and channel correlation (its own generator)."""
    rng = np.random.default_rng(seed)
    h, w = background.shape[:2]
    white = rng.standard_normal((h, w, 3)) @ np.linalg.cholesky(np.asarray(CORRELATION)).T
    if size > 0:  # a Gaussian blur through the Fourier transform, independent of the engine's kernels
        fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
        transfer = np.exp(-2.0 * np.pi ** 2 * size ** 2 * (fx ** 2 + fy ** 2))[..., None]
        shaped = np.real(np.fft.ifft2(np.fft.fft2(white, axes=(0, 1)) * transfer, axes=(0, 1)))
        white = shaped / shaped.std(axis=(0, 1))
    luminance = background @ g.LUMA
    return np.stack([amp(c, luminance) * white[:, :, c] for c in range(3)], -1).astype(np.float32)


def correlation_length(noise: np.ndarray, mask: np.ndarray) -> float:
    """Sum of the normalised autocorrelation over lags -8..8, horizontally and vertically (1 = white)."""
    total = 0.0
    n = noise * mask
    power = float(np.sum(n * n))
    for d in range(1, 9):
        both_h = mask[:, d:] & mask[:, :-d]
        both_v = mask[d:, :] & mask[:-d, :]
        rho_h = np.sum((noise[:, d:] * noise[:, :-d])[both_h]) / power * mask.sum() / both_h.sum()
        rho_v = np.sum((noise[d:, :] * noise[:-d, :])[both_v]) / power * mask.sum() / both_v.sum()
        total += rho_h + rho_v
    return 1.0 + total


def region_box(h: int = H, w: int = W) -> Tuple[slice, slice]:
    return slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4)


def quadmask_for(h: int = H, w: int = W) -> np.ndarray:
    q = np.full((h, w), 255, np.uint8)
    q[region_box(h, w)] = 0
    return q


@pytest.mark.parametrize("size", SIZES)
def test_measured_grain_has_the_plates_amplitude_size_and_channel_correlation(size):
    bg = clean_background()
    region = quadmask_for() != 255
    profile = g.measure_grain([(bg + known_grain(bg, size, seed=i), region) for i in range(2)])
    assert profile.present and profile.blocks >= 100
    for c in range(3):
        truth = amplitude(c, np.asarray(profile.luminance))
        assert np.allclose(profile.amplitude[c], truth, rtol=0.2), (c, profile.amplitude[c], truth)
        assert abs(profile.size[c] - size) <= max(0.2 * size, 0.2), profile.size
    assert np.allclose(profile.correlation, CORRELATION, atol=0.12), profile.correlation


def test_texture_beside_the_region_does_not_pass_for_grain():
    """A third of the plate is a fine high-contrast texture: the flattest blocks still give the grain."""
    bg = clean_background()
    yy, xx = np.mgrid[0:H, 0:W]
    texture = (np.sin(xx / 3.0) * np.sin(yy / 5.0) > 0.3)[: H // 3]
    bg[: H // 3] *= (1 + 0.3 * texture)[..., None]
    profile = g.measure_grain([(bg + known_grain(bg, 1.5, seed=7), quadmask_for() != 255)])
    for c in range(3):
        assert np.allclose(profile.amplitude[c], amplitude(c, np.asarray(profile.luminance)), rtol=0.2)
        assert abs(profile.size[c] - 1.5) <= 0.3


def fill_and_plate_grain(size: float, fill_grain: float = 0.0) -> Tuple[np.ndarray, np.ndarray, Image, Image, np.ndarray]:
    """A grainy plate, a fill that is the clean background (plus ``fill_grain`` of plate-like grain),
    composited with synthesised grain. Returns (clean, plate grain, plate, result, region)."""
    bg = clean_background()
    plate_px = bg + known_grain(bg, size, seed=1)
    q = quadmask_for()
    alpha = edit_alpha(q, 6.0)
    fill = bg + fill_grain * known_grain(bg, size, seed=99)
    profile = g.measure_grain([(plate_px, alpha > 0), (bg + known_grain(bg, size, seed=2), alpha > 0)])
    added = g.synthesise_grain(profile, fill, alpha > 0, g.grain_seed("job", 1001))
    plate = Image(plate_px.astype(np.float32), make_spec(W, H, ("R", "G", "B"), "float32"))
    result = composite(plate, fill, alpha, grain=added, fill_layer="fill")
    return bg, plate_px - bg, plate, result, q != 255


def compare_grain(bg: np.ndarray, plate_grain: np.ndarray, fill_grain: np.ndarray, inside: np.ndarray) -> None:
    """Per channel: std against brightness and correlation length of the fill's grain vs the plate's."""
    outside = np.zeros_like(inside)
    outside[:, :W // 4 - 24] = True
    outside[:, 3 * W // 4 + 24:] = True
    outside[:H // 4 - 24] = outside[3 * H // 4 + 24:] = True
    luminance = bg @ g.LUMA
    edges = np.quantile(luminance[inside], [0.0, 0.25, 0.5, 0.75, 1.0])
    for c in range(3):
        for lo, hi in zip(edges[:-1], edges[1:]):
            band = (luminance >= lo) & (luminance <= hi)
            ours, theirs = fill_grain[..., c][inside & band].std(), plate_grain[..., c][outside & band].std()
            assert 0.8 <= ours / theirs <= 1.2, (c, lo, ours, theirs)
        ours_len = correlation_length(fill_grain[..., c], inside)
        theirs_len = correlation_length(plate_grain[..., c], outside & (luminance <= edges[-1]))
        assert 0.8 <= ours_len / theirs_len <= 1.2, (c, ours_len, theirs_len)
    for c, d in ((0, 1), (0, 2), (1, 2)):
        ours = np.corrcoef(fill_grain[..., c][inside], fill_grain[..., d][inside])[0, 1]
        assert abs(ours - CORRELATION[c][d]) <= 0.12, (c, d, ours)


@pytest.mark.parametrize("size", SIZES)
def test_a_grainless_fill_gets_the_plates_grain(size):
    bg, plate_grain, plate, result, inside = fill_and_plate_grain(size)
    rgb = result.pixels[:, :, [result.spec.channel_index(n) for n in "RGB"]]
    compare_grain(bg, plate_grain, rgb - bg, inside)
    # the ungrained fill is delivered too, for regraining with other tools
    fill = result.pixels[:, :, [result.spec.channel_index(f"fill.{n}") for n in "RGB"]]
    assert np.allclose(fill[inside], bg[inside], atol=1e-6)


def test_a_fill_with_some_grain_is_only_topped_up():
    """The classic engine copies grainy pixels from other frames: grain is added, not doubled."""
    bg, plate_grain, plate, result, inside = fill_and_plate_grain(1.5, fill_grain=0.6)
    rgb = result.pixels[:, :, :3]
    compare_grain(bg, plate_grain, rgb - bg, inside)


def test_outside_the_edit_alpha_every_bit_is_the_plates_and_grain_is_deterministic():
    bg, _, plate, result, _ = fill_and_plate_grain(0.8)
    alpha = edit_alpha(quadmask_for(), 6.0)
    outside = alpha == 0
    assert result.pixels[:, :, :3][outside].tobytes() == plate.pixels[outside].tobytes()
    assert result.pixels[:, :, 3:6][outside].tobytes() == plate.pixels[outside].tobytes()  # fill.* too
    profile = g.measure_grain([(plate.pixels, alpha > 0)])
    one = g.synthesise_grain(profile, bg, alpha > 0, g.grain_seed("job-a", 1001))
    again = g.synthesise_grain(profile, bg, alpha > 0, g.grain_seed("job-a", 1001))
    other = g.synthesise_grain(profile, bg, alpha > 0, g.grain_seed("job-a", 1002))
    assert one.tobytes() == again.tobytes() and one.tobytes() != other.tobytes()
    assert not one[outside].any()


def test_a_plate_without_grain_gets_none():
    bg = clean_background()
    profile = g.measure_grain([(bg, quadmask_for() != 255)])  # only the ramp's curvature is left
    for c in range(3):
        assert np.all(np.asarray(profile.amplitude[c]) < 1e-3 * np.asarray(profile.luminance))
    tiny = g.measure_grain([(bg[:40, :60], np.ones((40, 60), bool))])
    assert tiny == g.NO_GRAIN and not tiny.present


# -- through the job runner ------------------------------------------------------------------------

def grainy_shot(tmp_path, grain_on: bool = True, h: int = 270, w: int = 480):
    """A small locked-off shot with film-like grain; a static object no frame ever uncovers."""
    from void_nuke.exrio import write_image
    from void_nuke.shot import Shot

    bg = clean_background(h, w)
    folder = tmp_path / "plate"
    folder.mkdir()
    q = np.full((h, w), 255, np.uint8)
    q[h * 13 // 36:h * 23 // 36, w * 11 // 32:w * 21 // 32] = 0
    for i, frame in enumerate(range(1001, 1007)):
        px = bg + known_grain(bg, 1.2, seed=frame)
        px[q != 255] = (0.9, 0.05, 0.05)  # the object: bright red
        write_image(str(folder / f"plate.{frame}.exr"), Image(px.astype(np.float16),
                                                               make_spec(w, h, ("R", "G", "B"))))
        write_image(str(folder / f"remove.{frame}.exr"),
                    Image((q != 255).astype(np.float16)[..., None], make_spec(w, h, ("A",))))
    return Shot.from_dict({"plate": str(folder / "plate.####.exr"), "frames": "1001-1006",
                           "remove": [str(folder / "remove.####.exr")],
                           "output": {"directory": str(tmp_path / "out"), "grain": grain_on}}), bg, q


@pytest.mark.slow
def test_results_carry_grain_the_ungrained_fill_layer_and_resume_bit_identically(tmp_path):
    from void_server.runner import run_shot_local

    shot, bg, q = grainy_shot(tmp_path)
    first = run_shot_local(shot, job_id="grain-job", work_dir=str(tmp_path / "work"))
    path = os.path.join(first.version_dir, shot.result_name(1003))
    result = read_image(path)
    assert result.spec.attributes["void:grain"] == "matched"
    assert {"fill.R", "fill.G", "fill.B"} <= set(result.spec.channels)
    rgb = result.pixels[:, :, [result.spec.channel_index(n) for n in "RGB"]].astype(np.float32)
    fill = result.pixels[:, :, [result.spec.channel_index(f"fill.{n}") for n in "RGB"]].astype(np.float32)
    inside = q != 255
    plate = read_image(shot.plate_sequence.path(1003)).pixels.astype(np.float32)
    alpha = edit_alpha(q, shot.masks.feather)
    assert rgb[alpha == 0].tobytes() == plate[alpha == 0].tobytes() == fill[alpha == 0].tobytes()
    assert np.any((rgb - fill)[inside] != 0)  # grain was matched on the fill ...
    fine = rgb - cv2.GaussianBlur(rgb, (0, 0), 3.0)
    # ... which is now as grainy as the plate here (0.004-0.01): the classic engine's fill copies the
    # plate's own texture, grain included, and is only topped up; a grainless fill gets it all
    assert np.all(fine[inside].std(axis=0) > 0.002)
    # resume: a frame lost after a crash is written again with the very same bits
    before = open(path, "rb").read()
    os.remove(path)
    run_shot_local(shot, job_id="grain-job", work_dir=str(tmp_path / "work"), version="v001")
    assert read_image(path).pixels.tobytes() == read_image_bytes(before, tmp_path).pixels.tobytes()


def read_image_bytes(data: bytes, tmp_path) -> Image:
    copy = tmp_path / "copy.exr"
    copy.write_bytes(data)
    return read_image(str(copy))


def test_grain_off_delivers_the_plain_fill(tmp_path):
    from void_nuke.cli import build_parser, shot_from_args
    from void_server.runner import run_shot_local

    shot, _, _ = grainy_shot(tmp_path, grain_on=False, h=180, w=320)
    result = run_shot_local(shot, work_dir=str(tmp_path / "work"))
    image = read_image(os.path.join(result.version_dir, shot.result_name(1001)))
    assert image.spec.attributes["void:grain"] == "off"
    assert not any(n.startswith("fill.") for n in image.spec.channels)
    args = build_parser().parse_args(["run", "--plate", shot.plate, "--frames", "1001-1006", "--remove",
                                      shot.remove[0].pattern, "--out", str(tmp_path / "o"), "--no-grain"])
    assert shot_from_args(args).output.grain is False
