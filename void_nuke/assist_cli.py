"""``void-nuke assist`` and ``assist-accept``: ask a VLM for affected regions, then accept them explicitly.

``assist`` writes a proposal file and changes nothing else. After review (the
proposal's shapes may be edited by hand), ``assist-accept`` writes a *new* shot
file with the chosen shapes and the suggested prompt.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Optional, Tuple

import numpy as np

from .display import display_uint8
from .errors import VoidError
from .exrio import read_image, read_matte
from .sequences import SequencePattern
from .shot import MatteSource, Shot
from .vlm_assist import DEFAULT_KEY_ENV, DEFAULT_MODEL, Proposal, VlmConfig, propose
from .voidfolder import in_display_window

DEFAULT_INSTRUCTION = "Remove the object tinted red."


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("assist", help="ask a vision-language model which regions the removal affects "
                                             "(writes a proposal; changes nothing)")
    p.add_argument("shot", help="shot file (.toml, .json or .yaml)")
    p.add_argument("--vlm-url", required=True, help="OpenAI-compatible API base URL or chat/completions endpoint")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default {DEFAULT_MODEL})")
    p.add_argument("--key-env", default=DEFAULT_KEY_ENV,
                   help=f"environment variable holding the API key (default {DEFAULT_KEY_ENV})")
    p.add_argument("--instruction", default=DEFAULT_INSTRUCTION, help="the edit, e.g. 'remove the man and his bike'")
    p.add_argument("--mask", help="remove matte sequence to show the model (default: the shot's remove mattes)")
    p.add_argument("--mask-channel", help="channel of --mask (default alpha, or the only channel)")
    p.add_argument("--samples", type=int, default=10, help="frames shown to the model (default 10)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the answer")
    p.add_argument("-o", "--output", required=True, help="proposal file to write (.json; never overwritten)")
    p.set_defaults(func=cmd_assist)

    p = subparsers.add_parser("assist-accept", help="write a new shot with a proposal's affected shapes and prompt")
    p.add_argument("shot", help="the shot the proposal was made for")
    p.add_argument("proposal", help="proposal file written by 'void-nuke assist'")
    p.add_argument("-o", "--output", required=True, help="new shot file to write (never overwritten)")
    p.add_argument("--only", action="append", metavar="SHAPE", help="accept only this shape; repeatable (default: every proposed shape)")
    p.add_argument("--keep-prompt", action="store_true", help="keep the shot's prompt instead of the suggestion")
    p.set_defaults(func=cmd_assist_accept)


def cmd_assist(args: argparse.Namespace) -> int:
    if os.path.exists(args.output):
        raise VoidError(f"{args.output} already exists; choose another proposal file")
    shot = Shot.load(args.shot)
    config = VlmConfig(url=args.vlm_url, model=args.model, key_env=args.key_env, timeout_s=args.timeout,
                       sample_count=args.samples)
    sources = (MatteSource(args.mask, args.mask_channel),) if args.mask else shot.remove
    frames = list(shot.process_frames)
    primary_frame, mask = first_primary_mask(shot, sources, frames)
    print(f"asking {config.model} about {len(frames)} frames ({config.endpoint})...", file=sys.stderr)
    proposal = propose(config, frames, plate_reader(shot), primary_frame, mask, args.instruction)
    proposal.save(args.output)
    for warning in proposal.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    names = ", ".join(s.name for s in proposal.shapes) or "no shapes"
    print(f"wrote {args.output}: {names}; suggested prompt: {proposal.scene_description!r}")
    print(f"review it, then: void-nuke assist-accept {args.shot} {args.output} -o NEW_SHOT")
    return 0


def cmd_assist_accept(args: argparse.Namespace) -> int:
    if os.path.exists(args.output):
        raise VoidError(f"{args.output} already exists; void-nuke never overwrites a shot file")
    shot = Shot.load(args.shot)
    accepted = Proposal.load(args.proposal).accept(shot, shapes=args.only, use_prompt=not args.keep_prompt)
    accepted.save(args.output)
    added = len(accepted.shapes) - len(shot.shapes)
    print(f"wrote {args.output} with {added} affected shape(s)")
    return 0


def plate_reader(shot: Shot) -> Callable[[int], np.ndarray]:
    """frame → the plate over its display window as 8-bit sRGB, through the shot's colour space."""
    plate = SequencePattern(shot.plate)

    def read(frame: int) -> np.ndarray:
        img = read_image(plate.path(frame))
        return display_uint8(in_display_window(img.rgb(), img.spec), shot.colorspace, shot.ocio_config)

    return read


def first_primary_mask(shot: Shot, sources: Tuple[MatteSource, ...], frames: list
                       ) -> Tuple[int, np.ndarray]:
    """The first frame whose remove matte is not empty, and that matte over the display window."""
    usable = [s for s in sources if s.pattern]
    if not usable:
        raise VoidError("assist shows the model the object to remove, from a remove matte: give --mask "
                        "PATTERN (e.g. a SAM2 matte) or a remove matte sequence in the shot")
    mask: Optional[np.ndarray] = None
    for frame in frames:
        mask = None
        for source in usable:
            values, spec = read_matte(SequencePattern(source.pattern).path(frame), source.channel)
            inside = in_display_window(1.0 - values if source.invert else values, spec) > shot.masks.threshold
            mask = inside if mask is None else (mask | inside)
        if mask is not None and mask.any():
            return frame, mask
    raise VoidError("the remove matte is empty on every frame; there is nothing to show the model")
