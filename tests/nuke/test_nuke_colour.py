"""The script's OCIO config and the plate's pixel aspect travel with the shot."""
from __future__ import annotations

from pathlib import Path

import pytest

import nuke
from nuke_scene import void_scene
from void_nuke.nuke import colour
from void_nuke.nuke.snapshot import take


@pytest.fixture()
def group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.delenv("OCIO", raising=False)
    return void_scene(str(tmp_path), 1001, 1002)[3]


def _ocio(config: str) -> None:
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["OCIO_config"].setValue(config)


def test_nukes_own_colour_management_sends_no_config(group: object) -> None:
    snap = take(group)
    assert snap.shot.ocio_config is None and snap.notes == ()


def test_a_custom_config_is_sent_as_nuke_evaluates_its_path(group: object, tmp_path: Path) -> None:
    _ocio("custom")
    nuke.root()["project_directory"].setValue(str(tmp_path))
    nuke.root()["customOCIOConfigPath"].setValue("ocio/show.ocio")
    snap = take(group)
    assert snap.shot.ocio_config == str(tmp_path / "ocio" / "show.ocio")
    assert any("show.ocio" in note for note in snap.notes)


def test_foundrys_cg_config_is_the_built_in_ocio_config(group: object) -> None:
    _ocio("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    assert take(group).shot.ocio_config == "ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1"
    assert colour.builtin_uri("fn-nuke_studio-config-v1.0.0_aces-v1.3_ocio-v2.1") == \
        "ocio://studio-config-v1.0.0_aces-v1.3_ocio-v2.1"
    assert colour.builtin_uri("nuke-default") is None


def test_a_config_shipped_with_nuke_is_found_in_its_install(group: object, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _ocio("aces_1.2")
    snap = take(group)
    assert snap.shot.ocio_config is None and "not available outside Nuke" in " ".join(snap.notes)
    shipped = tmp_path / "Nuke15.1v5" / "plugins" / "OCIOConfigs" / "configs" / "aces_1.2" / "config.ocio"
    shipped.parent.mkdir(parents=True)
    shipped.write_text("ocio_profile_version: 1\n")
    monkeypatch.setattr(nuke, "EXE_PATH", str(tmp_path / "Nuke15.1v5" / "Nuke15.1"))
    assert take(group).shot.ocio_config == str(shipped)


def test_the_ocio_environment_variable_wins(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    _ocio("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    monkeypatch.setenv("OCIO", "/studio/ocio/config.ocio")
    snap = take(group)
    assert snap.shot.ocio_config == "/studio/ocio/config.ocio" and "$OCIO" in " ".join(snap.notes)


def test_the_pixel_aspect_comes_from_the_source_format(group: object) -> None:
    assert take(group).shot.pixel_aspect == 1.0
    group.input(0)["format"].setValue(nuke.Format(64, 32, 2.0))
    assert take(group).shot.pixel_aspect == 2.0
