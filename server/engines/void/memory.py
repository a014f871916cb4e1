"""GPU memory modes, each one of diffusers' or accelerate's own facilities.

=====================  ==============================================================  ==========
mode                   what stays on the GPU                                           speed
=====================  ==============================================================  ==========
``full``               everything, bf16                                                fastest
``fp8``                everything; transformer weights stored as float8 e4m3 and       ~full
                       cast to bf16 layer by layer (``enable_layerwise_casting``)
``model_offload``      one whole model at a time (``enable_model_cpu_offload``)        slower
``group_offload``      one transformer block at a time, prefetched on a side stream    slower
                       (``enable_group_offload``); the VAE per layer
``sequential_offload`` one layer at a time (accelerate ``cpu_offload``)                slowest
=====================  ==============================================================  ==========

On a CPU (tests, machines without CUDA) everything runs in float32 and the
mode is ignored.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from void_nuke.errors import VoidError
from void_server.settings import MEMORY_MODES

_LIGHTER = {"full": "model_offload", "fp8": "model_offload", "model_offload": "group_offload",
            "group_offload": "sequential_offload"}


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first CUDA GPU when there is one, else the CPU."""
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VoidError(f"device {name!r} was asked for but this machine has no usable CUDA GPU; "
                        "use --device auto or cpu", code="no_gpu")
    return device


def compute_dtype(device: torch.device) -> torch.dtype:
    """bf16 on a GPU, as the reference runs; float32 on the CPU."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def lighter_mode(mode: str) -> Optional[str]:
    """The next mode that needs less GPU memory, or None for the lightest."""
    return _LIGHTER.get(mode)


def out_of_memory(mode: str, what: str) -> VoidError:
    lighter = lighter_mode(mode)
    advice = (f"restart the server with --memory-mode {lighter} (less GPU memory, slower)" if lighter else
              "use a GPU with more memory, a smaller engine resolution, or shorter segments")
    return VoidError(f"the GPU ran out of memory {what} in memory mode {mode!r}: {advice}",
                     code="out_of_memory", detail={"memory_mode": mode, "suggested_mode": lighter})


class MemoryPlan:
    """Places the pipeline's models for one memory mode on one device."""

    def __init__(self, mode: str, device: torch.device) -> None:
        if mode not in MEMORY_MODES:
            raise VoidError(f"unknown memory mode {mode!r}; choose one of {', '.join(MEMORY_MODES)}",
                            code="invalid_settings")
        self.requested = mode
        self.device = device
        self.mode = mode if device.type == "cuda" else "full"

    def adopt(self, module: torch.nn.Module, role: str) -> torch.nn.Module:
        """Prepare one model once, when it is loaded; ``role`` is transformer, text_encoder or vae."""
        if self.mode == "fp8" and role == "transformer":
            module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
        if self.mode in ("full", "fp8"):
            return module.to(self.device)
        if self.mode == "group_offload":
            from diffusers.hooks import apply_group_offloading

            # Block groups for the transformer (called through forward); the VAE, whose
            # encoder/decoder are called directly, per leaf layer.
            kind = "block_level" if role == "transformer" else "leaf_level"
            apply_group_offloading(module, onload_device=self.device, offload_device=torch.device("cpu"),
                                   offload_type=kind, num_blocks_per_group=1 if kind == "block_level" else None,
                                   use_stream=True)
        elif self.mode == "sequential_offload":
            from accelerate import cpu_offload

            cpu_offload(module, self.device, offload_buffers=len(module._parameters) > 0)
        return module

    def place(self, pipe, **components: Any) -> None:
        """Register ``components`` (e.g. the other pass's transformer) on ``pipe`` and re-hook it.

        Model offload chains hooks across the whole pipeline, so it is undone and
        redone around every change; the other modes live on each model.
        """
        if self.mode == "model_offload":
            pipe.remove_all_hooks()
        if components:
            pipe.register_modules(**components)
        if self.mode == "model_offload":
            pipe.enable_model_cpu_offload(device=self.device)
