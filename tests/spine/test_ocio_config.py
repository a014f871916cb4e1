"""The server converts colours with the shot's OCIO config when it can read it, else says which it used."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from void_nuke.pathmap import PathMap
from void_nuke.shot import Shot
from void_server.colour import ColourError, ColourTransform, choose_config
from void_server.settings import ServerSettings

pytestmark = pytest.mark.server
SERVER_CONFIG = ServerSettings(data_dir=".").ocio_config
SHOW_SPACE = "Plate Half Linear (show)"


def show_config(folder: Path) -> Path:
    """A real config file: the ASWF CG config plus a colour space only this show's config has."""
    import PyOpenColorIO as OCIO

    config = OCIO.Config.CreateFromFile(SERVER_CONFIG)
    space = OCIO.ColorSpace(name=SHOW_SPACE)
    space.setTransform(OCIO.MatrixTransform(matrix=[2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1]),
                       OCIO.COLORSPACE_DIR_TO_REFERENCE)
    config.addColorSpace(space)
    config.validate()
    path = folder / "show" / "config.ocio"
    path.parent.mkdir(parents=True)
    path.write_text(config.serialize())
    return path


def test_the_shots_config_is_used_when_this_host_can_read_it(tmp_path: Path) -> None:
    path = show_config(tmp_path)
    choice = choose_config(str(path), SERVER_CONFIG)
    assert choice.config == str(path) and "the shot's" in choice.note
    plate = np.full((2, 2, 3), 0.09, np.float32)
    show = ColourTransform(choice.config, SHOW_SPACE).to_model(plate)
    aces = ColourTransform(choice.config, "ACES2065-1").to_model(plate * 2)
    np.testing.assert_allclose(show, aces, rtol=1e-5)  # the show's space is ACES2065-1 halved
    with pytest.raises(ColourError, match="no colour space 'Plate Half Linear"):
        ColourTransform(SERVER_CONFIG, SHOW_SPACE)


def test_a_config_the_server_cannot_read_falls_back_and_says_so(tmp_path: Path) -> None:
    choice = choose_config(str(tmp_path / "missing" / "config.ocio"), SERVER_CONFIG)
    assert choice.config == SERVER_CONFIG
    assert "missing/config.ocio" in choice.note and f"used the server's {SERVER_CONFIG}" in choice.note
    assert choose_config(None, SERVER_CONFIG).config == SERVER_CONFIG


def test_the_config_path_is_mapped_like_every_other_path(tmp_path: Path) -> None:
    path = show_config(tmp_path)
    shot = Shot.from_dict({"plate": "/studio/plates/a.####.exr", "frames": "1-2", "remove": "/studio/m.####.exr",
                           "output": "/studio/out", "ocio_config": "/studio/show/config.ocio"})
    mapped = shot.with_paths(PathMap([("/studio", str(tmp_path))]).map)
    assert mapped.ocio_config == str(path)
    assert choose_config(mapped.ocio_config, SERVER_CONFIG).config == str(path)
