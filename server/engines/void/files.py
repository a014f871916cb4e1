"""Where the VOID checkpoints are, decided without importing torch (the server's HELLO uses it).

A checkpoint is the ``pass1``/``pass2`` setting when given; otherwise it is
looked for inside ``model_dir`` and then beside it, in the folder that holds
the base model, which is where the release's README lays them out::

    void-model/
      CogVideoX-Fun-V1.5-5b-InP/     <- model_dir
      void_pass1.safetensors
      void_pass2.safetensors
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

CHECKPOINT_NAMES = {1: "void_pass1.safetensors", 2: "void_pass2.safetensors"}


def checkpoint_candidates(settings: Dict[str, Any], pass_number: int) -> List[str]:
    """The places a pass's checkpoint may be, in the order they are tried."""
    explicit = settings.get(f"pass{pass_number}")
    if explicit:
        return [str(explicit)]
    model_dir = str(settings.get("model_dir") or "")
    name = CHECKPOINT_NAMES[pass_number]
    if not model_dir:
        return [name]
    parent = os.path.dirname(os.path.abspath(model_dir))
    return [os.path.join(model_dir, name), os.path.join(parent, name)]


def checkpoint_path(settings: Dict[str, Any], pass_number: int) -> str:
    """The checkpoint of a pass: the first candidate that exists, else the first candidate."""
    candidates = checkpoint_candidates(settings, pass_number)
    return next((path for path in candidates if os.path.isfile(path)), candidates[0])


def missing_checkpoint(settings: Dict[str, Any], pass_number: int) -> str:
    """What to tell a user whose Pass ``pass_number`` checkpoint is nowhere to be found."""
    candidates = checkpoint_candidates(settings, pass_number)
    if len(candidates) == 1:
        return f"no Pass {pass_number} checkpoint at {candidates[0]}: check --pass{pass_number}"
    return (f"no Pass {pass_number} checkpoint: looked for {CHECKPOINT_NAMES[pass_number]} inside the model "
            f"folder ({candidates[0]}) and beside it ({candidates[1]}); put it in one of those places or give "
            f"--pass{pass_number} PATH")


def describe(settings: Dict[str, Any]) -> Dict[str, Any]:
    """What HELLO says about the VOID engine: available or why not, passes, memory mode."""
    reason = ""
    if not settings.get("model_dir"):
        reason = "start void-server with --model-dir (and --pass1) to enable VOID"
    elif not os.path.isfile(checkpoint_path(settings, 1)):
        reason = missing_checkpoint(settings, 1)
    passes: List[int] = [1]
    if os.path.isfile(checkpoint_path(settings, 2)) and settings.get("raft_checkpoint"):
        passes.append(2)
    return {"available": not reason, "gpu": True, "passes": passes,
            "memory_mode": settings.get("memory_mode"), "reason": reason}
