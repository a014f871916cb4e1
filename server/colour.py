"""Scene-linear plates to the display-referred pixels a video model saw, and back, with OpenColorIO.

VOID was trained on ordinary sRGB videos, so it must see a plate the way a
viewer sees it: the plate's scene-linear colour space converted to an
sRGB-encoded (display-referred) image in [0, 1]. Its output is converted back
through the exact inverse. The target is an OCIO colour space (default
"sRGB Encoded Rec.709 (sRGB)", a pure encoding that inverts exactly), or a
display and view of the config when ``view`` is given (tone-mapping views such
as ACES SDR do not invert exactly; values round-trip only where the view is
invertible).

Values above display white (highlights brighter than 1.0 after the transform)
cannot be represented by the model, which always returns [0, 1]; they survive
only outside the edit region, where the compositor keeps plate pixels.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np

from void_nuke.display import SRGB_ENCODED as MODEL_COLORSPACE
from void_nuke.errors import VoidError


class ColourError(VoidError):
    code = "colour"


@functools.lru_cache(maxsize=8)
def load_config(config: str):
    """An OCIO config from a file path or an ``ocio://`` built-in URI (cached)."""
    import PyOpenColorIO as OCIO

    try:
        return OCIO.Config.CreateFromFile(config)
    except Exception as exc:  # OCIO raises its own Exception type for every failure
        raise ColourError(f"cannot load the OCIO config {config!r}: {exc}. Give a .ocio file or a built-in "
                          "URI such as ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4") from None


@dataclass(frozen=True)
class ConfigChoice:
    """The OCIO config a job's colour conversions use, and a sentence saying which and why."""

    config: str
    note: str


def choose_config(shot_config: Optional[str], server_config: str) -> ConfigChoice:
    """The shot's OCIO config when this host can read it (after path mapping), else the server's.

    A shot from Nuke carries its script's config (a file or an ``ocio://``
    URI). When that file is not reachable here, or is not a valid config, the
    server's own config is used and the note says so, naming both.
    """
    if not shot_config:
        return ConfigChoice(server_config, f"OCIO config {server_config} (the server's; the shot names none)")
    try:
        load_config(shot_config)
    except ColourError as exc:
        return ConfigChoice(server_config, f"the shot's OCIO config could not be used here ({exc.message}); "
                                           f"used the server's {server_config} instead. Map the path "
                                           "(--path-map) or install the config on this host")
    return ConfigChoice(shot_config, f"OCIO config {shot_config} (the shot's)")


def _check_space(cfg, name: str, what: str) -> None:
    if cfg.getColorSpace(name) is None:
        names = [cs.getName() for cs in cfg.getColorSpaces()]
        raise ColourError(f"the OCIO config has no colour space {name!r} ({what}); it has: "
                          f"{', '.join(names[:30])}{' ...' if len(names) > 30 else ''}")


class ColourTransform:
    """Plate colour space ⇄ the model's display-referred encoding, float32 RGB (H, W, 3)."""

    def __init__(self, config: str, plate_space: str, model_space: str = MODEL_COLORSPACE,
                 display: Optional[str] = None, view: Optional[str] = None) -> None:
        import PyOpenColorIO as OCIO

        cfg = load_config(config)
        _check_space(cfg, plate_space, "the plate's colour space")
        try:
            if view:
                display = display or cfg.getDefaultDisplay()
                forward = OCIO.DisplayViewTransform(src=plate_space, display=display, view=view,
                                                    direction=OCIO.TRANSFORM_DIR_FORWARD)
                inverse = OCIO.DisplayViewTransform(src=plate_space, display=display, view=view,
                                                    direction=OCIO.TRANSFORM_DIR_INVERSE)
                self._to_model = cfg.getProcessor(forward).getDefaultCPUProcessor()
                self._from_model = cfg.getProcessor(inverse).getDefaultCPUProcessor()
                self.description = f"{plate_space} -> {display} / {view}"
            else:
                _check_space(cfg, model_space, "the model's encoding")
                self._to_model = cfg.getProcessor(plate_space, model_space).getDefaultCPUProcessor()
                self._from_model = cfg.getProcessor(model_space, plate_space).getDefaultCPUProcessor()
                self.description = f"{plate_space} -> {model_space}"
        except ColourError:
            raise
        except Exception as exc:
            raise ColourError(f"OCIO cannot build the transform for {plate_space!r}: {exc}") from None

    @staticmethod
    def _apply(processor, rgb: np.ndarray) -> np.ndarray:
        import PyOpenColorIO as OCIO

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ColourError(f"colour transforms take (H, W, 3) RGB, got shape {rgb.shape}")
        out = np.array(rgb, dtype=np.float32, order="C", copy=True)
        processor.apply(OCIO.PackedImageDesc(out, out.shape[1], out.shape[0], 3))
        return out

    def to_model(self, rgb: np.ndarray) -> np.ndarray:
        """Scene-linear plate RGB → display-referred RGB (not clamped)."""
        return self._apply(self._to_model, rgb)

    def from_model(self, rgb: np.ndarray) -> np.ndarray:
        """Display-referred RGB → the plate's scene-linear colour space."""
        return self._apply(self._from_model, rgb)
