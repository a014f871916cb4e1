"""Load VOID's components from local files into stock diffusers/transformers classes.

The base folder is laid out like CogVideoX-Fun-V1.5-5b-InP::

    model_dir/transformer/config.json          (only the config is used)
    model_dir/vae/                              AutoencoderKLCogVideoX
    model_dir/text_encoder/                     T5EncoderModel
    model_dir/tokenizer/                        T5Tokenizer (sentencepiece)
    model_dir/scheduler/scheduler_config.json

and VOID's own transformer weights come from ``void_pass1.safetensors`` /
``void_pass2.safetensors``. The transformer is built from the base config with
``in_channels = 48`` (16 noisy + 16 mask + 16 video latents) and the VOID
checkpoint is loaded strictly: a missing, unexpected or differently shaped
tensor is an error naming the key, never a silently random weight.

Nothing here reaches a model hub: every path is a local file.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

import torch

from void_nuke.errors import VoidError


VOID_IN_CHANNELS = 48
"""16 noisy latent channels + 16 VAE(mask) + 16 VAE(video) (spec §4.5)."""

BASE_FOLDERS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")


class ModelFilesError(VoidError):
    """A model file is missing, unreadable or does not match the architecture."""

    code = "model_files"


@dataclass(frozen=True)
class TransformerConfig:
    """The base transformer config as diffusers takes it, plus the keys it would drop.

    ``extra`` keeps VideoX-Fun-only keys such as ``add_noise_in_inpaint_model``
    that change what the pipeline does but are not constructor arguments.
    """

    init: Dict[str, Any]
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def add_noise_in_inpaint_model(self) -> bool:
        return bool(self.extra.get("add_noise_in_inpaint_model", False))


@dataclass
class BaseComponents:
    """Everything of the base folder that both passes share."""

    tokenizer: Any
    text_encoder: torch.nn.Module
    vae: torch.nn.Module
    transformer_config: TransformerConfig
    scheduler_config: Dict[str, Any]


def _require(path: str, what: str) -> str:
    if not os.path.exists(path):
        raise ModelFilesError(f"{what} not found: {path}. Point --model-dir (or VOID_MODEL_DIR) at a folder laid out like "
                              "CogVideoX-Fun-V1.5-5b-InP (transformer/, vae/, text_encoder/, tokenizer/, "
                              "scheduler/)", detail={"path": path})
    return path


def _read_json(path: str, what: str) -> Dict[str, Any]:
    _require(path, what)
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelFilesError(f"cannot read {what} {path}: {exc}", detail={"path": path}) from None
    if not isinstance(data, dict):
        raise ModelFilesError(f"{what} {path} must hold a JSON object", detail={"path": path})
    return data


def check_model_dir(model_dir: str) -> None:
    """Fail early, naming the first missing part of the base folder."""
    if not model_dir:
        raise ModelFilesError("no model folder configured: give --model-dir or set VOID_MODEL_DIR to a folder "
                              "laid out like CogVideoX-Fun-V1.5-5b-InP")
    _require(model_dir, "model folder")
    for name in BASE_FOLDERS:
        _require(os.path.join(model_dir, name), f"the {name}/ folder")
    _require(os.path.join(model_dir, "transformer", "config.json"), "the transformer config")
    _require(os.path.join(model_dir, "scheduler", "scheduler_config.json"), "the scheduler config")


def read_transformer_config(model_dir: str) -> TransformerConfig:
    """The base transformer config with ``in_channels = 48``; unknown keys set aside in ``extra``."""
    from diffusers import CogVideoXTransformer3DModel

    raw = _read_json(os.path.join(model_dir, "transformer", "config.json"), "the transformer config")
    accepted = set(inspect.signature(CogVideoXTransformer3DModel.__init__).parameters) - {"self"}
    init = {k: v for k, v in raw.items() if k in accepted}
    extra = {k: v for k, v in raw.items() if k not in accepted and not k.startswith("_")}
    init["in_channels"] = VOID_IN_CHANNELS
    return TransformerConfig(init=init, extra=extra)


def read_scheduler_config(model_dir: str) -> Dict[str, Any]:
    return _read_json(os.path.join(model_dir, "scheduler", "scheduler_config.json"), "the scheduler config")


def make_scheduler(scheduler_config: Dict[str, Any], pass_number: int) -> Any:
    """The scheduler each reference pass builds from the same config (spec §6).

    Pass 1 uses ``DDIMScheduler`` and Pass 2 ``CogVideoXDDIMScheduler``; they
    agree to ~1e-6 when ``snr_shift_scale`` is 1.0 (the 5B config), and each
    pass keeps its own so a config with another shift behaves as the reference.
    """
    from diffusers import CogVideoXDDIMScheduler, DDIMScheduler

    cls = DDIMScheduler if pass_number == 1 else CogVideoXDDIMScheduler
    return cls.from_config(scheduler_config)


def load_base(model_dir: str, dtype: torch.dtype) -> BaseComponents:
    """Tokenizer, T5 encoder, VAE and the configs, on the CPU in ``dtype``."""
    from diffusers import AutoencoderKLCogVideoX
    from transformers import T5EncoderModel, T5Tokenizer

    check_model_dir(model_dir)
    try:
        tokenizer = T5Tokenizer.from_pretrained(os.path.join(model_dir, "tokenizer"), local_files_only=True)
        text_encoder = T5EncoderModel.from_pretrained(os.path.join(model_dir, "text_encoder"), dtype=dtype,
                                                      local_files_only=True)
        vae = AutoencoderKLCogVideoX.from_pretrained(os.path.join(model_dir, "vae"), torch_dtype=dtype,
                                                     local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelFilesError(f"cannot load the base model from {model_dir}: {exc}",
                              detail={"path": model_dir}) from None
    text_encoder.eval().requires_grad_(False)
    vae.eval().requires_grad_(False)
    return BaseComponents(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                          transformer_config=read_transformer_config(model_dir),
                          scheduler_config=read_scheduler_config(model_dir))


def _check_state_dict(path: str, expected: Dict[str, Tuple[int, ...]], found: Dict[str, Tuple[int, ...]]) -> None:
    """Raise naming the first key that is missing, unexpected or of another shape."""
    name = os.path.basename(path)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        raise ModelFilesError(
            f"{name} lacks {len(missing)} tensor(s) the transformer needs, first {missing[0]!r}: is this a VOID "
            "checkpoint for CogVideoX-Fun-V1.5-5b-InP?", detail={"path": path, "missing": missing[:20]})
    if unexpected:
        raise ModelFilesError(
            f"{name} holds {len(unexpected)} tensor(s) the transformer does not have, first {unexpected[0]!r}: "
            "does the base transformer/config.json match this checkpoint?",
            detail={"path": path, "unexpected": unexpected[:20]})
    for key in sorted(expected):
        if tuple(found[key]) != tuple(expected[key]):
            raise ModelFilesError(
                f"{name}: tensor {key!r} has shape {tuple(found[key])}, the transformer built from "
                f"transformer/config.json expects {tuple(expected[key])}",
                detail={"path": path, "key": key, "expected": list(expected[key]), "found": list(found[key])})


def load_transformer(config: TransformerConfig, checkpoint: str, dtype: torch.dtype) -> torch.nn.Module:
    """``CogVideoXTransformer3DModel`` from ``config`` with every weight from ``checkpoint`` (strict)."""
    from accelerate import init_empty_weights
    from diffusers import CogVideoXTransformer3DModel
    from safetensors import SafetensorError, safe_open

    _require(checkpoint, "the VOID checkpoint")
    with init_empty_weights():
        model = CogVideoXTransformer3DModel.from_config(config.init)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        with safe_open(checkpoint, framework="pt", device="cpu") as fh:
            found = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
            _check_state_dict(checkpoint, expected, found)
            state = {k: fh.get_tensor(k).to(dtype) for k in fh.keys()}
    except (SafetensorError, OSError) as exc:
        raise ModelFilesError(f"cannot read {checkpoint}: {exc}", detail={"path": checkpoint}) from None
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


_HASHES: Dict[Tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def checkpoint_sha256(path: str) -> str:
    """SHA-256 of a file, streamed, cached by (real path, mtime, size) for the process's life."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise ModelFilesError(f"cannot read {path}: {exc.strerror}", detail={"path": path}) from None
    key = (real, st.st_mtime_ns, st.st_size)
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    digest = hashlib.sha256()
    with open(real, "rb") as fh:
        for block in iter(lambda: fh.read(8 * 2 ** 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASHES[key] = value
    return value


