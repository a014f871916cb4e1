"""Atomic writes: finished files follow the umask, and a killed writer's leftovers are recognisable."""
from __future__ import annotations

import os
import stat

import pytest

from void_nuke.atomic import atomic_path, atomic_write_bytes, is_temp_name, remove_stale_temps
from void_nuke.versions import OWNER_FILE, claim_version


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_bytes(str(tmp_path / "a.json"), b"{}")
        version = claim_version(str(tmp_path / "out"), "job-1")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == mode
    assert stat.S_IMODE(os.stat(os.path.join(version, OWNER_FILE)).st_mode) == mode


def test_a_killed_writer_leaves_only_a_recognisable_hidden_file(tmp_path):
    target = tmp_path / "sh010.1001.exr"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(target)) as tmp:
            name = os.path.basename(tmp)
            raise KeyboardInterrupt  # an interrupted writer cleans up after itself
    assert not os.listdir(tmp_path)
    assert name.startswith(".sh010.1001.") and name.endswith(".void-tmp.exr") and is_temp_name(name)
    (tmp_path / name).write_bytes(b"half")  # what kill -9 leaves
    (tmp_path / "sh010.1002.exr").write_bytes(b"done")
    (tmp_path / ".hidden-but-not-ours.exr").write_bytes(b"keep")
    assert remove_stale_temps(str(tmp_path)) == [name]
    assert sorted(os.listdir(tmp_path)) == [".hidden-but-not-ours.exr", "sh010.1002.exr"]
    assert not is_temp_name("sh010.1001.exr") and not is_temp_name(".sh010.1001.tmp.exr")
