"""A remove matte for every frame from SAM2 video segmentation of clicks, boxes and masks.

The artist clicks (positive or negative points), draws boxes, or gives Roto
shapes on any frames; SAM2 tracks each object forward and backward from its
prompted frames, and the union of the objects is the remove matte, at plate
resolution.

SAM2 reads a folder of JPEGs, so the plate is written as display-referred
8-bit frames (sRGB transfer of the scene-linear values, clamped), already at
the model's square input size: SAM2 squeezes every frame to that size anyway,
and a 4K plate then costs no 4K JPEGs. Prompts and output masks stay in plate
pixels, because the predictor's notion of the video size is set to the plate's.

Weights come only from the local checkpoint named by the server settings
(``sam2_checkpoint``, ``sam2_config``, ``sam2_image_size``); nothing is downloaded.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from void_nuke.display import linear_to_srgb, to_uint8
from void_nuke.errors import VoidError
from void_nuke.shapes import BoxPrompt, PointPrompt, Prompts

ProgressFn = Callable[[float, str], None]
ReadRGB = Callable[[int], np.ndarray]

# Shares of the progress bar: frames to JPEG, SAM2 loading them, prompting, tracking.
_WRITE, _LOAD, _PROMPT = 0.15, 0.10, 0.05


class Sam2Error(VoidError):
    code = "sam2"


def segment(frames: Sequence[int], read_rgb: ReadRGB, prompts: Prompts,
            mask_prompts: Mapping[int, np.ndarray], settings: Mapping[str, Any],
            progress: ProgressFn, origin: Tuple[int, int] = (0, 0)
            ) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield ``(frame, matte)`` for every frame of ``frames``, in order.

    ``read_rgb(frame)`` gives scene-linear float RGB ``(H, W, 3)``; ``prompts`` are in
    display-window pixels and ``origin`` is where the frames' top-left pixel sits in
    the display window (the data window's offset). ``mask_prompts`` maps frames to
    boolean masks ``(H, W)`` (rasterised Roto shapes); they are tracked as one object
    of their own. The matte is float32 ``(H, W)`` holding 0 or 1.
    """
    frames = list(frames)
    index = {frame: i for i, frame in enumerate(frames)}
    groups = _group_prompts(prompts, index)
    outside = sorted(set(mask_prompts) - set(index))
    if outside:
        raise Sam2Error(f"mask prompts on frames {outside} lie outside the frames segmented "
                        f"({frames[0]}-{frames[-1]}); key the shapes inside the range")
    if not groups and not mask_prompts:
        raise Sam2Error("SAM2 needs at least one clicked point, box or mask prompt")

    predictor = load_predictor(settings)
    with _precision(predictor.device):
        with tempfile.TemporaryDirectory(prefix="void-sam2-") as jpegs:
            height, width = _write_jpegs(frames, read_rgb, jpegs, predictor.image_size, progress)
            state = predictor.init_state(video_path=jpegs)
        # The JPEGs are square model-size frames; make the predictor think in plate pixels
        # (point normalisation and output masks both use these two numbers).
        state["video_height"], state["video_width"] = height, width
        progress(_WRITE + _LOAD, "SAM2: prompting")

        mask_object = max([obj for obj, _ in groups] + [0]) + 1
        for (obj, frame), (points, box) in sorted(groups.items()):
            _add_points(predictor, state, index[frame], obj, points, box, origin)
        for frame, mask in sorted(mask_prompts.items()):
            mask = np.asarray(mask, bool)
            if mask.shape != (height, width):
                raise Sam2Error(f"the mask prompt for frame {frame} is {mask.shape[1]}x{mask.shape[0]}, "
                                f"the plate is {width}x{height}; rasterise shapes at plate resolution")
            predictor.add_new_mask(state, index[frame], mask_object, mask)

    start = min([index[f] for _, f in groups] + [index[f] for f in mask_prompts])
    yield from _propagate(predictor, state, frames, start, progress)


def _group_prompts(prompts: Prompts, index: Mapping[int, int]
                   ) -> Dict[Tuple[int, int], Tuple[List[PointPrompt], Optional[BoxPrompt]]]:
    """Points and the box of each (object, frame): SAM2 takes them in one call."""
    groups: Dict[Tuple[int, int], Tuple[List[PointPrompt], Optional[BoxPrompt]]] = {}
    for p in prompts.points:
        groups.setdefault((p.object_id, p.frame), ([], None))[0].append(p)
    for b in prompts.boxes:
        points, box = groups.get((b.object_id, b.frame), ([], None))
        if box is not None:
            raise Sam2Error(f"object {b.object_id} has two boxes on frame {b.frame}; SAM2 takes one box "
                            "per object and frame: delete one, or give the other its own object id")
        groups[(b.object_id, b.frame)] = (points, b)
    outside = sorted({frame for _, frame in groups if frame not in index})
    if outside:
        raise Sam2Error(f"clicks on frames {outside} lie outside the frames segmented; "
                        "click inside the frame range")
    return groups


def _add_points(predictor: Any, state: Dict[str, Any], frame_idx: int, obj: int,
                points: List[PointPrompt], box: Optional[BoxPrompt], origin: Tuple[int, int]) -> None:
    ox, oy = origin
    kwargs: Dict[str, Any] = {}
    if points:
        kwargs["points"] = np.array([[p.x - ox, p.y - oy] for p in points], np.float32)
        kwargs["labels"] = np.array([1 if p.positive else 0 for p in points], np.int32)
    if box is not None:
        kwargs["box"] = np.array([box.x0 - ox, box.y0 - oy, box.x1 - ox, box.y1 - oy], np.float32)
    predictor.add_new_points_or_box(state, frame_idx=frame_idx, obj_id=obj, **kwargs)


def _propagate(predictor: Any, state: Dict[str, Any], frames: List[int], start: int,
               progress: ProgressFn) -> Iterator[Tuple[int, np.ndarray]]:
    """Track backward from the first prompted frame, then forward; yield frames in order.

    The backward frames come first in time but last out of SAM2's reverse pass, so
    they are held (bit-packed) until it ends; forward frames stream straight out.
    """
    total = len(frames) + (1 if start > 0 else 0)  # the reverse pass repeats the start frame
    steps = 0

    def tracked(reverse: bool) -> Iterator[Tuple[int, np.ndarray]]:
        nonlocal steps
        passes = predictor.propagate_in_video(state, start_frame_idx=start, reverse=reverse)
        while True:
            with _precision(predictor.device):  # entered per step: never held across a yield
                step = next(passes, None)
                if step is None:
                    return
                frame_idx, _, logits = step
                matte = _union(logits)
            steps += 1
            progress(_WRITE + _LOAD + _PROMPT + (1 - _WRITE - _LOAD - _PROMPT) * steps / total,
                     f"SAM2: tracking frame {frames[frame_idx]}")
            yield frame_idx, matte

    shape: Tuple[int, int] = (state["video_height"], state["video_width"])
    if start > 0:
        held = {i: np.packbits(m) for i, m in tracked(reverse=True) if i < start}
        for frame_idx in range(start):
            matte = np.unpackbits(held.pop(frame_idx), count=shape[0] * shape[1]).reshape(shape)
            yield frames[frame_idx], matte.astype(np.float32)
    for frame_idx, matte in tracked(reverse=False):
        yield frames[frame_idx], matte.astype(np.float32)


def _union(logits: Any) -> np.ndarray:
    """Objects' mask logits ``(objects, 1, H, W)`` → one boolean matte (inside where logit > 0)."""
    return (logits > 0).any(dim=0)[0].cpu().numpy()


def _write_jpegs(frames: Sequence[int], read_rgb: ReadRGB, folder: str, size: int,
                 progress: ProgressFn) -> Tuple[int, int]:
    """Frames as ``<index>.jpg``, sRGB 8-bit at ``size``²; returns the plate's (height, width)."""
    import cv2
    from PIL import Image

    shape: Optional[Tuple[int, int]] = None
    for i, frame in enumerate(frames):
        rgb = np.asarray(read_rgb(frame), np.float32)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise Sam2Error(f"frame {frame} is not an RGB image (shape {rgb.shape})")
        if shape is None:
            shape = rgb.shape[:2]
        elif rgb.shape[:2] != shape:
            raise Sam2Error(f"frame {frame} is {rgb.shape[1]}x{rgb.shape[0]}, frame {frames[0]} is "
                            f"{shape[1]}x{shape[0]}; every frame of a shot needs the same size")
        shrink = size < max(shape)
        small = cv2.resize(np.ascontiguousarray(rgb[:, :, :3]), (size, size),
                           interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        Image.fromarray(to_uint8(linear_to_srgb(small))).save(os.path.join(folder, f"{i:05d}.jpg"),
                                                               quality=95)
        progress(_WRITE * (i + 1) / len(frames), f"SAM2: preparing frame {frame}")
    assert shape is not None
    return shape


# -- the model ---------------------------------------------------------------------------------

def load_predictor(settings: Mapping[str, Any]) -> Any:
    """Build SAM2's video predictor from the local checkpoint the settings name.

    Errors name the setting to fix: ``sam2_checkpoint`` (unset, missing, not a SAM2
    checkpoint), ``sam2_config`` (unknown, or not the one the checkpoint was trained
    with) and ``sam2_image_size``.
    """
    checkpoint = settings.get("sam2_checkpoint")
    config = resolve_config(str(settings.get("sam2_config") or "configs/sam2.1/sam2.1_hiera_l.yaml"))
    image_size = int(settings.get("sam2_image_size") or 1024)
    if not checkpoint:
        raise Sam2Error("sam2_checkpoint is not set: SAM2 needs local weights. Download a SAM2 checkpoint "
                        "(e.g. sam2.1_hiera_large.pt) onto the server and set sam2_checkpoint to its path, "
                        "with sam2_config naming the matching config", code="sam2_checkpoint")
    if not os.path.isfile(checkpoint):
        raise Sam2Error(f"sam2_checkpoint {checkpoint} does not exist on the server; set sam2_checkpoint "
                        "to the path of a local SAM2 .pt file", code="sam2_checkpoint")
    if image_size < 64 or image_size % 32:
        raise Sam2Error(f"sam2_image_size {image_size} is not usable: give a multiple of 32 "
                        "(1024 is what SAM2 was trained at)", code="sam2_image_size")
    device = _device(str(settings.get("device") or "auto"))

    from sam2.build_sam import build_sam2_video_predictor

    try:
        predictor = build_sam2_video_predictor(config, checkpoint, device=device,
                                               hydra_overrides_extra=[f"++model.image_size={image_size}"])
    except KeyError:
        raise Sam2Error(f"sam2_checkpoint {checkpoint} has no 'model' entry: it is not a SAM2 checkpoint "
                        "(SAM2's .pt files hold {'model': state_dict})", code="sam2_checkpoint") from None
    except RuntimeError as exc:
        if "state_dict" in str(exc):
            first = str(exc).split("\n")[1:3]
            raise Sam2Error(f"sam2_checkpoint {checkpoint} does not match sam2_config {config}: "
                            f"{' '.join(s.strip() for s in first)[:300]}. Set sam2_config to the config the "
                            "checkpoint was made for (e.g. sam2.1_hiera_large.pt ↔ "
                            "configs/sam2.1/sam2.1_hiera_l.yaml)", code="sam2_config") from None
        raise Sam2Error(f"sam2_checkpoint {checkpoint} cannot be loaded ({exc}); point sam2_checkpoint at a "
                        "SAM2 .pt file", code="sam2_checkpoint") from None
    except Exception as exc:  # torch.load's unpickling errors have no common base class
        raise Sam2Error(f"sam2_checkpoint {checkpoint} cannot be loaded ({type(exc).__name__}: {exc}); "
                        "point sam2_checkpoint at a SAM2 .pt file", code="sam2_checkpoint") from None
    if not _has_compiled_extension():
        predictor.fill_hole_area = 0  # hole filling needs sam2's CUDA extension; skip it quietly
    if predictor.device.type == "cpu":
        _cast_memory_to_query_dtype(predictor)
    return predictor


def resolve_config(config: str) -> str:
    """A config name sam2's hydra can compose: ``configs/sam2.1/x.yaml``; bare names are looked up."""
    import sam2

    root = os.path.dirname(sam2.__file__)
    candidates = [config]
    if "/" not in config:
        family = "sam2.1" if config.startswith("sam2.1") else "sam2"
        candidates.append(f"configs/{family}/{config}")
    for name in candidates:
        if os.path.isfile(os.path.join(root, name)):
            return name
    known = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(os.path.join(root, "configs"))
                   for f in files if f.endswith(".yaml"))
    raise Sam2Error(f"sam2_config {config!r} is not one of sam2's configs; use one of {', '.join(known)}",
                    code="sam2_config")


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise Sam2Error(f"device {name!r} was asked for but this server has no CUDA GPU; set device to "
                        "'auto' or 'cpu'", code="device")
    return name


def _precision(device: Any) -> Any:
    """bfloat16 autocast on CUDA, as SAM2 is meant to run; plain float32 on the CPU."""
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _cast_memory_to_query_dtype(predictor: Any) -> None:
    """Run memory attention in the query's dtype.

    The video predictor stores memory features as bfloat16 (written for CUDA
    autocast). In float32 on the CPU, a frame whose memory is bfloat16 only (the
    first frames tracked backward) fails in the attention's linear layers with a
    dtype mismatch; casting memory and its position encoding to the query's dtype
    fixes that at no cost in speed.
    """
    attention = predictor.memory_attention
    forward = attention.forward

    def forward_in_query_dtype(curr: Any, memory: Any, curr_pos: Any = None, memory_pos: Any = None,
                               num_obj_ptr_tokens: int = 0) -> Any:
        dtype = (curr[0] if isinstance(curr, list) else curr).dtype
        return forward(curr, memory.to(dtype), curr_pos,
                       None if memory_pos is None else memory_pos.to(dtype), num_obj_ptr_tokens)

    attention.forward = forward_in_query_dtype


def _has_compiled_extension() -> bool:
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True
