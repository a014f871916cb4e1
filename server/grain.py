"""Grain that matches the plate: measured around the edit region, added to the fill.

An engine's fill is soft and grainless (VOID runs at 384x672 and is upscaled;
inpainting smooths), so it shows as a clean patch in a grainy plate. This
module measures the plate's grain and synthesises matching grain for the fill.

**Measuring** (``measure_grain``). On a few frames, the plate around the edit
region (never inside it, nor within a margin of it) is split into a smooth base
(a Gaussian blur of ``BASE_SIGMA`` px) and a residual, and cut into blocks of
``BLOCK`` px. Grain is what the residual holds in the *flattest* blocks: per
channel and per luminance bin, the lower quartile of the blocks' residual
standard deviation. The grain's spatial correlation comes from the residual's
lag-one autocorrelation in the flatter half of the blocks, the channel
correlation from their cross products. The high-pass and the quartile change
what is seen (grain larger than a few pixels loses part of its power to the
base; the lower quartile of noisy block estimates sits below their mean), so
every reading is converted back through a calibration made by measuring,
with the very same steps, synthetic grain of known size
(``_calibration``). The result is a ``GrainProfile``: amplitude per channel
against luminance, a Gaussian grain size per channel (0 = white) and a 3x3
channel correlation.

**Adding** (``synthesise_grain``). Unit grain is white Gaussian noise, mixed
across channels to the measured correlation and blurred to the measured size
(with the kernel's norm divided out, so its standard deviation stays 1). Per
pixel it is scaled so the fill ends with the plate's grain at the fill's own
brightness: whatever grain the fill already carries (the classic engine copies
grainy plate pixels from other frames) is estimated from the fill's residual
and only the missing variance is added. The noise is seeded by job id and
frame, so a resumed job writes the same bits. ``composite`` adds it inside the
edit alpha only, weighted so the grain level stays constant across the feather.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

BASE_SIGMA = 4.0
"""Pixels: the smooth base removed before measuring; grain is finer than this."""
BLOCK = 32
"""Pixels: side of the square blocks measured."""
LOW_QUANTILE = 0.25
FLAT_QUANTILE = 0.4
"""Grain amplitude = this quantile of the blocks' residual std (the flattest blocks)."""
MARGIN = 16
"""Pixels kept between the edit alpha and any measured block (the object's edges and blur)."""
NEAR = 160
"""Pixels: blocks are measured within this distance of the edit region's box (more if few)."""
MIN_BLOCKS = 48
"""Fewer flat blocks than this near the region: measure over the whole frame."""
MIN_BLOCKS_PER_BIN = 24
MAX_BINS = 8
MAX_SIZE = 4.0
"""Largest grain size (Gaussian sigma, px) the measurement resolves."""
SIZES = (0.0, 0.3, 0.45, 0.6, 0.8, 1.0, 1.25, 1.5, 1.8, 2.2, 2.7, 3.3, 4.0)
"""Grain sizes the calibration simulates; readings between them are interpolated."""
EXISTING_WINDOW = 31
"""Pixels: window over which the grain already in the fill is estimated."""
MEASURE_FRAMES = 5
"""Plate frames of a job the grain is measured on (spread over the job)."""
FILL_LAYER = "fill"
"""Layer of the result that holds the fill without added grain: ``fill.R``, ``fill.G``, ``fill.B``."""
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
TINY = 1e-12


@dataclass(frozen=True)
class GrainProfile:
    """The plate's grain: amplitude by luminance per channel, size per channel, channel correlation."""

    luminance: Tuple[float, ...]
    """Scene-linear luminance of each bin (ascending)."""
    amplitude: Tuple[Tuple[float, ...], ...]
    """Per channel (R, G, B): the grain's standard deviation in each luminance bin."""
    size: Tuple[float, float, float]
    """Per channel: sigma in pixels of the Gaussian that shapes white noise into the grain (0 = white)."""
    correlation: Tuple[Tuple[float, float, float], ...]
    """3x3 correlation of the grain between channels."""
    blocks: int
    """How many blocks were measured."""

    @property
    def present(self) -> bool:
        return bool(self.luminance) and max(max(a) for a in self.amplitude) > 0.0

    def amplitude_at(self, luminance: np.ndarray, channel: int) -> np.ndarray:
        """Grain std of ``channel`` at each luminance: linear between the bins, held beyond them."""
        return np.interp(luminance, self.luminance, self.amplitude[channel]).astype(np.float32)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "GrainProfile":
        return cls(luminance=tuple(data["luminance"]), amplitude=tuple(tuple(a) for a in data["amplitude"]),
                   size=tuple(data["size"]), correlation=tuple(tuple(r) for r in data["correlation"]),
                   blocks=int(data["blocks"]))

    def summary(self) -> str:
        """Compact JSON for the result's header (``void:grain.profile``)."""
        return json.dumps({"luminance": [round(v, 5) for v in self.luminance],
                           "amplitude": [[round(v, 6) for v in a] for a in self.amplitude],
                           "size": [round(v, 3) for v in self.size],
                           "correlation": [[round(v, 3) for v in r] for r in self.correlation]},
                          separators=(",", ":"))


NO_GRAIN = GrainProfile(luminance=(), amplitude=((), (), ()), size=(0.0, 0.0, 0.0),
                        correlation=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)), blocks=0)


# -- unit grain: the one generator used by the calibration and by synthesis -------------------------

def _kernel(size: float) -> Optional[np.ndarray]:
    """The 1-D Gaussian that shapes grain of ``size`` (None for white grain)."""
    if size < 0.25:
        return None
    radius = int(np.ceil(3.0 * size))
    return cv2.getGaussianKernel(2 * radius + 1, size, cv2.CV_32F)


def shape_noise(white: np.ndarray, size: float) -> np.ndarray:
    """White unit noise ``(H, W)`` shaped to grain of ``size``, still of unit variance."""
    k = _kernel(size)
    if k is None:
        return white
    norm = float(np.sum(k * k))  # std of the blurred unit noise: |k (x) k|_2 = |k|_2^2
    return cv2.sepFilter2D(white, cv2.CV_32F, k, k, borderType=cv2.BORDER_REFLECT_101) / np.float32(norm)


def _highpass(plane: np.ndarray) -> np.ndarray:
    return plane - cv2.GaussianBlur(plane, (0, 0), BASE_SIGMA, borderType=cv2.BORDER_REFLECT_101)


def _block_means(plane: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean of ``plane`` over each ``BLOCK``-square block where ``valid`` (row-major)."""
    h, w = plane.shape
    bh, bw = h // BLOCK, w // BLOCK
    return plane[:bh * BLOCK, :bw * BLOCK].reshape(bh, BLOCK, bw, BLOCK).mean(axis=(1, 3))[valid]


def _lag_products(residual: np.ndarray) -> np.ndarray:
    """Per pixel, the mean of its products with its right and lower neighbours."""
    out = np.zeros_like(residual)
    out[:, :-1] += residual[:, :-1] * residual[:, 1:]
    out[:-1, :] += residual[:-1, :] * residual[1:, :]
    return 0.5 * out


@functools.lru_cache(maxsize=1)
def _calibration() -> Dict[str, np.ndarray]:
    """What the measurement reads on unit grain of each size in ``SIZES``.

    ``rho``: lag-one autocorrelation of the residual; ``low``: the low quantile of
    the blocks' residual std; ``var``: the residual's variance. Deterministic.
    """
    rng = np.random.default_rng(20260101)
    side = 24 * BLOCK
    rho, low, var = [], [], []
    for size in SIZES:
        grain = shape_noise(rng.standard_normal((side, side), dtype=np.float32), size)
        residual = _highpass(grain)
        valid = np.ones((side // BLOCK, side // BLOCK), bool)
        sq = _block_means(residual * residual, valid)
        rho.append(_block_means(_lag_products(residual), valid).sum() / sq.sum())
        low.append(np.quantile(np.sqrt(sq), LOW_QUANTILE))
        var.append(float(np.mean(residual[BLOCK:-BLOCK, BLOCK:-BLOCK] ** 2)))
    return {"size": np.asarray(SIZES), "rho": np.asarray(rho), "low": np.asarray(low), "var": np.asarray(var)}


def _size_from_rho(rho: float) -> float:
    cal = _calibration()
    return float(np.interp(rho, cal["rho"], cal["size"]))  # rho grows with size


def _at_size(key: str, size: float) -> float:
    cal = _calibration()
    return float(np.interp(size, cal["size"], cal[key]))


# -- measuring ---------------------------------------------------------------------------------

def sample_area(region: np.ndarray, near: Optional[int] = NEAR) -> Tuple[slice, slice]:
    """The part of the frame measured: the region's box grown by ``near`` px (all of it without a region)."""
    h, w = region.shape
    ys, xs = np.nonzero(region)
    if near is None or ys.size == 0:
        return slice(0, h), slice(0, w)
    grow_y = max(near, (ys.max() - ys.min()) // 2)
    grow_x = max(near, (xs.max() - xs.min()) // 2)
    return (slice(max(0, ys.min() - grow_y), min(h, ys.max() + grow_y + 1)),
            slice(max(0, xs.min() - grow_x), min(w, xs.max() + grow_x + 1)))


def _frame_blocks(rgb: np.ndarray, region: np.ndarray, near: Optional[int]) -> Dict[str, np.ndarray]:
    """Block statistics of one frame around ``region`` (True where the fill goes)."""
    rows, cols = sample_area(region, near)
    crop = np.ascontiguousarray(rgb[rows, cols], np.float32)
    keep_out = region[rows, cols].astype(np.uint8)
    if keep_out.any():
        keep_out = cv2.dilate(keep_out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                  (2 * MARGIN + 1, 2 * MARGIN + 1)))
    h, w = keep_out.shape
    bh, bw = h // BLOCK, w // BLOCK
    if bh == 0 or bw == 0:
        return {}
    touched = keep_out[:bh * BLOCK, :bw * BLOCK].reshape(bh, BLOCK, bw, BLOCK).max(axis=(1, 3))
    valid = touched == 0
    if not valid.any():
        return {}
    luma = _block_means(cv2.GaussianBlur(crop @ LUMA, (0, 0), BASE_SIGMA), valid)
    residuals = [_highpass(np.ascontiguousarray(crop[:, :, c])) for c in range(3)]
    out: Dict[str, np.ndarray] = {"luma": luma}
    for c in range(3):
        out[f"sq{c}"] = _block_means(residuals[c] * residuals[c], valid)
        out[f"lag{c}"] = _block_means(_lag_products(residuals[c]), valid)
    for c, d in ((0, 1), (0, 2), (1, 2)):
        out[f"x{c}{d}"] = _block_means(residuals[c] * residuals[d], valid)
    return out


def measure_grain(frames: Iterable[Tuple[np.ndarray, np.ndarray]]) -> GrainProfile:
    """The grain of plate frames ``(rgb, region)``, measured outside and near ``region``.

    ``rgb`` is scene-linear float ``(H, W, 3)``; ``region`` is True where the fill
    goes. Blocks near the region are used; with fewer than ``MIN_BLOCKS`` of them,
    the whole frame outside the region. ``NO_GRAIN`` when too little is left.
    """
    frames = list(frames)
    blocks = _pooled(_frame_blocks(rgb, region, NEAR) for rgb, region in frames)
    if blocks.get("luma", np.empty(0)).size < MIN_BLOCKS:
        blocks = _pooled(_frame_blocks(rgb, region, None) for rgb, region in frames)
    count = blocks.get("luma", np.empty(0)).size
    if count < MIN_BLOCKS_PER_BIN:
        return NO_GRAIN
    std = np.stack([np.sqrt(blocks[f"sq{c}"]) for c in range(3)])
    bins = _luminance_bins(blocks["luma"])
    flat = np.zeros(count, bool)  # the flatter half of each luminance bin, in every channel
    for part in bins:
        flat[part] = np.all(std[:, part] <= np.quantile(std[:, part], FLAT_QUANTILE, axis=1, keepdims=True), axis=0)
    sizes = []
    for c in range(3):
        power = blocks[f"sq{c}"][flat].sum()
        rho = blocks[f"lag{c}"][flat].sum() / power if power > TINY else 0.0
        sizes.append(min(_size_from_rho(rho), MAX_SIZE))
    corr = np.eye(3)
    for c, d in ((0, 1), (0, 2), (1, 2)):
        den = np.sqrt(blocks[f"sq{c}"][flat].sum() * blocks[f"sq{d}"][flat].sum())
        corr[c, d] = corr[d, c] = blocks[f"x{c}{d}"][flat].sum() / den if den > TINY else 0.0
    luminance = [float(np.median(blocks["luma"][part])) for part in bins]
    amplitude = [[float(np.quantile(std[c, part], LOW_QUANTILE)) / _at_size("low", sizes[c]) for part in bins]
                 for c in range(3)]
    return GrainProfile(luminance=tuple(luminance), amplitude=tuple(tuple(a) for a in amplitude),
                        size=(sizes[0], sizes[1], sizes[2]),
                        correlation=tuple(tuple(float(v) for v in row) for row in corr), blocks=int(count))


def _luminance_bins(luma: np.ndarray) -> List[np.ndarray]:
    """Block indices in up to ``MAX_BINS`` bins of rising luminance and equal counts."""
    bins = int(np.clip(luma.size // MIN_BLOCKS_PER_BIN, 1, MAX_BINS))
    return np.array_split(np.argsort(luma, kind="stable"), bins)


def _pooled(per_frame: Iterable[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    found = [b for b in per_frame if b]
    if not found:
        return {}
    return {key: np.concatenate([b[key] for b in found]) for key in found[0]}


def grain_metadata(profile: GrainProfile) -> Dict[str, str]:
    """Header attributes of a result that got (or found no) grain to match."""
    if not profile.present:
        return {"void:grain": "none found"}
    return {"void:grain": "matched", "void:grain.profile": profile.summary()}


# -- adding ------------------------------------------------------------------------------------

def grain_seed(job_id: str, frame: int) -> int:
    """The noise seed of one result frame: the same job and frame always give the same grain."""
    return int.from_bytes(hashlib.sha256(f"{job_id}:{frame}".encode()).digest()[:8], "little")


def unit_grain(profile: GrainProfile, shape: Tuple[int, int], seed: int) -> np.ndarray:
    """Unit-variance grain ``(H, W, 3)``: channel-correlated, shaped to the profile's sizes."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(shape + (3,), dtype=np.float32)
    white = white @ _mixing(profile.correlation).T.astype(np.float32)
    return np.stack([shape_noise(np.ascontiguousarray(white[:, :, c]), profile.size[c]) for c in range(3)],
                    axis=-1)


def _mixing(correlation: Sequence[Sequence[float]]) -> np.ndarray:
    """Lower-triangular L with L Lᵀ = the nearest valid correlation matrix."""
    c = np.asarray(correlation, np.float64)
    values, vectors = np.linalg.eigh(0.5 * (c + c.T))
    c = vectors @ np.diag(np.maximum(values, 1e-3)) @ vectors.T
    d = np.sqrt(np.diag(c))
    return np.linalg.cholesky(c / np.outer(d, d))


def synthesise_grain(profile: GrainProfile, fill: np.ndarray, region: np.ndarray, seed: int) -> np.ndarray:
    """Grain to add to ``fill`` ``(H, W, 3)`` where ``region`` is True (zero elsewhere).

    Scaled per pixel and channel so that the grain the fill already has plus the
    grain added match the profile's amplitude at the fill's luminance.
    """
    out = np.zeros(fill.shape[:2] + (3,), np.float32)
    ys, xs = np.nonzero(region)
    if ys.size == 0 or not profile.present:
        return out
    pad = int(np.ceil(3 * max(BASE_SIGMA, max(profile.size)))) + EXISTING_WINDOW
    h, w = region.shape
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    crop = np.ascontiguousarray(fill[y0:y1, x0:x1, :3], np.float32)
    unit = unit_grain(profile, crop.shape[:2], seed)
    luma = cv2.GaussianBlur(crop @ LUMA, (0, 0), 2.0)
    for c in range(3):
        target = profile.amplitude_at(luma, c) ** 2
        residual = _highpass(np.ascontiguousarray(crop[:, :, c]))
        present = cv2.blur(residual * residual, (EXISTING_WINDOW, EXISTING_WINDOW)) / _at_size("var", profile.size[c])
        out[y0:y1, x0:x1, c] = np.sqrt(np.maximum(target - present, 0.0)) * unit[:, :, c]
    out[~region] = 0.0
    return out
