"""Scene-linear ↔ display-referred 8-bit pixels, for previews, VLM frames and VOID's mp4s.

VOID and its mask tools see 8-bit sRGB video; plates are scene-linear. The sRGB
transfer pair here is the exact IEC 61966-2-1 piecewise function, so a frame
decoded from 8-bit sRGB and encoded again gives back the same bytes. Plates in
another colour space (ACEScg...) go through OpenImageIO's OpenColorIO with the
shot's config, to "sRGB Encoded Rec.709 (sRGB)".
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import ImageError

SRGB_ENCODED = "sRGB Encoded Rec.709 (sRGB)"
QUADMASK_COLOURS = {
    "remove": (213, 94, 0),      # vermillion
    "overlap": (240, 228, 66),   # yellow
    "affected": (86, 180, 233),  # sky blue
    "keep": (0, 0, 0),           # black
}
"""sRGB preview colour of each quadmask class (Okabe-Ito colours, distinguishable with colour-blindness)."""
LINEAR_SRGB_NAMES = ("Linear Rec.709 (sRGB)", "lin_srgb", "lin_rec709", "Utility - Linear - sRGB",
                     "scene_linear_srgb", "linear")
"""Names of the colour space whose display encoding is the plain sRGB transfer."""


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    """The exact sRGB EOTF: encoded values in [0, 1] → linear, float32."""
    x = np.asarray(encoded, dtype=np.float64)
    linear = np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4))
    return linear.astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """The exact inverse of ``srgb_to_linear`` (negative values pass through the linear segment)."""
    x = np.asarray(linear, dtype=np.float64)
    encoded = np.where(x <= 0.0031308, x * 12.92,
                       1.055 * np.power(np.maximum(x, 0.0031308), 1.0 / 2.4) - 0.055)
    return encoded.astype(np.float32)


def to_uint8(encoded: np.ndarray) -> np.ndarray:
    """Display-referred floats → uint8, clamped to [0, 1] and rounded to nearest."""
    return np.clip(np.rint(np.asarray(encoded, np.float64) * 255.0), 0, 255).astype(np.uint8)


def from_uint8(pixels: np.ndarray) -> np.ndarray:
    """uint8 → display-referred float32 in [0, 1]."""
    return np.asarray(pixels, np.float32) / np.float32(255.0)


def is_linear_srgb(colorspace: str) -> bool:
    return colorspace.strip().lower() in {n.lower() for n in LINEAR_SRGB_NAMES}


def linear_to_display(rgb: np.ndarray, colorspace: str = LINEAR_SRGB_NAMES[0],
                      ocio_config: Optional[str] = None) -> np.ndarray:
    """Scene-linear RGB ``(H, W, 3)`` in ``colorspace`` → sRGB-encoded float32 (not clamped)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    if is_linear_srgb(colorspace):
        return linear_to_srgb(rgb)
    import OpenImageIO as oiio

    config = oiio.ColorConfig(ocio_config) if ocio_config else oiio.ColorConfig()
    if config.getColorSpaceIndex(colorspace) < 0:
        raise ImageError(f"colour space {colorspace!r} is not in the OCIO config "
                         f"{ocio_config or 'ocio://default'}; set the shot's colorspace to one of its "
                         "colour spaces, or set ocio_config to the config that defines it")
    buf = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(rgb), colorspace, SRGB_ENCODED,
                                         colorconfig=ocio_config or "")
    if buf.has_error:
        raise ImageError(f"cannot convert {colorspace!r} to {SRGB_ENCODED!r}: {buf.geterror()}")
    return np.asarray(buf.get_pixels(oiio.FLOAT), np.float32).reshape(rgb.shape)


def display_uint8(rgb: np.ndarray, colorspace: str = LINEAR_SRGB_NAMES[0],
                  ocio_config: Optional[str] = None) -> np.ndarray:
    """Scene-linear RGB → 8-bit sRGB ``(H, W, 3)`` uint8, clamped."""
    return to_uint8(linear_to_display(rgb, colorspace, ocio_config))
