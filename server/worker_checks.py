"""What a farm worker checks before it runs the void engine in its own process.

``void-nuke run`` calls these on the machine that will do the work, so that a
node without the weights, or with too small a GPU, refuses the task at once,
naming the flag and environment variable to set, instead of failing later.
"""
from __future__ import annotations

from typing import Any, Dict

from void_nuke.engine_settings import flag_or_env
from void_nuke.errors import VoidError

from .engines.registry import describe_engines


def check_void_available(settings: Dict[str, Any], passes: int, command: str = "void-nuke run") -> None:
    """Fail before any work when this machine cannot run the void engine, naming flag and variable."""
    info = describe_engines(settings)["void"]
    if not info["available"]:
        raise VoidError(f"{command} cannot run the void engine: {info['reason']}", code="engine_unavailable")
    if passes == 2 and 2 not in info["passes"]:
        raise VoidError(f"{command}: the shot asks for two passes, which need the Pass 2 checkpoint and RAFT "
                        f"weights: give {flag_or_env('pass2')} (default: in or beside the model folder) and "
                        f"{flag_or_env('raft_checkpoint')}", code="engine_unavailable")


def check_gpu_memory(min_gb: float, device: str = "auto") -> None:
    """Refuse a worker whose GPU has less memory than the job asks for (Deadline 10 cannot ask for it)."""
    import torch

    if not torch.cuda.is_available():
        raise VoidError(f"this worker has no CUDA GPU, and the job asks for one with {min_gb:g} GB; render it on "
                        "GPU machines (the job's group)", code="no_gpu")
    index = torch.device(device if device.startswith("cuda") else "cuda").index or 0
    total = torch.cuda.get_device_properties(index).total_memory / 2 ** 30
    if total < min_gb:
        raise VoidError(f"this worker's GPU has {total:.0f} GB, and the job asks for {min_gb:g} GB; render it on "
                        f"bigger GPUs, or choose a lighter memory mode ({flag_or_env('memory_mode')})",
                        code="no_gpu")
