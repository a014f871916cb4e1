"""Fixtures of the farm tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from farmshots import shot_list_toml, write_tiny_shot


@pytest.fixture
def tiny_shots(tmp_path: Path) -> Path:
    """``tmp_path/shots.toml`` listing two tiny shots, sh010 and sh020, with their plates."""
    for name in ("sh010", "sh020"):
        write_tiny_shot(tmp_path / "plates", name)
    (tmp_path / "shots.toml").write_text(shot_list_toml(["sh010", "sh020"]))
    return tmp_path / "shots.toml"
