"""``void-nuke batch`` and ``void-nuke farm ...``: shot lists for TDs and render farms."""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from typing import Any, Dict, Optional

from ..engine_settings import MEMORY_MODES, add_engine_flags
from ..pathmap import add_rules_argument, load_rules, localise_shot
from ..shot import Shot
from .plan import GPU_MEMORY_GB, MAX_SEGMENT_FRAMES, OS_FAMILIES, TASKS_PER_SHOT


class StampedLog:
    """A log file (``--log-file``) that receives lines, each stamped with the local date and time."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8")

    def write(self, text: str) -> None:
        stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        for line in text.splitlines():
            self.file.write(f"{stamp} {line}\n")

    def flush(self) -> None:
        self.file.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        self.file.close()


def outcome_line(outcome: Any) -> str:
    """``done on tcp://gpu01:5557 after 2 attempts: /renders/sh010/v003``."""
    detail = outcome.version_dir if outcome.ok else outcome.error
    where = f" on {outcome.server}" if outcome.server else ""
    tries = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
    return f"{outcome.status}{where}{tries}: {detail}"


def cmd_batch(args: argparse.Namespace) -> int:
    from ..batch import load_shot_list, run_batch, select_shots, servers_from_env
    from ..cli import emit_json
    from ..progress import BatchReporter

    shots = select_shots(load_shot_list(args.shots), args.only or ())
    names = [s.name for s in shots]
    reporters = [BatchReporter(names, args.progress, machine_output=args.json)]
    log_file = StampedLog(args.log_file) if args.log_file else None
    if log_file is not None:  # the file gets plain lines whatever the terminal shows
        reporters.append(BatchReporter(names, "plain", stream=log_file, clock=False))

    def on_progress(shot: Shot, event: Any) -> None:
        for reporter in reporters:
            reporter(shot.name, event)

    def on_outcome(outcome: Any) -> None:
        for reporter in reporters:
            reporter.finish(outcome.shot.name, outcome_line(outcome))

    def note(text: str) -> None:
        for reporter in reporters:
            reporter.note(text)

    try:
        report = run_batch(shots, servers=args.server or servers_from_env(), jobs=args.jobs,
                           on_progress=on_progress, on_outcome=on_outcome, transfer=args.transfer,
                           retries=args.retries, timeout=args.timeout,
                           on_server_down=lambda server, why: note(f"server {server} dropped from the batch, "
                                                                   f"its shots go to the others: {why}"),
                           on_interrupt=lambda: note("cancelling the running shots (Ctrl-C again to stop "
                                                     "waiting)"))
    finally:
        for reporter in reporters:
            reporter.close()
        if log_file is not None:
            log_file.close()
    if args.report:
        report.save(args.report)
    if args.json:
        emit_json(report.to_dict())
    else:
        print(report.table(), flush=True)
    if report.abandoned:  # workers are still cancelling: leave without tearing their sockets down under them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(report.exit_code)
    return report.exit_code


def cmd_farm_write(args: argparse.Namespace) -> int:
    from ..batch import load_shot_list
    from .submitter import submit_shots

    options: Dict[str, Any] = {
        "per_shot": args.per_shot, "tasks_per_shot": args.tasks_per_shot, "segment_frames": args.segment_frames,
        "gpu": not args.no_gpu, "version": args.version, "path_map": args.path_map,
        "executable": args.executable, "name": args.name, "quadmask_preview": args.quadmask_preview,
        "priority": args.priority, "dry_run": args.dry_run, "suspended": args.suspended,
        "model_dir": args.model_dir, "memory_mode": args.memory_mode, "cache_dir": args.cache_dir,
        "os_family": args.os_family, "gpu_memory_gb": args.gpu_memory_gb,
        "timeouts": {"prepare": args.prepare_timeout, "render": args.render_timeout,
                     "publish": args.publish_timeout},
    }
    for key in ("pool", "group", "cpu_group", "show", "user", "worker_server"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    paths = submit_shots(load_shot_list(args.shots), args.farm, args.out, **options)
    for path in paths:
        print(path)
    return 0


def load_task_shot(path: str, rules: Optional[str]) -> Shot:
    """A farm task's shot file, its paths mapped for this machine by the render-time rules."""
    return localise_shot(Shot.load(path), load_rules(rules))


def cmd_farm_prepare(args: argparse.Namespace) -> int:
    from ..progress import RUN_LANES, make_reporter
    from .tasks import prepare_shot

    shot = load_task_shot(args.shot, args.path_mapping_rules)
    bar = make_reporter(args.progress, RUN_LANES)
    try:
        report = prepare_shot(shot, args.version, preview=args.preview, on_progress=bar)
    finally:
        bar.close()
    print(f"{shot.name}: {len(report.inputs)} input sequence(s) checked over {report.frames} frames; "
          f"delivering into {report.version_dir}")
    if report.already_delivered:
        print(f"{shot.name}: {len(report.already_delivered)} frame(s) already delivered there are kept")
    if report.preview_dir:
        print(f"{shot.name}: quadmask preview in {report.preview_dir}")
    return 0


def cmd_farm_publish(args: argparse.Namespace) -> int:
    from .tasks import publish_shot

    shot = load_task_shot(args.shot, args.path_mapping_rules)
    print(f"{shot.name}: published {publish_shot(shot, args.version)}")
    return 0


def cmd_farm_server(args: argparse.Namespace) -> int:
    from ..engine_settings import engine_arguments, engine_settings
    from .worker_server import SERVER_ENV, engine_loads, shot_roots, start_worker_server, stop_worker_server

    if args.action == "start":
        shots = [load_task_shot(os.path.join(args.shots, name), args.path_mapping_rules)
                 for name in sorted(os.listdir(args.shots)) if name.endswith(".toml")] if args.shots else []
        address = start_worker_server(args.data, engine_arguments(engine_settings(args)), timeout=args.timeout,
                                      allow_roots=shot_roots(shots))
        print(f"void-server listening on {address} (log: {args.data})")
        print(f"openjd_env: {SERVER_ENV}={address}", flush=True)
        return 0
    state = stop_worker_server(args.data)
    if state is None:
        print(f"no void-server was started in {args.data}")
        return 0
    loads = ", ".join(f"{name} {count}" for name, count in sorted(engine_loads(args.data).items())) or "none"
    print(f"void-server at {state['address']} stopped; engines loaded: {loads}")
    return 0


def cmd_farm_opencue_submit(args: argparse.Namespace) -> int:
    from .opencue import submit_specs

    for name in submit_specs(args.specs, args.cuebot):
        print(f"launched {name}")
    return 0


def _add_farm_writer(sub: Any, farm: str, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(farm, help=help_text)
    p.add_argument("shots", help="shot list (.toml, .yaml, .json) or a single shot file")
    p.add_argument("-o", "--out", required=True, help="empty folder that receives the job files")
    p.add_argument("--name", default="void", help="job (batch) name; per-shot jobs add the shot name")
    p.add_argument("--per-shot", action="store_true", help="one job per shot instead of one for the batch")
    p.add_argument("--tasks-per-shot", choices=TASKS_PER_SHOT, default="auto",
                   help="1: one render task per shot (the engine cross-fades long shots); segments: "
                        "several tasks per shot, each delivering its own frames; auto: 1 for the void "
                        "engine, segments for classic")
    p.add_argument("--segment-frames", type=int, default=MAX_SEGMENT_FRAMES,
                   help=f"longest shot kept in one render task (default {MAX_SEGMENT_FRAMES})")
    p.add_argument("--no-gpu", action="store_true",
                   help="do not ask for a GPU worker (runs the render tasks on any machine)")
    p.add_argument("--version", help="deliver into this version folder (e.g. v003) instead of claiming the "
                                     "next free one now (default: the next free one)")
    p.add_argument("--path-map", help="path-mapping rules from this machine to the farm "
                                      "(OpenJD pathmapping-1.0 JSON, or TOML/YAML [[rules]] source/destination; default: "
                                      "none, the farm sees this machine's paths)")
    p.add_argument("--executable", default="void-nuke", help="the void-nuke command on the workers")
    p.add_argument("--quadmask-preview", action="store_true",
                   help="the prepare task also writes a quadmask preview (OUT/quadmask/vNNN)")
    p.add_argument("--priority", type=int, default=50, help="0-100 (default 50)")
    p.add_argument("--prepare-timeout", type=int, default=30, help="minutes (default 30)")
    p.add_argument("--render-timeout", type=int, default=480, help="minutes per render task (default 480)")
    p.add_argument("--publish-timeout", type=int, default=15, help="minutes (default 15)")
    p.add_argument("--dry-run", action="store_true",
                   help="write the job without touching the output folders; each Prepare task claims the "
                        "shot's next free version on the farm")
    p.add_argument("--suspended", action="store_true", help="submit the jobs suspended (nothing starts until "
                                                            "they are resumed)")
    p.add_argument("--model-dir", default="", help="the VOID model folder as the workers see it (default: their "
                                                   "own VOID_MODEL_DIR)")
    p.add_argument("--memory-mode", default="", choices=("",) + MEMORY_MODES, metavar="MODE",
                   help="the workers' GPU memory mode, which sizes the GPU-memory requirement (default: their "
                        "own VOID_MEMORY_MODE; the requirement is sized for full)")
    p.add_argument("--gpu-memory", dest="gpu_memory_gb", type=int,
                   help="GB of GPU memory a render task asks for (default: the memory mode's figure, "
                        f"{GPU_MEMORY_GB['full']} for full)")
    p.add_argument("--cache-dir", default="", help="shared folder for resumable job state (VOID_CACHE_DIR on the "
                                                   "workers), so a retried task continues another's work")
    p.add_argument("--os", dest="os_family", choices=OS_FAMILIES, default="linux",
                   help="operating system of the workers (default linux)")
    p.set_defaults(func=cmd_farm_write, farm=farm)
    return p


def register(subparsers: Any) -> None:
    from ..cli import add_json_flag, add_progress_flag

    p = subparsers.add_parser("batch", help="run a list of shots on servers or in this process")
    p.add_argument("shots", help="shot list (.toml, .yaml, .json): [defaults] and [[shots]]")
    p.add_argument("--server", action="append",
                   help="a void-server address; repeat to spread shots over several (default: VOID_SERVERS, "
                        "comma-separated, else in this process)")
    p.add_argument("--jobs", type=int, help="shots in flight at once (default: one per server)")
    p.add_argument("--transfer", choices=("pixels", "paths"), default="pixels",
                   help="with servers: stream frames (pixels) or use shared storage (paths)")
    p.add_argument("--only", action="append", metavar="SHOT",
                   help="run only this shot of the list; repeatable (default: every shot)")
    p.add_argument("--retries", type=int, default=0,
                   help="run a failed shot again up to this many times, resuming its job (default 0)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds of server silence before a server counts as gone (default 30)")
    p.add_argument("--report", metavar="FILE", help="also write the report as JSON to FILE (default: none)")
    p.add_argument("--log-file", metavar="FILE",
                   help="also append the progress lines to FILE, time-stamped (default: none)")
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_batch)

    farm = subparsers.add_parser("farm", help="write render-farm jobs for a shot list; farm-side tasks")
    sub = farm.add_subparsers(dest="farm_command", required=True)
    p = _add_farm_writer(sub, "openjd", "Open Job Description job bundle (Deadline Cloud, openjd run)")
    p.add_argument("--no-worker-server", dest="worker_server", action="store_false",
                   help="each render task loads the engine itself instead of sharing one void-server per worker")
    p = _add_farm_writer(sub, "deadline", "Deadline 10 CommandLine jobs (job + plugin info files)")
    p.add_argument("--pool", help="Deadline pool (default: none, the repository's default)")
    p.add_argument("--group", help="Deadline group for render tasks (e.g. your GPU machines; default none)")
    p.add_argument("--cpu-group", help="Deadline group for the prepare and publish jobs (default none)")
    p = _add_farm_writer(sub, "opencue", "OpenCue job spec XML (opencue-pyoutline)")
    p.add_argument("--show", help="OpenCue show (default void)")
    p.add_argument("--user", help="OpenCue user (default: you)")

    p = sub.add_parser("opencue-submit", help="launch OpenCue job specs written by 'farm opencue', each once")
    p.add_argument("specs", nargs="+", metavar="XML")
    p.add_argument("--cuebot", help="Cuebot host or host:port (default: CUEBOT_HOSTS, else pycue's config)")
    p.set_defaults(func=cmd_farm_opencue_submit)

    p = sub.add_parser("server", help="farm step environment: start or stop this worker's void-server "
                                      "(the render tasks share it, so the model loads once)")
    p.add_argument("action", choices=("start", "stop"))
    p.add_argument("--data", required=True, help="the server's folder (job database, log)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds to wait for the server to listen (default 600)")
    p.add_argument("--shots", metavar="DIR", help="the job's shot files: the server may read and write their "
                                                  "input and output folders, and no others (default: none)")
    add_rules_argument(p)
    add_engine_flags(p)
    p.set_defaults(func=cmd_farm_server)

    p = sub.add_parser("prepare", help="farm task: check a shot's input frames and make its version folder")
    p.add_argument("--shot", required=True, metavar="FILE", help="the shot file the job wrote (shots/<shot>.toml)")
    p.add_argument("--version", required=True, help="the version folder to deliver into, e.g. v003")
    p.add_argument("--preview", action="store_true",
                   help="also write a quadmask preview into OUT/quadmask/vNNN (what --quadmask-preview asks for)")
    add_rules_argument(p)
    add_progress_flag(p)
    p.set_defaults(func=cmd_farm_prepare)

    p = sub.add_parser("publish", help="farm task: check every frame was delivered and write the manifest")
    p.add_argument("--shot", required=True, metavar="FILE", help="the shot file the job wrote (shots/<shot>.toml)")
    p.add_argument("--version", required=True, help="the version folder to check, e.g. v003")
    add_rules_argument(p)
    p.set_defaults(func=cmd_farm_publish)
