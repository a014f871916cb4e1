"""A synthetic tabletop shot with a known clean plate: a glass to remove, a lime falling into it.

The case the classic engine was measured on in production: a 4K plate, a glass
standing on a wooden table (the remove matte, about 600,000 pixels) and a lime
that falls into it (the affected matte: it moves because of what is removed, and
must not leave a trace in the fill). The camera drifts slowly, as a hand-held
or locked-off-but-not-quite camera does.

Everything is a function of position, so every frame's clean plate is known
exactly: the wall is plaster (mottling and fine noise), the table wooden planks
with grain, a window's reflection on the table is brighter than display white.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

REMOVE, OVERLAP, AFFECTED, KEEP = 0, 63, 127, 255


def _noise(shape: Tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise with features of about ``scale`` pixels, in [-1, 1]."""
    height, width = shape
    coarse = rng.uniform(-1, 1, (max(2, int(height / scale) + 2), max(2, int(width / scale) + 2)))
    return cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


def background(width: int, height: int, seed: int = 11) -> np.ndarray:
    """The clean scene, scene-linear float32 (H, W, 3): plaster wall above, wooden table below."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = 0.38 * height
    # the wall: warm plaster, large soft mottling, fine grain
    wall = np.array([0.42, 0.38, 0.33], np.float32) * (1 + 0.08 * _noise((height, width), height / 6, rng)
                                                       + 0.04 * _noise((height, width), 9, rng))[..., None]
    # the table: planks that run away from the camera, their seams converging slightly
    depth = np.clip((y - horizon) / (height - horizon), 0, 1)
    u = (x - width / 2) / (0.6 + 0.4 * depth) + width / 2
    plank_width = 0.09 * width
    plank = np.floor(u / plank_width)
    within = u / plank_width - plank
    warp = 6 * _noise((height, width), height / 10, rng)
    grain = np.sin((u + warp * 8) / (2.2 + 0.9 * np.sin(plank * 1.7)) + 3 * np.sin(y / 180 + plank))
    knots = _noise((height, width), 40, rng)
    tone = 0.55 + 0.12 * grain + 0.08 * knots + 0.05 * np.sin(plank * 2.3)
    wood = np.stack([0.34 * tone, 0.21 * tone, 0.11 * tone], -1)
    seam = np.clip(1 - np.minimum(within, 1 - within) * plank_width / (2 + 3 * depth), 0, 1)
    wood *= (1 - 0.75 * seam)[..., None]
    wood *= (0.75 + 0.35 * depth)[..., None]
    window = np.exp(-(((x - 0.72 * width) / (0.07 * width)) ** 2 + ((y - 0.62 * height) / (0.05 * height)) ** 2))
    wood += (3.0 * window)[..., None] * np.array([1.0, 0.97, 0.9], np.float32)
    edge = np.clip((y - horizon) / 3 + 0.5, 0, 1)[..., None]
    image = wall * (1 - edge) + wood * edge
    image *= (1 + 0.03 * rng.standard_normal((height, width, 1))).astype(np.float32)  # film grain
    return image.astype(np.float32)


@dataclass
class Tabletop:
    """The shot: its size, frame count and where everything is on each frame."""

    width: int = 3840
    height: int = 2160
    frames: int = 46
    drift: Tuple[float, float] = (0.35, 0.12)
    """Camera drift, pixels per frame (the background slides by this much)."""
    seed: int = 11

    def __post_init__(self) -> None:
        pad = int(np.ceil(max(abs(self.drift[0]), abs(self.drift[1])) * self.frames)) + 4
        self._pad = pad
        self._scene = background(self.width + 2 * pad, self.height + 2 * pad, self.seed)
        s = self.height / 2160
        self.glass_centre = (0.5 * self.width, 0.58 * self.height)
        self.glass_size = (580 * s, 1180 * s)  # width, height of the glass's silhouette
        self.lime_radius = 105 * s

    def clean(self, index: int) -> np.ndarray:
        """The clean plate of frame ``index`` (0-based): the background only."""
        dx, dy = self.drift[0] * index, self.drift[1] * index
        m = np.float32([[1, 0, self._pad + dx], [0, 1, self._pad + dy]])
        return cv2.warpAffine(self._scene, m, (self.width, self.height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)

    def glass_mask(self) -> np.ndarray:
        """uint8 (H, W): the glass's silhouette (a tumbler: wider at the rim, rounded base)."""
        cx, cy = self.glass_centre
        gw, gh = self.glass_size
        top, bottom = cy - gh / 2, cy + gh / 2
        poly = np.array([[cx - gw / 2, top], [cx + gw / 2, top], [cx + 0.42 * gw, bottom - 0.05 * gh],
                         [cx + 0.3 * gw, bottom], [cx - 0.3 * gw, bottom], [cx - 0.42 * gw, bottom - 0.05 * gh]])
        mask = np.zeros((self.height, self.width), np.uint8)
        cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        cv2.ellipse(mask, (int(cx), int(top)), (int(gw / 2), int(0.04 * gh)), 0, 0, 360, 255, -1, cv2.LINE_AA)
        return mask

    def lime_centre(self, index: int) -> Tuple[float, float]:
        """The lime falls from above the frame's glass region into the glass and comes to rest in it."""
        cx, cy = self.glass_centre
        gw, gh = self.glass_size
        start, rest = cy - gh / 2 - 3.2 * self.lime_radius, cy + gh / 2 - 1.15 * self.lime_radius
        t = min(1.0, index / max(1, 0.6 * (self.frames - 1)))
        return cx + 0.12 * gw * np.sin(3 * t), start + (rest - start) * t * t

    def lime_mask(self, index: int, grow: float = 0.0) -> np.ndarray:
        cx, cy = self.lime_centre(index)
        mask = np.zeros((self.height, self.width), np.uint8)
        r = self.lime_radius + grow
        cv2.ellipse(mask, (int(round(cx * 16)), int(round(cy * 16))), (int(r * 16), int(r * 0.92 * 16)), 20, 0,
                    360, 255, -1, cv2.LINE_AA, shift=4)
        return mask

    def plate(self, index: int) -> np.ndarray:
        """Frame ``index`` as shot: the glass bends and tints what is behind it; the lime inside it."""
        clean = self.clean(index)
        out = clean.copy()
        glass = self.glass_mask().astype(np.float32) / 255
        x, y, w, h = cv2.boundingRect((glass > 0).astype(np.uint8))
        gy, gx = np.mgrid[y:y + h, x:x + w].astype(np.float32)
        cx, _ = self.glass_centre
        bend = cx + (gx - cx) * 0.8  # the glass magnifies: it shows a narrower strip behind it
        seen = cv2.remap(clean, bend, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        rim = np.abs(gx - cx) / (self.glass_size[0] / 2)
        shade = (0.82 - 0.35 * np.clip(rim, 0, 1) ** 6)[..., None] * np.array([0.93, 1.0, 0.97], np.float32)
        shine = 1.8 * np.exp(-(((gx - (cx - 0.28 * self.glass_size[0])) / (0.03 * self.glass_size[0])) ** 2))
        inside = seen * shade + shine[..., None]
        a = glass[y:y + h, x:x + w, None]
        out[y:y + h, x:x + w] = out[y:y + h, x:x + w] * (1 - a) + inside * a
        lime = self.lime_mask(index)
        x, y, w, h = cv2.boundingRect(lime)
        if w and h:
            a = lime[y:y + h, x:x + w].astype(np.float32)[..., None] / 255
            lx, ly = self.lime_centre(index)
            yy, xx = np.mgrid[y:y + h, x:x + w].astype(np.float32)
            light = np.clip(1.1 - np.hypot(xx - lx + 0.4 * self.lime_radius, yy - ly + 0.4 * self.lime_radius)
                            / (1.6 * self.lime_radius), 0.35, 1.0)
            out[y:y + h, x:x + w] = out[y:y + h, x:x + w] * (1 - a) + LIME * light[..., None] * a
        return out

    def quadmask(self, index: int) -> np.ndarray:
        """uint8 (H, W): remove the glass; the lime (grown a little, as roto is) is affected."""
        remove = self.glass_mask() > 0
        affected = self.lime_mask(index, grow=6 * self.height / 2160) > 0
        q = np.full((self.height, self.width), KEEP, np.uint8)
        q[affected] = AFFECTED
        q[remove] = np.where(affected[remove], OVERLAP, REMOVE)
        return q


LIME = np.array([0.42, 0.72, 0.04], np.float32)
"""The lime's colour (scene-linear): nothing on the table or wall comes near it."""
