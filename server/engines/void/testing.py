"""Tiny random-weight VOID models in the real folder layout, for tests and demos.

``make_tiny_void_model`` writes the same classes VOID uses (CogVideoX
transformer, CogVideoX VAE, T5 encoder, a real sentencepiece T5 tokenizer,
a DDIM scheduler config per spec §6) at toy sizes, so the real loader,
pipeline and engine run end to end on a CPU in seconds. Latents keep the
real geometry: 8x spatial and 4x temporal compression, 16 channels, and a
frame size must be a multiple of 16 (VAE 8x times patch size 2), e.g. 32x48.
The output is noise-like: these weights are random.
"""
from __future__ import annotations

import io
import json
import os
from typing import Tuple

import torch

from .files import CHECKPOINT_NAMES
from .loader import VOID_IN_CHANNELS

TINY_TEXT_DIM = 32
TINY_TEXT_LENGTH = 16
TINY_RESOLUTION = "32x48"
"""A model frame for the tiny model (the engine option ``resolution``): multiples of 16, fast on a CPU."""

_TINY_TRANSFORMER = dict(
    num_attention_heads=2, attention_head_dim=16, out_channels=16, time_embed_dim=16,
    text_embed_dim=TINY_TEXT_DIM, num_layers=1, sample_width=128, sample_height=128, sample_frames=85,
    patch_size=2, patch_size_t=2, temporal_compression_ratio=4, max_text_seq_length=TINY_TEXT_LENGTH,
    use_rotary_positional_embeddings=True, use_learned_positional_embeddings=False,
    flip_sin_to_cos=True, freq_shift=0, activation_fn="gelu-approximate", timestep_activation_fn="silu",
    norm_eps=1e-5, norm_elementwise_affine=True, attention_bias=True, patch_bias=False,
)
_TINY_VAE = dict(
    down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
    block_out_channels=(8, 8, 16, 16), latent_channels=16, layers_per_block=1, norm_num_groups=4,
    temporal_compression_ratio=4, scaling_factor=0.7,
)
SCHEDULER_CONFIG = {
    "_class_name": "CogVideoXDDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "set_alpha_to_one": True,
    "steps_offset": 0, "clip_sample": False, "snr_shift_scale": 1.0,
}
_SENTENCES = (
    "a wooden table with a cup on it", "the river flows under the old stone bridge",
    "a yellow duck floats on calm water", "the clock tower stands in the city at day",
    "an empty street with parked cars", "waves roll onto a sandy beach",
)


def write_tokenizer(folder: str) -> None:
    """Train a small sentencepiece unigram model; T5Tokenizer converts it on load."""
    import sentencepiece as spm

    os.makedirs(folder, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_SENTENCES * 8), model_writer=model, vocab_size=48, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False, minloglevel=2)
    with open(os.path.join(folder, "spiece.model"), "wb") as fh:
        fh.write(model.getvalue())
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as fh:
        json.dump({"tokenizer_class": "T5Tokenizer", "model_max_length": TINY_TEXT_LENGTH}, fh)


def _save_transformer_weights(path: str, seed: int) -> None:
    from diffusers import CogVideoXTransformer3DModel
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(in_channels=VOID_IN_CHANNELS, **_TINY_TRANSFORMER)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def make_tiny_void_model(directory: str) -> Tuple[str, str, str]:
    """Write a tiny VOID model under ``directory``; return (model_dir, pass1, pass2) paths."""
    from diffusers import AutoencoderKLCogVideoX
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    model_dir = os.path.join(directory, "CogVideoX-Fun-tiny-InP")
    os.makedirs(os.path.join(model_dir, "transformer"), exist_ok=True)
    os.makedirs(os.path.join(model_dir, "scheduler"), exist_ok=True)
    # The base config is the Fun-InP one (33 input channels) plus VideoX-Fun's own key.
    base = dict(_TINY_TRANSFORMER, in_channels=33, add_noise_in_inpaint_model=True,
                _class_name="CogVideoXTransformer3DModel")
    with open(os.path.join(model_dir, "transformer", "config.json"), "w") as fh:
        json.dump(base, fh, indent=1)
    with open(os.path.join(model_dir, "scheduler", "scheduler_config.json"), "w") as fh:
        json.dump(SCHEDULER_CONFIG, fh, indent=1)

    write_tokenizer(os.path.join(model_dir, "tokenizer"))
    vocab = len(T5Tokenizer.from_pretrained(os.path.join(model_dir, "tokenizer")))
    torch.manual_seed(0)
    T5EncoderModel(T5Config(vocab_size=vocab, d_model=TINY_TEXT_DIM, d_kv=8, d_ff=64, num_layers=1,
                            num_heads=2, feed_forward_proj="gated-gelu", is_encoder_decoder=False)
                   ).save_pretrained(os.path.join(model_dir, "text_encoder"))
    AutoencoderKLCogVideoX(**_TINY_VAE).save_pretrained(os.path.join(model_dir, "vae"))

    pass1 = os.path.join(directory, CHECKPOINT_NAMES[1])
    pass2 = os.path.join(directory, CHECKPOINT_NAMES[2])
    _save_transformer_weights(pass1, seed=1)
    _save_transformer_weights(pass2, seed=2)
    return model_dir, pass1, pass2
