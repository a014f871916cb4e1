"""Fixtures shared by every test folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # Qt aborts without a platform; never use an empty value
# Some tests import pycue (and with it gRPC) directly; the OpenCue module sets this before it imports
# them, because gRPC's fork handlers now and then abort a child that Python 3.9 forks afterwards.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared reference folder beside the repository (absent in a user's clone)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present beside the repository")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs keep job state under VOID_CACHE_DIR; never in the user's home."""
    monkeypatch.setenv("VOID_CACHE_DIR", str(tmp_path_factory.mktemp("void-cache")))


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Tests that start a void-server are marked ``server`` (the Python 3.9 client run deselects them)."""
    for item in items:
        if {"server", "server_factory"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
