"""Deadline 10 jobs for the CommandLine plugin: job info and plugin info files.

Each shot becomes three jobs (prepare → render → publish) submitted together
with ``deadlinecommand -SubmitMultipleJobs -Dependent``, which makes each job
wait for the one before it. Render tasks are Deadline chunks: the job's frames
with the shot's segment size as ``ChunkSize``, and ``<STARTFRAME>-<ENDFRAME>``
in the arguments. ``submit.sh`` / ``submit.bat`` hold the commands and submit
each shot once (a marker file records what Deadline accepted).

The shot file travels with each job as an auxiliary file (``<AUXFILE0>`` in
the arguments: Deadline copies it to every worker), and every task maps the
shot's paths with the repository's Mapped Paths when it runs
(``--path-mapping-rules deadline``), so one job suits workers of every OS.
Deadline 10 has no GPU-memory or OS requirement for a job: the render job
records them (``ExtraInfoKeyValue``), its tasks refuse a GPU with too little
memory (``--min-gpu-memory``), and ``--group`` should name machines that meet them.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

from ..atomic import atomic_write_bytes
from ..pathmap import DEADLINE
from .plan import FarmError, FarmOptions, FarmShot, claimed_on_farm, result_pattern, write_shot_files

SHOTS_DIR = "shots"
SUBMITTED = "submitted.txt"
"""Written into a shot's folder once Deadline accepted its jobs; ``submit.sh`` skips such shots."""
NO_GROUP = "none"
"""Deadline's own default group."""
Info = List[Tuple[str, str]]


def quote_arg(arg: str) -> str:
    """Quote an argument for the CommandLine plugin's argument string when it needs it."""
    if arg and not any(c in arg for c in ' \t"'):
        return arg
    return '"' + arg.replace('"', '\\"') + '"'


def job_info(fs: FarmShot, kind: str, options: FarmOptions) -> Info:
    """Job info entries, in a stable order."""
    batch = f"{options.name}-{fs.name}" if options.per_shot else options.name
    out_dir = fs.shot.output.directory
    if not claimed_on_farm(fs.version):
        out_dir = os.path.join(out_dir, fs.version)
    group = (options.group if kind == "render" else options.cpu_group) or NO_GROUP
    info: Info = [
        ("Plugin", "CommandLine"),
        ("Name", f"{batch} {fs.name} {kind}"),
        ("BatchName", batch),
        ("Comment", f"VOID object removal, {fs.name} {fs.version} (void-nuke)"),
        ("Priority", str(options.priority)),
    ]
    if options.pool:
        info.append(("Pool", options.pool))
    info.append(("Group", group))
    if options.suspended:
        info.append(("InitialStatus", "Suspended"))
    if kind == "render":
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
    extra = [f"VoidShot={fs.name}", f"VoidVersion={fs.version}", f"VoidOS={options.os_family}"]
    if kind == "render" and options.gpu:
        extra.append(f"VoidGpuMemoryGB={options.render_gpu_memory_gb}")
    info += [(f"ExtraInfoKeyValue{i}", value) for i, value in enumerate(extra)]
    info += [(f"EnvironmentKeyValue{i}", f"{key}={value}")
             for i, (key, value) in enumerate(sorted(options.worker_environment().items()))]
    return info


def plugin_info(fs: FarmShot, kind: str, options: FarmOptions) -> Info:
    shot_file = "<AUXFILE0>"
    if kind == "render":
        args = ["run", "--shot", shot_file, "--frames", "<STARTFRAME>-<ENDFRAME>",
                "--job-id", f"{fs.job_id_prefix}-<STARTFRAME>", "--version", fs.version]
        if options.gpu:
            args += ["--min-gpu-memory", str(options.render_gpu_memory_gb)]
    else:
        args = ["farm", kind, "--shot", shot_file, "--version", fs.version]
        if kind == "prepare" and options.quadmask_preview:
            args.append("--preview")
    if kind in ("render", "prepare"):  # Deadline's CommandLine plugin reads "Progress: N%" lines
        args += ["--progress", "deadline"]
    args += ["--path-mapping-rules", DEADLINE]
    return [("Executable", options.executable), ("Arguments", " ".join(quote_arg(a) for a in args)),
            ("StartupDirectory", ""), ("ShellExecute", "False")]


def _text(info: Info) -> bytes:
    return "".join(f"{key}={value}\n" for key, value in info).encode("utf-8")


def write_deadline(farm_shots: Sequence[FarmShot], options: FarmOptions, out_dir: str) -> List[str]:
    """Write job/plugin info files per shot and job, plus the submission scripts."""
    written = list(write_shot_files(farm_shots, os.path.join(out_dir, SHOTS_DIR)).values())
    submissions: List[Tuple[str, List[str]]] = []
    for fs in farm_shots:
        jobs = []
        for kind in ("prepare", "render", "publish"):
            files: Dict[str, Info] = {
                f"{kind}.job_info.job": job_info(fs, kind, options),
                f"{kind}.plugin_info.job": plugin_info(fs, kind, options),
            }
            for name, info in files.items():
                path = os.path.join(out_dir, fs.name, name)
                _write(path, _text(info))
                written.append(path)
            jobs.append(f"{fs.name}/{kind}.job_info.job {fs.name}/{kind}.plugin_info.job {SHOTS_DIR}/{fs.shot_file}")
        submissions.append((fs.name, jobs))
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


_SH_HEAD = f"""#!/bin/sh
# Submit each shot's prepare -> render -> publish jobs to Deadline 10, each shot once:
# when Deadline accepts a shot's three jobs, its answer (with the job ids) is kept in
# <shot>/{SUBMITTED}, and running this script again skips that shot. After a failure,
# fix the cause and run it again: only the shots not yet submitted are sent.
cd "$(dirname "$0")" || exit 1
: "${{DEADLINE_COMMAND:=deadlinecommand}}"
failed=0
submit() {{  # submit SHOT JOB_ARGUMENTS...
    shot=$1
    shift
    if [ -f "$shot/{SUBMITTED}" ]; then
        echo "$shot: already submitted (delete $shot/{SUBMITTED} to submit it again)"
        return 0
    fi
    "$DEADLINE_COMMAND" -SubmitMultipleJobs -Dependent "$@" > "$shot/submit.log" 2>&1
    status=$?
    cat "$shot/submit.log"
    if [ "$status" -ne 0 ] || [ "$(grep -c '^JobID=' "$shot/submit.log")" -lt 3 ]; then
        echo "$shot: submission failed; run this script again to retry it" >&2
        return 1
    fi
    mv "$shot/submit.log" "$shot/{SUBMITTED}"
}}
"""

_BAT_HEAD = f"""@echo off
rem Submit each shot's prepare -> render -> publish jobs to Deadline 10, each shot once:
rem when Deadline accepts a shot's three jobs, its answer (with the job ids) is kept in
rem <shot>\\{SUBMITTED}, and running this script again skips that shot. After a failure,
rem fix the cause and run it again: only the shots not yet submitted are sent.
setlocal
cd /d "%~dp0"
if "%DEADLINE_COMMAND%"=="" set DEADLINE_COMMAND=deadlinecommand
set failed=0
"""

_BAT_SUBMIT = f""":submit
if exist "%1\\{SUBMITTED}" (
    echo %1: already submitted ^(delete %1\\{SUBMITTED} to submit it again^)
    exit /b 0
)
set shot=%1
shift
"%DEADLINE_COMMAND%" -SubmitMultipleJobs -Dependent %~1 %~2 %~3 > "%shot%\\submit.log" 2>&1
set status=%errorlevel%
type "%shot%\\submit.log"
set count=0
for /f %%n in ('findstr /b /c:"JobID=" "%shot%\\submit.log" ^| find /c /v ""') do set count=%%n
if not "%status%"=="0" goto submit_failed
if %count% lss 3 goto submit_failed
move /y "%shot%\\submit.log" "%shot%\\{SUBMITTED}" >nul
exit /b 0
:submit_failed
echo %shot%: submission failed; run this script again to retry it 1>&2
exit /b 1
"""


def _script(submissions: List[Tuple[str, List[str]]], windows: bool) -> str:
    """``submit.sh`` or ``submit.bat``: one dependent multi-job submission per shot, each once."""
    if windows:
        # each job's three files go to the label as one quoted argument, unquoted again there (%~1)
        lines = [_BAT_HEAD.rstrip("\n")]
        for shot, jobs in submissions:
            triples = " ".join(f'"-Job {job.replace("/", chr(92))}"' for job in jobs)
            lines.append(f"call :submit {shot} {triples} || set failed=1")
        lines += ["exit /b %failed%", "", _BAT_SUBMIT.rstrip("\n")]
        return "\r\n".join("\n".join(lines).split("\n")) + "\r\n"
    lines = [_SH_HEAD.rstrip("\n")]
    for shot, jobs in submissions:
        lines.append(f"submit {shot} " + " ".join(f"-Job {job}" for job in jobs) + " || failed=1")
    lines.append('exit "$failed"')
    return "\n".join(lines) + "\n"
