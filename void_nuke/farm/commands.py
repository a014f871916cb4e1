"""``void-nuke batch`` and ``void-nuke farm ...``: shot lists for TDs and render farms."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict

from ..shot import Shot
from .plan import MAX_SEGMENT_FRAMES, TASKS_PER_SHOT


def cmd_batch(args: argparse.Namespace) -> int:
    from ..batch import load_shot_list, run_batch
    from ..cli import emit_json
    from ..progress import BatchReporter

    shots = load_shot_list(args.shots)
    log = BatchReporter([s.name for s in shots], args.progress, machine_output=args.json)

    def on_outcome(outcome: Any) -> None:
        log.finish(outcome.shot.name, f"{outcome.status}: {outcome.version_dir if outcome.ok else outcome.error}")

    def on_interrupt() -> None:
        log.note("cancelling the running shots (Ctrl-C again to stop waiting)")

    try:
        report = run_batch(shots, servers=args.server or (), jobs=args.jobs,
                           on_progress=lambda shot, p: log(shot.name, p), on_outcome=on_outcome,
                           transfer=args.transfer, on_interrupt=on_interrupt)
    finally:
        log.close()
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
        "priority": args.priority,
        "timeouts": {"prepare": args.prepare_timeout, "render": args.render_timeout,
                     "publish": args.publish_timeout},
    }
    for key in ("pool", "group", "show", "user", "gpu_memory_gb"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    paths = submit_shots(load_shot_list(args.shots), args.farm, args.out, **options)
    for path in paths:
        print(path)
    return 0


def cmd_farm_prepare(args: argparse.Namespace) -> int:
    from ..progress import RUN_LANES, make_reporter
    from .tasks import prepare_shot

    shot = Shot.load(args.shot)
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

    shot = Shot.load(args.shot)
    print(f"{shot.name}: published {publish_shot(shot, args.version)}")
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
    p.set_defaults(func=cmd_farm_write, farm=farm)
    return p


def register(subparsers: Any) -> None:
    from ..cli import add_json_flag, add_progress_flag

    p = subparsers.add_parser("batch", help="run a list of shots on servers or in this process")
    p.add_argument("shots", help="shot list (.toml, .yaml, .json): [defaults] and [[shots]]")
    p.add_argument("--server", action="append",
                   help="a void-server address; repeat to spread shots over several (default: in-process)")
    p.add_argument("--jobs", type=int, help="shots in flight at once (default: one per server)")
    p.add_argument("--transfer", choices=("pixels", "paths"), default="pixels",
                   help="with servers: stream frames (pixels) or use shared storage (paths)")
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_batch)

    farm = subparsers.add_parser("farm", help="write render-farm jobs for a shot list; farm-side tasks")
    sub = farm.add_subparsers(dest="farm_command", required=True)
    _add_farm_writer(sub, "openjd", "Open Job Description job bundle (Deadline Cloud, openjd run)")
    p = _add_farm_writer(sub, "deadline", "Deadline 10 CommandLine jobs (job + plugin info files)")
    p.add_argument("--pool", help="Deadline pool (default: none, the repository's default)")
    p.add_argument("--group", help="Deadline group for render tasks, e.g. your GPU machines (default: none)")
    p = _add_farm_writer(sub, "opencue", "OpenCue job spec XML (opencue-pyoutline)")
    p.add_argument("--show", help="OpenCue show (default void)")
    p.add_argument("--user", help="OpenCue user (default: you)")
    p.add_argument("--gpu-memory", dest="gpu_memory_gb", type=int, help="GB of GPU memory per render task (default: 40)")

    p = sub.add_parser("prepare", help="farm task: check a shot's input frames and make its version folder")
    p.add_argument("--shot", required=True, metavar="FILE", help="the shot file the job wrote (shots/<shot>.toml)")
    p.add_argument("--version", required=True, help="the version folder to deliver into, e.g. v003")
    p.add_argument("--preview", action="store_true",
                   help="also write a quadmask preview into OUT/quadmask/vNNN (what --quadmask-preview asks for)")
    add_progress_flag(p)
    p.set_defaults(func=cmd_farm_prepare)

    p = sub.add_parser("publish", help="farm task: check every frame was delivered and write the manifest")
    p.add_argument("--shot", required=True, metavar="FILE", help="the shot file the job wrote (shots/<shot>.toml)")
    p.add_argument("--version", required=True, help="the version folder to check, e.g. v003")
    p.set_defaults(func=cmd_farm_publish)
