"""Make docs/images/framing.jpg: the two ways a plate fills VOID's 384x672 frame (docs/engine.md).

    python docs/make_framing_figure.py

Uses frame 10 of the BigBen sample (544x360, VOID's own plate and quadmask)
when the project's shared samples sit beside the repository, else the
synthetic frame of ``make_mask_figures.py``. Three panels, all 384 pixels
high: the plate with its quadmask, what the model sees with ``fit =
stretch`` (the reference's resize), and with ``fit = letterbox`` (aspect
kept, mirrored bands, outlined in yellow). The model-space mask is laid over
both model frames in the class colours.
"""
from __future__ import annotations

import cv2
import numpy as np

from make_mask_figures import FRAME, IMAGES, SAMPLE, class_colours, read_frame, synthetic
from void_server import modelspace
from void_server.engines.void.framing import fit_box
from void_server.quadmask import quadmask_to_color

GAP, LABEL = 16, 34
YELLOW = (255, 220, 0)


def overlay(picture: np.ndarray, colours: np.ndarray, keep: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``colours`` laid over ``picture`` where ``keep`` is False (the edit region)."""
    out = picture.astype(np.float32)
    edit = ~keep[..., None]
    out = np.where(edit, (1 - alpha) * out + alpha * colours.astype(np.float32), out)
    return np.clip(out, 0, 255).astype(np.uint8)


def model_view(plate: np.ndarray, quadmask: np.ndarray, fit: str) -> np.ndarray:
    """What the model sees of the whole plate, mask laid over, letterbox bands outlined."""
    height, width = plate.shape[:2]
    framing = fit_box((0, 0, width, height), modelspace.MODEL_SIZE, fit)
    video = framing.video_to_model((plate.astype(np.float32) / 255.0)[None])[0]
    mask = framing.mask_to_model(quadmask[None])[0]
    view = overlay(np.round(video * 255).astype(np.uint8), class_colours(mask), mask == 0.0)
    x0, y0, x1, y1 = framing.inner
    if (x0, y0, x1, y1) != (0, 0, view.shape[1], view.shape[0]):
        cv2.rectangle(view, (x0, y0), (x1 - 1, y1 - 1), YELLOW, 2)
    return view


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    strip = np.full((LABEL, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (6, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.62, (20, 20, 20), 1, cv2.LINE_AA)
    return np.concatenate([strip, image], axis=0)


def main() -> None:
    if SAMPLE.is_dir():
        plate = read_frame(SAMPLE / "input_video.mp4", FRAME)
        quadmask = modelspace.quantize_quadmask(read_frame(SAMPLE / "trimask_quadmask.mp4", FRAME)[:, :, 0])
        source = "BigBen"
    else:
        plate, quadmask = synthetic()
        source = "synthetic"
    height, width = plate.shape[:2]
    shown = cv2.resize(overlay(plate, quadmask_to_color(quadmask), quadmask == 255),
                       (round(width * 384 / height), 384), interpolation=cv2.INTER_AREA)
    panels = [labelled(shown, f"plate {width}x{height} ({source}) and its quadmask"),
              labelled(model_view(plate, quadmask, "stretch"), "fit = stretch (default, the reference's)"),
              labelled(model_view(plate, quadmask, "letterbox"), "fit = letterbox (mirrored bands)")]
    gap = np.full((panels[0].shape[0], GAP, 3), 255, np.uint8)
    figure = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    IMAGES.mkdir(exist_ok=True)
    cv2.imwrite(str(IMAGES / "framing.jpg"), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {IMAGES / 'framing.jpg'} ({figure.shape[1]}x{figure.shape[0]}, {source})")


if __name__ == "__main__":
    main()
