"""Deadline 10 jobs for the CommandLine plugin: job info and plugin info files.

Each shot becomes three jobs (prepare → render → publish) submitted together
with ``deadlinecommand -SubmitMultipleJobs -Dependent``, which makes each job
wait for the one before it. Render tasks are Deadline chunks: the job's frames
with the shot's segment size as ``ChunkSize``, and ``<STARTFRAME>-<ENDFRAME>``
in the arguments. ``submit.sh`` / ``submit.bat`` hold the commands.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

from ..atomic import atomic_write_bytes
from .plan import FarmError, FarmOptions, FarmShot, result_pattern, write_shot_files

SHOTS_DIR = "shots"
Info = List[Tuple[str, str]]


def quote_arg(arg: str) -> str:
    """Quote an argument for the CommandLine plugin's argument string when it needs it."""
    if arg and not any(c in arg for c in ' \t"'):
        return arg
    return '"' + arg.replace('"', '\\"') + '"'


def job_info(fs: FarmShot, kind: str, options: FarmOptions) -> Info:
    """Job info entries, in a stable order."""
    batch = f"{options.name}-{fs.name}" if options.per_shot else options.name
    out_dir = os.path.join(fs.shot.output.directory, fs.version)
    info: Info = [
        ("Plugin", "CommandLine"),
        ("Name", f"{batch} {fs.name} {kind}"),
        ("BatchName", batch),
        ("Comment", f"VOID object removal, {fs.name} {fs.version} (void-nuke)"),
        ("Priority", str(options.priority)),
    ]
    if options.pool:
        info.append(("Pool", options.pool))
    if kind == "render":
        if options.group:
            info.append(("Group", options.group))
        info += [("Frames", str(fs.shot.frames)), ("ChunkSize", str(fs.chunk_size))]
    else:
        info += [("Frames", str(fs.shot.frames.first)), ("ChunkSize", "1")]
    minutes = getattr(options.timeouts, kind)
    info += [
        ("TaskTimeoutMinutes", str(minutes)),
        ("OnTaskTimeout", "Error"),
        ("ConcurrentTasks", "1"),
        ("OutputDirectory0", out_dir),
    ]
    if kind == "render":
        info.append(("OutputFilename0", result_pattern(fs.shot)))
    info += [("ExtraInfoKeyValue0", f"VoidShot={fs.name}"), ("ExtraInfoKeyValue1", f"VoidVersion={fs.version}")]
    return info


def plugin_info(fs: FarmShot, kind: str, shot_file: str, options: FarmOptions) -> Info:
    if kind == "render":
        args = ["run", "--shot", shot_file, "--frames", "<STARTFRAME>-<ENDFRAME>",
                "--job-id", f"{fs.job_id_prefix}-<STARTFRAME>", "--version", fs.version]
    else:
        args = ["farm", kind, "--shot", shot_file, "--version", fs.version]
        if kind == "prepare" and options.quadmask_preview:
            args.append("--preview")
    return [("Executable", options.executable), ("Arguments", " ".join(quote_arg(a) for a in args)),
            ("StartupDirectory", ""), ("ShellExecute", "False")]


def _text(info: Info) -> bytes:
    return "".join(f"{key}={value}\n" for key, value in info).encode("utf-8")


def write_deadline(farm_shots: Sequence[FarmShot], options: FarmOptions, out_dir: str) -> List[str]:
    """Write job/plugin info files per shot and job, plus the submission scripts."""
    shot_files = write_shot_files(farm_shots, os.path.join(out_dir, SHOTS_DIR))
    written = list(shot_files.values())
    submissions: List[List[str]] = []
    for fs in farm_shots:
        farm_shot_file = options.path_map.map(os.path.abspath(shot_files[fs.name]), strict=True)
        pairs = []
        for kind in ("prepare", "render", "publish"):
            files: Dict[str, Info] = {
                f"{kind}.job_info.job": job_info(fs, kind, options),
                f"{kind}.plugin_info.job": plugin_info(fs, kind, farm_shot_file, options),
            }
            for name, info in files.items():
                path = os.path.join(out_dir, fs.name, name)
                _write(path, _text(info))
                written.append(path)
            pairs.append(f"{fs.name}/{kind}.job_info.job {fs.name}/{kind}.plugin_info.job")
        submissions.append(pairs)
    for name, text in (("submit.sh", _script(submissions, False)), ("submit.bat", _script(submissions, True))):
        path = os.path.join(out_dir, name)
        _write(path, text.encode("utf-8"))
        written.append(path)
    os.chmod(os.path.join(out_dir, "submit.sh"), 0o755)
    return written


def _write(path: str, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except FileExistsError:
        raise FarmError(f"{path} already exists; write the jobs into an empty folder") from None


def _script(submissions: List[List[str]], windows: bool) -> str:
    """``submit.sh`` or ``submit.bat``: one dependent multi-job submission per shot."""
    comment = "rem" if windows else "#"
    head = (["@echo off"] if windows else ["#!/bin/sh"]) + [
        f"{comment} Submit each shot's prepare -> render -> publish jobs to Deadline 10."]
    if windows:
        head += ['cd /d "%~dp0"', 'if "%DEADLINE_COMMAND%"=="" set DEADLINE_COMMAND=deadlinecommand']
    else:
        head += ['cd "$(dirname "$0")" || exit 1', ': "${DEADLINE_COMMAND:=deadlinecommand}"']
    command, fail = ('"%DEADLINE_COMMAND%"', "exit /b 1") if windows else ('"$DEADLINE_COMMAND"', "exit 1")
    lines = list(head)
    for pairs in submissions:
        jobs = " ".join(f"-Job {pair.replace('/', chr(92)) if windows else pair}" for pair in pairs)
        lines.append(f"{command} -SubmitMultipleJobs -Dependent {jobs} || {fail}")
    newline = "\r\n" if windows else "\n"
    return newline.join(lines) + newline
