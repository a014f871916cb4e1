"""One progress reporter for every command: a fraction that never goes back, in the reader's format."""
from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import numpy as np
import pytest

from void_nuke.demo import make_synthetic_shot
from void_nuke.progress import (ATTACH_LANES, STAGE_ORDER, SUBMIT_LANES, BatchReporter, JobTracker, Progress,
                                make_reporter)

VOID_NUKE = [sys.executable, "-m", "void_nuke.cli"]


def _interleaved(total: int = 8) -> List[Progress]:
    """What a client hears while results stream back during the engine stage (the old bar flipped)."""
    events = [Progress("j", "upload", None, n, 24, 0.0, None, f"uploaded {n}/24 frames") for n in (4, 12, 24)]
    events += [Progress("j", "masks", f, i + 1, total, 0.1 * (i + 1) / total, None, f"quadmask {f}")
               for i, f in enumerate(range(1001, 1001 + total))]
    for i in range(total):
        events.append(Progress("j", "engine", 1001 + i, i, total, 0.1 + 0.9 * (i + 1) / total, 3.0, f"frame {1001 + i}"))
        events.append(Progress("j", "download", 1001 + i, i + 1, total, (i + 1) / total, None, f"wrote {i + 1}"))
    events.append(Progress("j", "done", None, total, total, 1.0, 0.0, "finished"))
    return events


def test_the_fraction_never_goes_back_and_the_stage_only_moves_on() -> None:
    tracker = JobTracker(SUBMIT_LANES)
    views = [tracker.update(p) for p in _interleaved()]
    fractions = [v.fraction for v in views]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    stages = [v.stage for v in views]
    changes = [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]]
    assert changes == ["upload", "masks", "engine", "download", "done"]  # download shows once the engine is over
    assert all(STAGE_ORDER.index(a) <= STAGE_ORDER.index(b) for a, b in zip(stages, stages[1:]))


def test_a_job_without_upload_still_reaches_the_end() -> None:
    tracker = JobTracker(SUBMIT_LANES)  # resubmitted: every frame was already on the server
    views = [tracker.update(p) for p in _interleaved() if p.stage != "upload"]
    assert views[-1].fraction == 1.0 and views[0].fraction >= 0.1
    attach = JobTracker(ATTACH_LANES)
    assert [attach.update(p) for p in _interleaved() if p.stage != "upload"][-1].fraction == 1.0


def _openjd_progress(lines: List[str]) -> List[float]:
    """What Open Job Description sessions read from these lines, through their own filter."""
    from openjd.sessions._action_filter import ActionMessageKind, ActionMonitoringFilter

    seen: List[float] = []

    def callback(kind, value, cancel):
        if kind == ActionMessageKind.PROGRESS:
            seen.append(value)

    monitor = ActionMonitoringFilter(session_id="s", callback=callback)
    for line in lines:
        record = logging.LogRecord("openjd", logging.INFO, __file__, 0, line, None, None)
        record.session_id = "s"
        monitor.filter(record)
        assert "ERROR" not in str(record.msg), record.msg
    return seen


def test_the_openjd_format_is_what_openjd_sessions_parse() -> None:
    out = io.StringIO()
    reporter = make_reporter("openjd", SUBMIT_LANES, stream=out)
    for p in _interleaved():
        reporter(p)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("openjd_status: upload")
    seen = _openjd_progress(lines)
    assert seen == sorted(seen) and seen[-1] == 100.0 and len(seen) == len(set(seen))


def test_the_deadline_format_is_whole_percentages() -> None:
    out = io.StringIO()
    reporter = make_reporter("deadline", SUBMIT_LANES, stream=out)
    for p in _interleaved():
        reporter(p)
    percents = [int(m.group(1)) for m in re.finditer(r"^Progress: (\d+)%$", out.getvalue(), re.M)]
    assert percents == sorted(percents) and percents[-1] == 100 and percents[0] < 10


def test_plain_lines_one_per_stage_and_tenth_with_eta_and_a_bar_with_eta() -> None:
    out = io.StringIO()
    reporter = make_reporter("auto", SUBMIT_LANES, stream=out)  # not a terminal: plain
    for p in _interleaved():
        reporter(p)
    lines = out.getvalue().splitlines()
    assert len(lines) <= 14 and all(re.match(r"^\d\d:\d\d:\d\d \w+ +\d+\.\d%", line) for line in lines)
    assert any(" eta " in line for line in lines)
    out = io.StringIO()
    bar = make_reporter("bar", SUBMIT_LANES, stream=out)
    for p in _interleaved():
        bar(p)
    bar.close()
    assert re.search(r"done +100\.0%\|.*\| \d\d:\d\d<\d\d:\d\d, finished", out.getvalue())


def test_a_batch_reports_the_whole_or_each_shot() -> None:
    out = io.StringIO()
    batch = BatchReporter(["sh010", "sh020"], "deadline", stream=out)
    for p in _interleaved():
        batch("sh010", p)
    batch.finish("sh010", "done: v001")
    batch.finish("sh020", "failed: plate missing")
    percents = [int(m) for m in re.findall(r"^Progress: (\d+)%$", out.getvalue(), re.M)]
    assert percents == sorted(percents) and percents[-1] == 100 and 50 in percents
    out = io.StringIO()
    plain = BatchReporter(["sh010"], "plain", stream=out)
    for p in _interleaved():
        plain("sh010", p)
    assert all("[sh010] " in line for line in out.getvalue().splitlines())


@pytest.mark.server
def test_run_reports_to_farm_monitors_on_stdout(tmp_path: Path) -> None:
    shot = make_synthetic_shot(str(tmp_path / "shot"), frames=4, size=(48, 32)).shot
    shot.save(str(tmp_path / "shot.toml"))
    for mode in ("openjd", "deadline"):
        result = subprocess.run(VOID_NUKE + ["run", "--shot", str(tmp_path / "shot.toml"), "--out",
                                             str(tmp_path / mode), "--progress", mode],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        if mode == "openjd":
            seen = _openjd_progress(result.stdout.splitlines())
            assert seen == sorted(seen) and seen[-1] == 100.0
        else:
            lines = result.stdout.splitlines()
            assert "Progress: 100%" in lines and lines[-1] == f"wrote 4 frames to {tmp_path / mode / 'v001'}"


@pytest.mark.server  # PyAV
def test_import_void_counts_each_stage_on_its_own(tmp_path: Path) -> None:
    from void_nuke import voidfolder as vf

    folder = tmp_path / "clip"
    folder.mkdir()
    frames = [np.full((30, 42, 3), 20 * i, np.uint8) for i in range(6)]
    vf.write_video(str(folder / vf.VIDEO_NAME), frames, 12.0, lossless=False, crf=0)
    mask = np.zeros((30, 42, 3), np.uint8)
    mask[8:20, 10:30] = 0
    mask[:8] = 255
    vf.write_video(str(folder / vf.QUADMASK_NAME), [mask] * 6, 12.0, lossless=True)
    (folder / vf.PROMPT_NAME).write_text('{"bg": "a wall"}')
    result = subprocess.run(VOID_NUKE + ["import-void", str(folder), "--out", str(tmp_path / "out"),
                                         "--progress", "plain"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any(re.search(r" plate +\d+\.\d%.* plate 6/6$", line) for line in lines)
    assert any(re.search(r" mask +100\.0%.* mask 6/6$", line) for line in lines)
    assert not any("plate 7/" in line or "mask 7/" in line for line in lines)  # one counter per stage
    again = subprocess.run(VOID_NUKE + ["export-void", str(next((tmp_path / "out").glob("*.toml"))), "--out",
                                        str(folder)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "export into an empty --out folder" in again.stderr
    assert os.path.isfile(folder / vf.VIDEO_NAME)
