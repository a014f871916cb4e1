"""The void-nuke command line: its flags are a contract, its exit codes say what happened."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from void_nuke.exrio import read_image

VOID_NUKE = [sys.executable, "-m", "void_nuke.cli"]


def run(*args, timeout=180):
    return subprocess.run(VOID_NUKE + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def shot_flags(synthetic, out):
    folder = os.path.dirname(synthetic.shot.plate)
    return ["--plate", os.path.join(folder, "plate.####.exr"), "--frames", "1001-1008",
            "--remove", os.path.join(folder, "remove.####.exr"),
            "--affected", os.path.join(folder, "affected.%04d.exr"), "--prompt", "an empty deck",
            "--seed", 3, "--out", out]


def test_submit_writes_the_next_free_version_and_prints_the_job_id(server, synthetic, tmp_path):
    out = tmp_path / "out"
    first = run("submit", *shot_flags(synthetic, out), "--server", server.address, "--job-id", "cli-job")
    assert first.returncode == 0, first.stderr
    assert "job cli-job" in first.stdout and "wrote 8 frames" in first.stdout
    assert sorted(os.listdir(out / "v001"))[1:] == [f"plate.{f}.exr" for f in range(1001, 1009)]
    attrs = read_image(str(out / "v001" / "plate.1004.exr")).spec.attributes
    assert attrs["void:engine"] == "classic" and "void:seed" not in attrs  # only what the engine used
    second = run("submit", *shot_flags(synthetic, out), "--server", server.address)
    assert second.returncode == 0 and (out / "v002").is_dir()

    status = run("status", "cli-job", "--server", server.address)
    assert status.returncode == 0 and "cli-job: done" in status.stdout
    health = run("status", "--server", server.address)
    assert "engine classic: available" in health.stdout
    cancel = run("cancel", "no-such-job", "--server", server.address)
    assert cancel.returncode == 1 and "no job 'no-such-job'" in cancel.stderr


def test_shot_file_and_run_in_process(synthetic, tmp_path):
    shot_file = tmp_path / "shot.toml"
    synthetic.shot.save(str(shot_file))
    result = run("run", "--shot", shot_file, "--out", tmp_path / "local", "--version", "v007")
    assert result.returncode == 0, result.stderr
    files = sorted(os.listdir(tmp_path / "local" / "v007"))
    assert files == [synthetic.shot.result_name(f) for f in synthetic.shot.process_frames]
    again = run("run", "--shot", shot_file, "--out", tmp_path / "local", "--frames", "1001-1002")
    assert again.returncode == 0 and len(os.listdir(tmp_path / "local" / "v008")) == 3  # next free version


def test_bad_input_and_unreachable_servers_exit_with_clear_messages(synthetic, tmp_path):
    bad = run("submit", "--plate", "plate.exr", "--frames", "1-3", "--remove", "m.####.exr", "--out", tmp_path)
    assert bad.returncode == 2 and "plate" in bad.stderr and "####" in bad.stderr
    nothing = run("run", "--plate", tmp_path / "p.####.exr", "--frames", "1-3", "--out", tmp_path)
    assert nothing.returncode == 2 and "nothing to remove" in nothing.stderr
    missing = run("run", *shot_flags(synthetic, tmp_path / "o")[:-2], "--frames", "1001-1020", "--out", tmp_path / "o")
    assert missing.returncode == 2 and "missing" in missing.stderr and "1009" in missing.stderr
    gone = run("submit", *shot_flags(synthetic, tmp_path / "o2"), "--server", "tcp://127.0.0.1:9", "--timeout", 1)
    assert gone.returncode == 3 and "is void-server running" in gone.stderr


def test_demo_runs_end_to_end_over_zeromq(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--out", out, "--frames", 6, "--width", 128, "--height", 72, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contact sheet" in result.stdout
    sheet = read_image(str(out / "contact_sheet.png"))
    assert sheet.spec.width == 3 * 128 + 2 * 4 and sheet.spec.height == 3 * 72 + 2 * 4
    assert np.ptp(sheet.pixels) > 0
    results = sorted(p for p in os.listdir(out / "results" / "v001") if p.endswith(".exr"))
    assert len(results) == 6
