"""Fixtures for the VOID engine tests: one tiny random-weight model for the session."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Tuple

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Tuple[str, str, str]:
    """(model_dir, pass1, pass2) of a tiny VOID model in the real folder layout."""
    from void_server.engines.void.testing import make_tiny_void_model

    return make_tiny_void_model(str(tmp_path_factory.mktemp("void-model")))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run torch on one thread here: the toy models' convolutions are so small that
    splitting them over threads costs more than it saves (about 10x on two cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def base_components(tiny_model: Tuple[str, str, str]):
    from void_server.engines.void.loader import load_base

    return load_base(tiny_model[0], torch.float32)


@pytest.fixture()
def pipeline(tiny_model: Tuple[str, str, str], base_components):
    """A fresh VoidPipeline over the shared tiny components, Pass-1 checkpoint."""
    from void_server.engines.void.loader import load_transformer, make_scheduler
    from void_server.engines.void.pipeline import VoidPipeline

    transformer = load_transformer(base_components.transformer_config, tiny_model[1], torch.float32)
    pipe = VoidPipeline(base_components.tokenizer, base_components.text_encoder, base_components.vae,
                        transformer, make_scheduler(base_components.scheduler_config, 1))
    pipe.add_noise_in_inpaint_model = base_components.transformer_config.add_noise_in_inpaint_model
    return pipe


@pytest.fixture()
def model_copy(tiny_model: Tuple[str, str, str], tmp_path: Path) -> Path:
    """A private copy of the tiny model folder, for tests that break it."""
    import shutil

    target = tmp_path / "model"
    shutil.copytree(tiny_model[0], target)
    return target
