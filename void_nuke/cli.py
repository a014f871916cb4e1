"""``void-nuke``: the command line for artists, TDs and farm nodes.

The flags of ``submit`` and ``run`` are a contract other tools rely on; keep
their names. Exit codes: 0 done, 1 the job failed, 2 bad input, 3 the server
could not be reached, 130 cancelled.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
from typing import Any, Dict, List, Optional

from .errors import Cancelled, ServerUnreachable, ShotError, VoidError
from .progress import Progress
from .shot import ENGINES, Shot, new_job_id

COMMAND_MODULES: List[str] = [
    "void_nuke.voidfolder",
    "void_nuke.assist_cli",
    "void_nuke.farm.commands",
]
"""Modules that add subcommands through ``register(subparsers)``."""

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE, EXIT_CANCELLED = 1, 2, 3, 130


class ProgressBar:
    """One updating line on a terminal; a line per 10 % when output is a file (farm logs)."""

    def __init__(self, stream: Any = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_decile = -1
        self._last_stage = ""

    def __call__(self, p: Progress) -> None:
        fraction = min(max(p.fraction, 0.0), 1.0)
        if p.stage in ("upload", "download"):
            fraction = p.done / max(1, p.total)
        filled = int(round(self.width * fraction))
        eta = f" eta {int(p.eta_s // 60)}:{int(p.eta_s % 60):02d}" if p.eta_s is not None else ""
        line = f"{p.stage:<8} [{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}%{eta}  {p.message}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            self.stream.flush()
            return
        decile = int(fraction * 10)
        if decile != self._last_decile or p.stage != self._last_stage:
            self._last_decile, self._last_stage = decile, p.stage
            self.stream.write(line + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# -- shot from flags -----------------------------------------------------------------------

def add_shot_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("shot (or --shot FILE; flags override the file)")
    g.add_argument("--shot", help="a shot file (.toml, .json or .yaml)")
    g.add_argument("--plate", help="plate sequence, e.g. 'DIR/plate.####.exr'")
    g.add_argument("--frames", help="frame range, e.g. 1001-1024")
    g.add_argument("--handles", type=int, help="extra frames before and after the range")
    g.add_argument("--remove", action="append", help="remove matte sequence (alpha, or its only channel); repeatable")
    g.add_argument("--affected", action="append", help="affected matte sequence; repeatable")
    g.add_argument("--prompt", help="the scene after removal, e.g. 'an empty wooden table'")
    g.add_argument("--engine", choices=ENGINES)
    g.add_argument("--steps", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--guidance", type=float)
    g.add_argument("--passes", type=int, choices=(1, 2))
    g.add_argument("--roi", choices=("auto", "roi", "full"))
    g.add_argument("--feather", type=float, help="blend width outside the edit region, pixels")
    g.add_argument("--mask-layer", action="store_true", help="also write the quadmask as a void.mask layer")
    g.add_argument("--no-grain", action="store_true", help="deliver the fill without grain matched to the plate")
    g.add_argument("--name", help="output file name (default: the plate's)")
    g.add_argument("--job-id", help="choose the job id (resubmitting the same id continues that job)")
    g.add_argument("--out", help="output folder; results land in OUT/vNNN/")


def shot_from_args(args: argparse.Namespace) -> Shot:
    data: Dict[str, Any] = {}
    base_dir = os.getcwd()  # paths given as flags are relative to where the command runs
    if args.shot:
        from .shot import load_table

        data = load_table(args.shot)
        base_dir = os.path.dirname(os.path.abspath(args.shot))
    simple = {"plate": args.plate, "frames": args.frames, "prompt": args.prompt}
    data.update({k: v for k, v in simple.items() if v is not None})
    if args.handles is not None:
        data["handles"] = args.handles
    if args.remove:
        data["remove"] = args.remove
    if args.affected:
        data["affected"] = args.affected
    engine = data.get("engine") if isinstance(data.get("engine"), dict) else (
        {"name": data["engine"]} if isinstance(data.get("engine"), str) else {})
    for key in ("engine", "steps", "seed", "guidance", "passes", "roi"):
        value = getattr(args, key)
        if value is not None:
            engine["name" if key == "engine" else key] = value
    data["engine"] = engine
    masks = dict(data.get("masks") or {})
    if args.feather is not None:
        masks["feather"] = args.feather
    data["masks"] = masks
    output = data.get("output") if isinstance(data.get("output"), dict) else (
        {"directory": data["output"]} if isinstance(data.get("output"), str) else {})
    if args.out:
        output["directory"] = os.path.abspath(args.out)
    if args.mask_layer:
        output["mask_layer"] = True
    if args.no_grain:
        output["grain"] = False
    if args.name:
        output["name"] = args.name
    if not output.get("directory"):
        raise ShotError("output", "give --out DIR (results land in DIR/v001, DIR/v002, ...)")
    data["output"] = output
    return Shot.from_dict(data, base_dir=base_dir)


# -- commands --------------------------------------------------------------------------------

def _add_server(parser: argparse.ArgumentParser) -> None:
    from .client import DEFAULT_SERVER

    parser.add_argument("--server", default=DEFAULT_SERVER, help=f"server address (default {DEFAULT_SERVER}; "
                        "or set VOID_SERVER)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds of server silence before giving up")


def cmd_submit(args: argparse.Namespace) -> int:
    from .client import Client

    shot = shot_from_args(args)
    job_id = args.job_id or new_job_id(shot)
    print(f"job {job_id}", flush=True)
    bar = ProgressBar()
    with Client.from_env(args.server, timeout=args.timeout) as client:
        try:
            result = client.run(shot, job_id, on_progress=bar, transfer=args.transfer, preview=args.preview_mask)
        except KeyboardInterrupt:
            bar.finish()
            client.cancel(job_id)
            raise Cancelled(f"cancelled job {job_id} on the server") from None
        finally:
            bar.finish()
    print(f"wrote {len(result.frames)} frames to {result.version_dir}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from void_server.runner import run_shot_local

    shot = shot_from_args(args)
    bar = ProgressBar()
    cancel = threading.Event()
    try:
        result = run_shot_local(shot, job_id=args.job_id, on_progress=bar, cancel_event=cancel,
                                version=args.version, work_dir=args.work_dir, preview=args.preview_mask)
    except KeyboardInterrupt:
        raise Cancelled() from None
    finally:
        bar.finish()
    print(f"wrote {len(result.frames)} frames to {result.version_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .client import Client

    with Client.from_env(args.server, timeout=args.timeout) as client:
        body = client.status(args.job)
    if args.job:
        progress = body.get("progress") or {}
        print(f"{body['job']}: {body['state']}  {body.get('shot')} {body.get('frames')}  "
              f"{len(body.get('results', []))}/{body.get('total')} frames  {progress.get('message', '')}")
        if body.get("error"):
            print(f"error: {VoidError.from_dict(body['error']).summary()}")
        return 0
    gpu = body.get("gpu") or {}
    print(f"void-server {body['version']} at {args.server}: queue {body['queue']}, running {body['running']}, "
          f"GPU {gpu.get('name', 'none')}")
    for name, info in sorted((body.get("engines") or {}).items()):
        print(f"  engine {name}: {'available' if info.get('available') else 'unavailable ' + info.get('reason', '')}")
    for job in body.get("jobs", []):
        print(f"  {job['job']:<32} {job['state']:<10} {job.get('engine') or '':<8} {job.get('frames')}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from .client import Client

    with Client.from_env(args.server, timeout=args.timeout) as client:
        body = client.cancel(args.job)
    print(f"{args.job}: {body['state']}")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from .client import Client

    bar = ProgressBar()
    with Client.from_env(args.server, timeout=args.timeout) as client:
        try:
            result = client.attach(args.job, os.path.abspath(args.out), on_progress=bar)
        finally:
            bar.finish()
    print(f"wrote {len(result.frames)} frames to {result.version_dir}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(os.path.abspath(args.out), frames=args.frames, size=(args.width, args.height))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="void-nuke", description="VOID object-and-interaction removal: "
                                     "submit shots, run them, follow jobs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("submit", help="send a shot to a void-server and write the results")
    add_shot_flags(p)
    _add_server(p)
    p.add_argument("--transfer", choices=("pixels", "paths"), default="pixels",
                   help="pixels: stream frames; paths: the server reads and writes shared storage")
    p.add_argument("--preview-mask", action="store_true", help="deliver the quadmask only, to check it first")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("run", help="run a shot in this process, without a server (farm nodes)")
    add_shot_flags(p)
    p.add_argument("--version", help="write into this version folder (e.g. v003) instead of the next free one")
    p.add_argument("--work-dir", help="folder for resumable job state (default ~/.cache/void-nuke)")
    p.add_argument("--preview-mask", action="store_true", help="deliver the quadmask only")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="a job's state, or the server's health and queue")
    p.add_argument("job", nargs="?")
    _add_server(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cancel", help="cancel a job")
    p.add_argument("job")
    _add_server(p)
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("attach", help="wait for a job and write its results (also after a server restart)")
    p.add_argument("job")
    p.add_argument("--out", required=True)
    _add_server(p)
    p.set_defaults(func=cmd_attach)

    p = sub.add_parser("demo", help="run a generated shot through a local server, end to end")
    p.add_argument("--out", default="demo-output", help="where the demo writes (default ./demo-output)")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--width", type=int, default=480)
    p.add_argument("--height", type=int, default=270)
    p.set_defaults(func=cmd_demo)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ShotError as exc:
        print(f"void-nuke: bad shot: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled as exc:
        print(f"void-nuke: {exc.message}", file=sys.stderr)
        return EXIT_CANCELLED
    except ServerUnreachable as exc:
        print(f"void-nuke: {exc.message}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except VoidError as exc:
        print(f"void-nuke: {exc.summary()}", file=sys.stderr)
        return EXIT_BAD_INPUT if exc.code in ("invalid_shot", "image") else EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
