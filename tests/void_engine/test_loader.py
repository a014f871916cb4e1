"""The loader builds stock diffusers classes from the real folder layout and loads VOID weights strictly."""
from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from void_server.engines.void import files, loader


def test_transformer_gets_48_input_channels_and_every_checkpoint_tensor(tiny_model, base_components):
    model_dir, pass1, pass2 = tiny_model
    one = loader.load_transformer(base_components.transformer_config, pass1, torch.float32)
    two = loader.load_transformer(base_components.transformer_config, pass2, torch.float32)
    assert one.config.in_channels == 48
    assert one.patch_embed.proj.weight.shape[1] == 48 * 2 * 2 * 2  # Linear patch embed of 2x2x2 patches
    saved = load_file(pass1)
    state = one.state_dict()
    assert set(state) == set(saved)
    assert all(torch.equal(state[k], saved[k]) for k in saved)
    assert not torch.equal(one.proj_out.weight, two.proj_out.weight)
    assert not any(p.device.type == "meta" for p in one.parameters())


def test_videox_fun_only_keys_are_dropped_but_remembered(tiny_model):
    config = loader.read_transformer_config(tiny_model[0])
    assert "add_noise_in_inpaint_model" not in config.init
    assert config.add_noise_in_inpaint_model is True
    with open(os.path.join(tiny_model[0], "transformer", "config.json")) as fh:
        assert json.load(fh)["in_channels"] == 33  # the base Fun-InP config is left as it is


def test_base_components_are_the_real_classes(base_components):
    from diffusers import AutoencoderKLCogVideoX
    from transformers import T5EncoderModel, T5Tokenizer

    assert isinstance(base_components.vae, AutoencoderKLCogVideoX)
    assert isinstance(base_components.text_encoder, T5EncoderModel)
    assert isinstance(base_components.tokenizer, T5Tokenizer)
    ids = base_components.tokenizer("a duck floats on water").input_ids
    assert ids[-1] == base_components.tokenizer.eos_token_id
    assert len(set(ids)) > 3  # a trained vocabulary, not unknown tokens


def test_each_pass_builds_its_reference_scheduler(base_components):
    from diffusers import CogVideoXDDIMScheduler, DDIMScheduler

    first = loader.make_scheduler(base_components.scheduler_config, 1)
    second = loader.make_scheduler(base_components.scheduler_config, 2)
    assert type(first) is DDIMScheduler and type(second) is CogVideoXDDIMScheduler
    first.set_timesteps(50)
    assert first.config.prediction_type == "v_prediction"
    assert first.timesteps[:3].tolist() == [999, 979, 959]  # trailing spacing (spec §6)


def test_missing_base_part_is_named(model_copy):
    import shutil

    shutil.rmtree(model_copy / "vae")
    with pytest.raises(loader.ModelFilesError, match="vae/ folder not found"):
        loader.load_base(str(model_copy), torch.float32)
    (model_copy / "scheduler" / "scheduler_config.json").unlink()
    with pytest.raises(loader.ModelFilesError, match="scheduler"):
        loader.check_model_dir(str(model_copy))


def test_missing_checkpoint_is_named(base_components, tmp_path):
    path = str(tmp_path / "void_pass1.safetensors")
    with pytest.raises(loader.ModelFilesError, match="VOID checkpoint not found.*void_pass1"):
        loader.load_transformer(base_components.transformer_config, path, torch.float32)


@pytest.mark.parametrize("damage", ["reshape", "drop", "extra"])
def test_checkpoint_that_does_not_fit_names_the_tensor(tiny_model, base_components, tmp_path, damage):
    state = load_file(tiny_model[1])
    key = "proj_out.weight"
    if damage == "reshape":
        state[key] = torch.zeros(state[key].shape[0], state[key].shape[1] + 1)
        expected = r"'proj_out.weight' has shape \(128, 33\).*expects \(128, 32\)"
    elif damage == "drop":
        del state[key]
        expected = "lacks 1 tensor.*'proj_out.weight'"
    else:
        state["ofs_embedding.linear_1.weight"] = torch.zeros(2, 2)
        expected = "does not have.*'ofs_embedding.linear_1.weight'"
    path = str(tmp_path / "broken.safetensors")
    save_file(state, path)
    with pytest.raises(loader.ModelFilesError, match=expected) as info:
        loader.load_transformer(base_components.transformer_config, path, torch.float32)
    assert info.value.detail["path"] == path


def test_checkpoint_hash_is_streamed_sha256_and_follows_changes(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"first" * 1000)
    assert loader.checkpoint_sha256(str(path)) == hashlib.sha256(b"first" * 1000).hexdigest()
    path.write_bytes(b"second!" * 1000)  # new size and mtime: the cache must not answer
    assert loader.checkpoint_sha256(str(path)) == hashlib.sha256(b"second!" * 1000).hexdigest()


def test_checkpoint_paths_default_to_the_model_folder():
    assert files.checkpoint_path({"model_dir": "/m"}, 2) == os.path.join("/m", "void_pass2.safetensors")
    assert files.checkpoint_path({"model_dir": "/m", "pass1": "/w/p1.safetensors"}, 1) == "/w/p1.safetensors"


def test_checkpoints_are_found_inside_or_beside_the_model_folder(tmp_path):
    """The release's README lays void_pass1/2.safetensors beside CogVideoX-Fun-V1.5-5b-InP/."""
    model_dir = tmp_path / "CogVideoX-Fun-V1.5-5b-InP"
    model_dir.mkdir()
    beside = tmp_path / "void_pass1.safetensors"
    beside.write_bytes(b"x")
    for given in (str(model_dir), str(model_dir) + os.sep):  # a trailing slash changes nothing
        assert files.checkpoint_path({"model_dir": given}, 1) == str(beside)
    inside = model_dir / "void_pass1.safetensors"
    inside.write_bytes(b"x")
    assert files.checkpoint_path({"model_dir": str(model_dir)}, 1) == str(inside)  # inside wins
    assert files.describe({"model_dir": str(model_dir)})["available"]


def test_a_missing_checkpoint_names_both_places_searched(tmp_path):
    model_dir = tmp_path / "base"
    model_dir.mkdir()
    reason = files.describe({"model_dir": str(model_dir)})["reason"]
    assert str(model_dir / "void_pass1.safetensors") in reason
    assert str(tmp_path / "void_pass1.safetensors") in reason and "--pass1" in reason
    message = files.missing_checkpoint({"model_dir": str(model_dir), "pass2": "/w/p2.safetensors"}, 2)
    assert "/w/p2.safetensors" in message and "--pass2" in message


def test_hello_describes_void_without_torch_and_says_why_it_is_unavailable(tmp_path):
    assert "--model-dir" in files.describe({})["reason"]
    missing = files.describe({"model_dir": str(tmp_path)})
    assert not missing["available"] and "void_pass1.safetensors" in missing["reason"]
    (tmp_path / "void_pass1.safetensors").write_bytes(b"x")
    (tmp_path / "void_pass2.safetensors").write_bytes(b"x")
    ready = files.describe({"model_dir": str(tmp_path), "memory_mode": "model_offload"})
    assert ready["available"] and ready["passes"] == [1] and ready["memory_mode"] == "model_offload"
    assert files.describe({"model_dir": str(tmp_path), "raft_checkpoint": "/r.pth"})["passes"] == [1, 2]
