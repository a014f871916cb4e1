"""``void-nuke run`` on a farm node: the weights it is given, the machine it refuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from void_nuke.batch import load_shot_list
from void_nuke.cli import main
from void_nuke.errors import VoidError
from void_nuke.shot import EngineSettings

from farmshots import shot_list_toml, write_tiny_shot

pytestmark = pytest.mark.server


def _void_shot(tmp_path: Path) -> Path:
    write_tiny_shot(tmp_path / "plates", "sh010", 1001, 1003)
    (tmp_path / "shots.toml").write_text(shot_list_toml(["sh010"], "1001-1003"))
    (shot,) = load_shot_list(str(tmp_path / "shots.toml"))
    shot.with_changes(engine=EngineSettings(name="void", steps=2)).save(str(tmp_path / "sh010.toml"))
    return tmp_path / "sh010.toml"


def test_missing_weights_name_the_run_flag_and_variable(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    shot = _void_shot(tmp_path)
    monkeypatch.delenv("VOID_MODEL_DIR", raising=False)
    assert main(["run", "--shot", str(shot), "--work-dir", str(tmp_path / "work")]) == 1
    err = capsys.readouterr().err
    assert "void-nuke run cannot run the void engine" in err and "--model-dir" in err and "VOID_MODEL_DIR" in err
    assert "void-server" not in err
    (tmp_path / "model").mkdir()
    monkeypatch.setenv("VOID_MODEL_DIR", str(tmp_path / "model"))
    assert main(["run", "--shot", str(shot), "--work-dir", str(tmp_path / "work")]) == 1
    err = capsys.readouterr().err
    assert "no Pass 1 checkpoint" in err and str(tmp_path / "model") in err
    assert "--pass1" in err and "VOID_PASS1" in err


def test_a_worker_without_the_gpu_the_job_asks_for_is_refused() -> None:
    torch = pytest.importorskip("torch")
    from void_server.worker_checks import check_gpu_memory

    if torch.cuda.is_available():
        total = torch.cuda.get_device_properties(0).total_memory / 2 ** 30
        with pytest.raises(VoidError, match="render it on bigger GPUs"):
            check_gpu_memory(total + 1)
        check_gpu_memory(1)
    else:
        with pytest.raises(VoidError, match="this worker has no CUDA GPU, and the job asks for one with 40 GB"):
            check_gpu_memory(40)
