"""Where the VOID checkpoints are, decided without importing torch (the server's HELLO uses it)."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

CHECKPOINT_NAMES = {1: "void_pass1.safetensors", 2: "void_pass2.safetensors"}


def checkpoint_path(settings: Dict[str, Any], pass_number: int) -> str:
    """The checkpoint of a pass: the ``pass1``/``pass2`` setting, else the file in the model folder."""
    explicit: Optional[str] = settings.get(f"pass{pass_number}")
    if explicit:
        return explicit
    return os.path.join(settings.get("model_dir") or "", CHECKPOINT_NAMES[pass_number])


def describe(settings: Dict[str, Any]) -> Dict[str, Any]:
    """What HELLO says about the VOID engine: available or why not, passes, memory mode."""
    reason = ""
    if not settings.get("model_dir"):
        reason = "no VOID model folder: give --model-dir DIR or set VOID_MODEL_DIR to enable VOID"
    elif not os.path.isfile(checkpoint_path(settings, 1)):
        reason = f"no Pass 1 checkpoint at {checkpoint_path(settings, 1)}; give --pass1 FILE or set VOID_PASS1"
    passes: List[int] = [1]
    if os.path.isfile(checkpoint_path(settings, 2)) and settings.get("raft_checkpoint"):
        passes.append(2)
    return {"available": not reason, "gpu": True, "passes": passes,
            "memory_mode": settings.get("memory_mode"), "reason": reason}
