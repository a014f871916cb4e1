"""Version folders: claimed at the first result, never wasted, shared by the clients of one job."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

from void_nuke.demo import make_synthetic_shot
from void_nuke.versions import (LOCK_NAME, OWNER_FILE, VersionFolder, claim_lock, claim_version, list_versions,
                                release_if_empty)

VOID_NUKE = [sys.executable, "-m", "void_nuke.cli"]


def test_a_folder_is_claimed_only_when_a_result_is_about_to_be_written(tmp_path: Path) -> None:
    folder = VersionFolder(str(tmp_path / "out"), "job-a")
    assert folder.path is None and not folder.has("sh010.1001.exr") and not (tmp_path / "out").exists()
    path = folder.file("sh010.1001.exr")
    assert path == str(tmp_path / "out" / "v001" / "sh010.1001.exr")
    assert (tmp_path / "out" / "v001" / OWNER_FILE).read_text() == "job-a"
    assert VersionFolder(str(tmp_path / "out"), "job-a").path == str(tmp_path / "out" / "v001")  # a retry


def test_an_empty_version_is_given_back_one_holding_frames_never(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    empty, kept = VersionFolder(out, "empty"), VersionFolder(out, "kept")
    empty.claim()
    Path(kept.file("sh010.1001.exr")).write_bytes(b"exr")
    empty.release_if_empty()
    kept.release_if_empty()
    assert list_versions(out) == [2] and empty.path is None
    assert release_if_empty(os.path.join(out, "v002")) is False and (tmp_path / "out" / "v002" / "sh010.1001.exr").exists()
    assert VersionFolder(out, "next").claim() == os.path.join(out, "v003")  # never reuses a number in use


def test_a_named_version_is_made_but_never_removed(tmp_path: Path) -> None:
    folder = VersionFolder(str(tmp_path / "out"), "farm-task", "v005")
    assert folder.claim() == str(tmp_path / "out" / "v005")
    folder.release_if_empty()
    assert (tmp_path / "out" / "v005").is_dir()


def test_concurrent_claims_get_one_folder_per_job(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    got: Dict[str, List[str]] = {}
    lock = threading.Lock()

    def claim(job: str) -> None:
        path = claim_version(out, job)
        with lock:
            got.setdefault(job, []).append(path)

    threads = [threading.Thread(target=claim, args=(f"job-{i % 4}",)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(set(paths)) == 1 for paths in got.values())  # each job has one folder
    assert len({paths[0] for paths in got.values()}) == 4 and list_versions(out) == [1, 2, 3, 4]
    assert not os.path.exists(os.path.join(out, LOCK_NAME))


def test_a_stale_lock_left_by_a_dead_client_is_broken(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / LOCK_NAME).mkdir(parents=True)
    os.utime(out / LOCK_NAME, (0, 0))
    with claim_lock(str(out)):
        assert (out / LOCK_NAME).is_dir()
    assert not (out / LOCK_NAME).exists()


def test_the_same_job_submitted_twice_at_once_shares_one_version(server, tmp_path: Path) -> None:
    shot = make_synthetic_shot(str(tmp_path / "shot"), frames=12, size=(128, 72)).shot
    shot_file = tmp_path / "shot.toml"
    shot.save(str(shot_file))
    out = tmp_path / "out"
    cmd = VOID_NUKE + ["submit", "--shot", str(shot_file), "--out", str(out), "--job-id", "twice", "--server",
                       server.address, "--progress", "plain"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(300), *p.communicate()) for p in procs]
    for code, stdout, stderr in results:
        assert code == 0 and "FileExistsError" not in stderr and "Traceback" not in stderr, stderr
        assert f"wrote 12 frames to {out / 'v001'}" in stdout
    assert list_versions(str(out)) == [1]
    assert sorted(os.listdir(out / "v001")) == sorted([OWNER_FILE] + [shot.result_name(f) for f in shot.process_frames])
