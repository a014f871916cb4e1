"""The VOID engine's settings on a machine that runs it: weights, memory mode, device.

One loader for every command that runs the engine (``void-nuke run`` on a farm
node, ``void-server serve`` on a GPU host, the farm's worker server), so a
farm worker configured once, through environment variables in its queue or
worker environment, serves all of them::

    VOID_MODEL_DIR=/opt/void/CogVideoX-Fun-V1.5-5b-InP  VOID_MEMORY_MODE=model_offload  void-nuke run ...

A flag overrides its environment variable; an empty value (``--model-dir ""``,
which a farm template passes when the job names no folder) counts as not given.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .errors import VoidError

MEMORY_MODES = ("full", "model_offload", "group_offload", "sequential_offload", "fp8")
"""GPU memory modes of the VOID engine, heaviest first but for ``fp8`` (see docs/engine.md)."""


@dataclass(frozen=True)
class Setting:
    """One engine setting: its key in the settings dict, its flag and its environment variable."""

    key: str
    flag: str
    env: str
    help: str
    default: Optional[str] = None
    choices: Optional[Sequence[str]] = None


SETTINGS = (
    Setting("model_dir", "--model-dir", "VOID_MODEL_DIR",
            "VOID base folder laid out like CogVideoX-Fun-V1.5-5b-InP (default: none, the void engine is off)"),
    Setting("pass1", "--pass1", "VOID_PASS1", "Pass 1 checkpoint (default: void_pass1.safetensors in or beside the model folder)"),
    Setting("pass2", "--pass2", "VOID_PASS2", "Pass 2 checkpoint (default: void_pass2.safetensors in or beside the model folder)"),
    Setting("raft_checkpoint", "--raft-checkpoint", "VOID_RAFT_CHECKPOINT",
            "torchvision RAFT-large weights for Pass 2's warped noise (default: none; Pass 2 needs them)"),
    Setting("memory_mode", "--memory-mode", "VOID_MEMORY_MODE", "GPU memory mode", "full", MEMORY_MODES),
    Setting("device", "--device", "VOID_DEVICE", "auto (CUDA if present, else CPU), cuda, cuda:1 or cpu", "auto"),
)
BY_KEY = {s.key: s for s in SETTINGS}


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """The weights flags, each also read from its ``VOID_*`` environment variable."""
    group = parser.add_argument_group("VOID engine (each flag overrides its environment variable)")
    for s in SETTINGS:
        default = f"; default {s.default}" if s.default else ""
        group.add_argument(s.flag, dest=s.key, metavar=s.key.upper(), default=None,
                           help=f"{s.help} (or {s.env}{default})")


def engine_settings(args: Any = None, environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The engine settings from flags (``args``, an argparse namespace or dict) over the environment.

    Values are checked here (a memory mode from either source must be a known one) so
    a typo in a worker's environment is reported by name before any model loads.
    """
    env = os.environ if environ is None else environ
    given = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    settings: Dict[str, Any] = {}
    for s in SETTINGS:
        value, source = given.get(s.key), s.flag
        if not value:
            value, source = env.get(s.env, ""), s.env
        value = (value or "").strip() or s.default
        if value is not None and s.choices and value not in s.choices:
            raise VoidError(f"{source} {value!r} is not a memory mode; use one of {', '.join(s.choices)}",
                            code="bad_argument")
        settings[s.key] = value
    return settings


def flag_or_env(key: str) -> str:
    """``--model-dir or VOID_MODEL_DIR``: how to give a setting, for error messages."""
    s = BY_KEY[key]
    return f"{s.flag} or {s.env}"


def engine_arguments(settings: Mapping[str, Any]) -> List[str]:
    """``settings`` back as command-line flags, e.g. to start a server with them."""
    args = []
    for s in SETTINGS:
        value = settings.get(s.key)
        if value:
            args += [s.flag, str(value)]
    return args
