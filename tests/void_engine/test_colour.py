"""OCIO conversion between scene-linear plates and the display-referred pixels VOID saw."""
from __future__ import annotations

import numpy as np
import pytest

from void_server.colour import ColourError, ColourTransform
from void_server.settings import ServerSettings

CONFIG = ServerSettings(data_dir=".").ocio_config


def _linear_values() -> np.ndarray:
    """Scene-linear values whose display encoding lies inside [0, 1]."""
    rng = np.random.default_rng(0)
    return rng.uniform(0.0, 1.0, size=(48, 64, 3)).astype(np.float32) ** 2.2


@pytest.mark.parametrize("plate_space", ["Linear Rec.709 (sRGB)", "ACEScg"])
def test_round_trip_is_exact_for_in_range_values(plate_space):
    colour = ColourTransform(CONFIG, plate_space)
    plate = _linear_values()
    display = colour.to_model(plate)
    if plate_space == "ACEScg":  # keep values whose Rec.709 encoding is in range
        keep = np.all((display >= 0) & (display <= 1), axis=2)
        plate, display = plate[keep][None], display[keep][None]
    back = colour.from_model(display)
    np.testing.assert_allclose(back, plate, rtol=1e-4, atol=1e-6)


def test_linear_rec709_becomes_the_srgb_curve():
    colour = ColourTransform(CONFIG, "Linear Rec.709 (sRGB)")
    linear = np.array([[[0.0, 0.0031308, 0.18], [0.5, 1.0, 0.01]]], np.float32)
    expected = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    np.testing.assert_allclose(colour.to_model(linear), expected, atol=2e-4)


def test_input_is_not_modified_and_output_is_float32():
    colour = ColourTransform(CONFIG, "Linear Rec.709 (sRGB)")
    plate = _linear_values().astype(np.float16)
    before = plate.copy()
    out = colour.to_model(plate)
    assert out.dtype == np.float32 and np.array_equal(plate, before)


def test_display_view_target():
    colour = ColourTransform(CONFIG, "Linear Rec.709 (sRGB)", display="sRGB - Display", view="Un-tone-mapped")
    plate = _linear_values()
    np.testing.assert_allclose(colour.from_model(colour.to_model(plate)), plate, rtol=1e-4, atol=1e-6)


def test_unknown_names_are_reported_with_the_choices():
    with pytest.raises(ColourError, match="no colour space 'Linear Rec.709 typo'.*ACEScg"):
        ColourTransform(CONFIG, "Linear Rec.709 typo")
    with pytest.raises(ColourError, match="cannot load the OCIO config"):
        ColourTransform("/nonexistent/config.ocio", "ACEScg")
