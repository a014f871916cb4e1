"""One loader for the VOID engine's settings: flags over VOID_* environment variables."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from void_nuke.engine_settings import add_engine_flags, engine_arguments, engine_settings
from void_nuke.errors import VoidError


def _parse(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_engine_flags(parser)
    return parser.parse_args(argv)


def test_flags_override_the_environment_and_empty_values_count_as_not_given() -> None:
    env = {"VOID_MODEL_DIR": "/env/model", "VOID_PASS1": "/env/p1.safetensors", "VOID_MEMORY_MODE": "fp8",
           "VOID_DEVICE": "cuda:1"}
    settings = engine_settings(_parse(["--model-dir", "/flag/model", "--memory-mode", "full"]), env)
    assert settings == {"model_dir": "/flag/model", "pass1": "/env/p1.safetensors", "pass2": None,
                        "raft_checkpoint": None, "memory_mode": "full", "device": "cuda:1"}
    # a farm template passes --model-dir "" when the job names no folder: the worker's own setting applies
    assert engine_settings(_parse(["--model-dir", ""]), env)["model_dir"] == "/env/model"
    assert engine_settings(_parse([]), {}) == {"model_dir": None, "pass1": None, "pass2": None,
                                               "raft_checkpoint": None, "memory_mode": "full", "device": "auto"}


def test_a_bad_memory_mode_names_where_it_came_from() -> None:
    with pytest.raises(VoidError, match="VOID_MEMORY_MODE 'fp4' is not a memory mode"):
        engine_settings(_parse([]), {"VOID_MEMORY_MODE": "fp4"})
    with pytest.raises(VoidError, match="--memory-mode 'half' is not a memory mode"):
        engine_settings(_parse(["--memory-mode", "half"]), {})


def test_settings_round_trip_as_flags() -> None:
    settings = engine_settings(_parse(["--model-dir", "/m", "--memory-mode", "model_offload"]), {})
    argv = engine_arguments(settings)
    assert argv == ["--model-dir", "/m", "--memory-mode", "model_offload", "--device", "auto"]
    assert engine_settings(_parse(argv), {"VOID_MEMORY_MODE": "fp8"}) == settings


@pytest.mark.server
def test_void_server_serve_reads_the_same_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from void_server.cli import build_parser, settings_from_args
    from void_server.engines.registry import describe_engines

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "void_pass1.safetensors").write_bytes(b"")
    monkeypatch.setenv("VOID_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("VOID_MEMORY_MODE", "group_offload")
    settings = settings_from_args(build_parser().parse_args(["serve", "--data", str(tmp_path / "d")]))
    assert (settings.model_dir, settings.memory_mode) == (str(tmp_path / "model"), "group_offload")
    assert describe_engines(settings.engine_settings())["void"]["available"] is True
    settings = settings_from_args(build_parser().parse_args(
        ["serve", "--data", str(tmp_path / "d"), "--memory-mode", "full"]))
    assert settings.memory_mode == "full"
    monkeypatch.delenv("VOID_MODEL_DIR")
    reason = describe_engines(settings_from_args(build_parser().parse_args(
        ["serve", "--data", str(tmp_path / "d")])).engine_settings())["void"]["reason"]
    assert "--model-dir" in reason and "VOID_MODEL_DIR" in reason
