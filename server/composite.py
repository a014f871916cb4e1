"""Back to the plate: blend engine output into the plate through a feathered edit alpha.

The edit region is every pixel whose quadmask is not 255 (remove, overlap and
affected). The alpha is 1 inside it and falls smoothly to 0 over ``feather``
pixels outside it. Where the alpha is 0 the plate's own values are copied, so
every pixel beyond the feather margin is bit-identical to the plate, in every
channel; only R, G and B are ever changed. Grain matching the plate (see
``grain``) is added where the alpha is above 0, never elsewhere.
"""
from __future__ import annotations

from typing import Dict, Optional

import cv2
import numpy as np

from void_nuke.exrio import Image, ImageSpec

KEEP = 255


def edit_alpha(quadmask: np.ndarray, feather: float) -> np.ndarray:
    """float32 alpha: 1 on the edit region, a smoothstep ramp over ``feather`` px outside, else 0."""
    region = quadmask != KEEP
    if feather <= 0 or not region.any():
        return region.astype(np.float32)
    # distance of every outside pixel to the nearest edit pixel
    outside = (~region).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    t = np.clip(1.0 - dist / float(feather), 0.0, 1.0)
    alpha = t * t * (3.0 - 2.0 * t)
    alpha[region] = 1.0
    return alpha.astype(np.float32)


def composite(plate: Image, rgb: np.ndarray, alpha: np.ndarray,
              extra_channels: Optional[Dict[str, np.ndarray]] = None,
              attributes: Optional[Dict[str, object]] = None,
              grain: Optional[np.ndarray] = None, fill_layer: Optional[str] = None) -> Image:
    """The result frame: ``plate`` with R, G, B blended towards ``rgb`` by ``alpha``.

    ``grain`` ``(H, W, 3)`` is added where ``alpha > 0``, weighted by
    ``sqrt(alpha * (2 - alpha))``: across the feather the plate's own grain
    (weight ``1 - alpha``) and the added grain then sum to one grain level.
    ``fill_layer`` (e.g. ``"fill"``) also delivers the blend without the added
    grain as ``fill.R``, ``fill.G``, ``fill.B``, for regraining with other tools.
    ``extra_channels`` (e.g. ``void.mask``) are appended as float channels;
    ``attributes`` are added to the header.
    """
    spec = plate.spec
    if rgb.shape[:2] != plate.pixels.shape[:2] or alpha.shape != plate.pixels.shape[:2]:
        raise ValueError(f"engine output {rgb.shape} / alpha {alpha.shape} do not match the plate "
                         f"{plate.pixels.shape}")
    out = plate.pixels.copy()
    inside = alpha > 0.0
    a = alpha[inside]
    grain_weight = np.sqrt(a * (2.0 - a)) if grain is not None else None
    layers: Dict[str, np.ndarray] = {}
    for i, name in enumerate(("R", "G", "B")):
        if name not in spec.channels:
            continue
        c = spec.channel_index(name)
        src = plate.pixels[:, :, c][inside].astype(np.float32)
        blended = src + a * (rgb[:, :, i][inside] - src)
        if fill_layer:
            plane = out[:, :, c].copy()
            plane[inside] = blended.astype(out.dtype)
            layers[f"{fill_layer}.{name}"] = plane
        if grain_weight is not None:
            blended = blended + grain_weight * grain[:, :, i][inside]
        out[:, :, c][inside] = blended.astype(out.dtype)
    layers.update(extra_channels or {})
    channels = list(spec.channels)
    if layers:
        planes = [out]
        for name, plane in layers.items():
            channels.append(name)
            planes.append(plane.astype(out.dtype)[:, :, None])
        out = np.concatenate(planes, axis=2)
    new_spec = ImageSpec(width=spec.width, height=spec.height, channels=tuple(channels), dtype=spec.dtype,
                         x=spec.x, y=spec.y, full_width=spec.full_width, full_height=spec.full_height,
                         full_x=spec.full_x, full_y=spec.full_y,
                         attributes={**_carried(spec.attributes), **(attributes or {})})
    return Image(np.ascontiguousarray(out), new_spec)


def _carried(attrs: Dict[str, object]) -> Dict[str, object]:
    """Plate header attributes worth keeping (not the writer's own bookkeeping)."""
    dropped = {"compression", "DateTime", "Software", "openexr:lineOrder", "oiio:subimages"}
    return {k: v for k, v in attrs.items() if k not in dropped and not k.startswith("oiio:")}
