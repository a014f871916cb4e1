"""``void-nuke``: the command line for artists, TDs and farm nodes.

Each command has a function that builds its parser (``add_<command>_parser``)
and one that runs it (``cmd_<command>``). The flags of ``submit`` and ``run``
are a contract other tools rely on; keep their names. docs/cli.md documents
every command, flag and exit code:

    0 done · 1 failed · 2 bad input · 3 server unreachable · 4 not finished yet (status)
    5 internal error · 129 terminal closed (job goes on) · 130 cancelled · 141 output closed

No command prints a raw traceback: expected errors print their message (with
the server's trace id when it sent one), anything else one line saying where
the traceback was saved (``--debug`` prints it).
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import signal
import sys
import traceback
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence

from . import __version__
from .engine_settings import add_engine_flags
from .errors import (EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_CANCELLED, EXIT_DONE, EXIT_FAILED, EXIT_INTERNAL,
                     EXIT_NOT_FINISHED, Cancelled, Detached, ShotError, VoidError, exit_code)
from .pathmap import add_rules_argument
from .progress import ATTACH_LANES, PROGRESS_MODES, RUN_LANES, SUBMIT_LANES, Lane, Reporter, make_reporter
from .results import RunResult
from .shot import ENGINES, ROI_MODES, TRANSFERS, EngineSettings, MaskSettings, Shot, new_job_id

COMMAND_MODULES: List[str] = [
    "void_nuke.voidfolder",
    "void_nuke.assist_cli",
    "void_nuke.farm.commands",
]
"""Modules that add subcommands through ``register(subparsers)``."""

STATE_EXIT = {"done": EXIT_DONE, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}
"""``status JOB``'s exit code by job state; a job still under way exits ``EXIT_NOT_FINISHED``."""


# -- parsers ---------------------------------------------------------------------------------

class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds ``(default: X)`` to a flag's help when it has a default worth showing and the help
    does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or isinstance(default, bool) or default == argparse.SUPPRESS \
                or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class CommandParser(argparse.ArgumentParser):
    """The parser of void-nuke and of each command: defaults in the help, ``--debug`` everywhere,
    and an unknown flag reported with the usage of the command it was given to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                          help="print the traceback of an internal error instead of saving it to a file "
                               "(or set VOID_DEBUG=1)")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                        help="auto: a bar on a terminal, plain log lines otherwise; openjd: openjd_progress "
                             "lines for Open Job Description; deadline: 'Progress: N%%' lines for Deadline 10")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout (progress goes to stderr)")


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    from .client import CONNECT_TIMEOUT_S, DEFAULT_SERVER

    parser.add_argument("--server", default=DEFAULT_SERVER,
                        help="void-server address: host, host:port or tcp://host:port, port 5557 when left out "
                             "(default: $VOID_SERVER, else tcp://127.0.0.1:5557)")
    parser.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="S",
                        help="seconds to wait for the server's first answer before saying nothing answers")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="seconds of server silence during a job before giving up (the job goes on there)")


def add_shot_flags(parser: argparse.ArgumentParser) -> None:
    engine, masks = EngineSettings(), MaskSettings()
    g = parser.add_argument_group("shot (or --shot FILE; flags override the file)")
    g.add_argument("--shot", metavar="FILE", help="a shot file (.toml, .json or .yaml); the flags below "
                                                  "override its fields (default: none, the flags say it all)")
    g.add_argument("--plate", metavar="PATTERN", help="plate sequence, e.g. 'DIR/sh010.####.exr' or "
                                                      "'DIR/sh010.%%04d.exr' (required, here or in the shot file)")
    g.add_argument("--frames", metavar="A-B", help="frame range, e.g. 1001-1024 (required, here or in the "
                                                   "shot file)")
    g.add_argument("--handles", type=int, metavar="N", help="extra frames processed and delivered before and "
                                                            "after the range (default: 0)")
    g.add_argument("--remove", action="append", metavar="PATTERN",
                   help="remove matte sequence (its alpha, or its only channel); repeatable (default: the "
                        "shot file's)")
    g.add_argument("--affected", action="append", metavar="PATTERN",
                   help="affected matte sequence (what the object changed: shadow, reflection...); "
                        "repeatable (default: the shot file's, else none)")
    g.add_argument("--prompt", help="the scene after removal, e.g. 'an empty wooden table'; the void engine "
                                    "uses it (default: empty)")
    g.add_argument("--colorspace", metavar="NAME",
                   help="OCIO colour space of the plate's pixels. Integer plates (JPEG, PNG, TIFF, DPX) are "
                        "converted from it to scene-linear (default: 'Linear Rec.709 (sRGB)' for float "
                        "plates, the file's own for JPEG and PNG)")
    g.add_argument("--engine", choices=ENGINES, help="classic: CPU, no weights; void: the VOID model on a "
                                                     f"GPU (default: {engine.name})")
    g.add_argument("--steps", type=int, help=f"denoising steps, void engine (default: {engine.steps})")
    g.add_argument("--seed", type=int, help=f"random seed, void engine (default: {engine.seed})")
    g.add_argument("--guidance", type=float, help="classifier-free guidance scale, void engine; 1 = none "
                                                  f"(default: {engine.guidance:g})")
    g.add_argument("--passes", type=int, choices=(1, 2), help="1, or 2 to add VOID's warped-noise second "
                                                              f"pass, void engine (default: {engine.passes})")
    g.add_argument("--roi", choices=ROI_MODES, help="void engine framing: roi crops around the edit region, "
                                                    "full takes the whole frame, auto crops when the plate is "
                                                    f"larger than the model frame (default: {engine.roi})")
    g.add_argument("--feather", type=float, metavar="PX", help="blend width outside the edit region, pixels "
                                                               f"(default: {masks.feather:g})")
    g.add_argument("--mask-layer", action="store_true", help="also write the quadmask as a void.mask layer "
                                                             "(default: off)")
    g.add_argument("--no-grain", action="store_true", help="deliver the fill without grain matched to the plate "
                                                           "(default: grain matched)")
    g.add_argument("--name", help="output file name (default: the plate's, e.g. sh010)")
    g.add_argument("--job-id", help="choose the job id; resubmitting the same id continues that job in its own "
                                    "version folder (default: the shot name and a random suffix)")
    g.add_argument("--out", metavar="DIR", help="output folder; results land in DIR/v001, DIR/v002... "
                                                "(required, here or as the shot file's output)")


def add_submit_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("submit", help="send a shot to a void-server and write the results",
                       description="Check the shot's input files, send it to a void-server, follow it and write "
                                   "the results into OUT/vNNN. Ctrl-C cancels the job on the server; --detach "
                                   "leaves it running there (collect it with 'void-nuke attach').")
    add_shot_flags(p)
    add_server_flags(p)
    p.add_argument("--transfer", choices=TRANSFERS, default="pixels",
                   help="pixels: stream frames; paths: the server reads and writes shared storage")
    p.add_argument("--preview-mask", action="store_true",
                   help="deliver the quadmask only, to check it first (into OUT/quadmask/vNNN)")
    p.add_argument("--detach", action="store_true",
                   help="return once the server has the job (after the upload) and print the attach command")
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_submit)
    return p


def add_run_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a shot in this process, without a server (farm nodes)",
                       description="Check the shot's input files and run it in this process (needs the "
                                   "[server] extra). Ctrl-C stops it; results already written stay.")
    add_shot_flags(p)
    p.add_argument("--version", help="write into this version folder (e.g. v003) instead of the next free one "
                                     "(default: claim the next free one at the first result)")
    p.add_argument("--work-dir", metavar="DIR", help="folder for resumable job state, kept in DIR/jobs/<job id> "
                                                     "(default: $VOID_CACHE_DIR, else ~/.cache/void-nuke)")
    p.add_argument("--preview-mask", action="store_true",
                   help="deliver the quadmask only (into OUT/quadmask/vNNN)")
    p.add_argument("--server", help="run on this void-server (shared storage) instead of in this process "
                                    "(default: VOID_RUN_SERVER, set by a farm render step's worker server)")
    p.add_argument("--min-gpu-memory", type=float, default=0, metavar="GB",
                   help="refuse to run the void engine on a GPU with less memory (farm jobs that cannot ask for it)")
    add_rules_argument(p)
    add_engine_flags(p)
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_run)
    return p


def add_status_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("status", help="a job's state, or the server's health and queue",
                       description="With a job id: the job's state; the exit code says it (0 done, 1 failed, "
                                   "4 not finished yet, 130 cancelled). Without: the server's health and queue.")
    p.add_argument("job", nargs="?", help="a job id (default: show the server)")
    add_server_flags(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_status)
    return p


def add_cancel_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("cancel", help="cancel a job on its server")
    p.add_argument("job", help="the job id")
    add_server_flags(p)
    p.set_defaults(func=cmd_cancel)
    return p


def add_attach_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("attach", help="wait for a job and write its results (also after a server restart)",
                       description="Follow a job that is on a server (after --detach, a closed terminal or a "
                                   "lost connection) and write the frames OUT does not have yet, into the job's "
                                   "own version folder. Ctrl-C stops following; the job goes on.")
    p.add_argument("job", help="the job id")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the shot's output folder; results land in DIR/vNNN (the job's own version)")
    add_server_flags(p)
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_attach)
    return p


def add_demo_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run a generated shot through a local server, end to end")
    p.add_argument("--out", default="demo-output", metavar="DIR", help="where the demo writes")
    p.add_argument("--frames", type=int, default=24, help="frames in the generated shot")
    p.add_argument("--width", type=int, default=480, help="width of the generated plate, pixels")
    p.add_argument("--height", type=int, default=270, help="height of the generated plate, pixels")
    add_progress_flag(p)
    p.set_defaults(func=cmd_demo)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="void-nuke", description="VOID object-and-interaction removal: submit shots, "
                           "run them, follow jobs. Every command takes --help; docs/cli.md has them all.")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_submit_parser, add_run_parser, add_status_parser, add_cancel_parser, add_attach_parser,
                add_demo_parser):
        add(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def version_text() -> str:
    from .protocol import PROTOCOL_VERSION

    return (f"void-nuke {__version__} (protocol {PROTOCOL_VERSION}, Python "
            f"{sys.version_info.major}.{sys.version_info.minor})")


# -- shot from flags -------------------------------------------------------------------------

def shot_from_args(args: argparse.Namespace) -> Shot:
    data: Dict[str, Any] = {}
    base_dir = os.getcwd()  # paths given as flags are relative to where the command runs
    if args.shot:
        from .shot import load_table

        data = load_table(args.shot)
        base_dir = os.path.dirname(os.path.abspath(args.shot))
    simple = {"plate": args.plate, "frames": args.frames, "prompt": args.prompt, "colorspace": args.colorspace}
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


def checked_shot(args: argparse.Namespace, shot: Shot) -> Shot:
    """``shot`` with its input files checked; notes (a colour conversion) go to stderr."""
    from .preflight import prepare

    checked = prepare(shot, colorspace_given=args.colorspace is not None)
    for note in checked.notes:
        print(f"void-nuke: note: {note}", file=sys.stderr, flush=True)
    return checked.shot


# -- output ----------------------------------------------------------------------------------

def emit_json(document: Dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, sort_keys=True), flush=True)


def result_document(result: RunResult, **extra: Any) -> Dict[str, Any]:
    doc: Dict[str, Any] = {"job": result.job_id, "state": result.state, "version_dir": result.version_dir,
                           "pattern": result.pattern, "frames": list(result.frames)}
    doc.update(extra)
    return doc


def report_result(args: argparse.Namespace, result: RunResult, **extra: Any) -> None:
    if args.json:
        emit_json(result_document(result, **extra))
    else:
        print(f"wrote {len(result.frames)} frames to {result.version_dir}", flush=True)


@contextmanager
def progress_for(args: argparse.Namespace, lanes: Sequence[Lane]) -> Iterator[Reporter]:
    reporter = make_reporter(args.progress, lanes, machine_output=getattr(args, "json", False))
    try:
        yield reporter
    finally:
        reporter.close()


class _Hangup(BaseException):
    """Raised by the SIGHUP handler. Like KeyboardInterrupt it is no Exception, so code that turns
    the exceptions it meets into its own errors (reading an EXR, decoding a reply) lets it pass."""


@contextmanager
def hangup_detaches(job_id: str, out_dir: str, server: str) -> Iterator[None]:
    """While following a server job: a closed terminal (SIGHUP) leaves the job running there."""
    if not hasattr(signal, "SIGHUP"):
        yield
        return

    def on_hangup(signum: int, frame: Any) -> None:
        raise _Hangup()

    previous = signal.signal(signal.SIGHUP, on_hangup)
    try:
        yield
    except _Hangup:
        raise Detached(f"the terminal closed; job {job_id} goes on at {server}. Collect it with: "
                       f"{attach_command(job_id, out_dir, server)}") from None
    finally:
        signal.signal(signal.SIGHUP, previous)


def attach_command(job_id: str, out_dir: str, server: str) -> str:
    import shlex

    return f"void-nuke attach {job_id} --out {shlex.quote(out_dir)} --server {server}"


# -- commands --------------------------------------------------------------------------------

def connect(args: argparse.Namespace) -> Any:
    from .client import Client

    return Client.from_env(args.server, timeout=args.timeout, connect_timeout=args.connect_timeout)


def cmd_submit(args: argparse.Namespace) -> int:
    shot = checked_shot(args, shot_from_args(args))
    job_id = args.job_id or new_job_id(shot)
    out_dir = shot.output.directory
    with connect(args) as client:
        client.hello()  # nothing answers: say so now, before a job id is printed
        if not args.json:
            print(f"job {job_id}", flush=True)
        with progress_for(args, SUBMIT_LANES) as bar:
            try:
                with hangup_detaches(job_id, out_dir, client.server):
                    if args.detach:
                        status = client.submit(shot, job_id, on_progress=bar, transfer=args.transfer,
                                               preview=args.preview_mask, check_inputs=False)
                    else:
                        result = client.run(shot, job_id, on_progress=bar, transfer=args.transfer,
                                            preview=args.preview_mask, check_inputs=False)
            except KeyboardInterrupt:
                bar.close()
                client.cancel(job_id)
                raise Cancelled(f"cancelled job {job_id} on {client.server}") from None
        if args.detach:
            command = attach_command(job_id, out_dir, client.server)
            if args.json:
                emit_json({"job": job_id, "state": status.get("state"), "server": client.server,
                           "attach": command})
            else:
                print(f"job {job_id} is {status.get('state')} on {client.server}; collect it with:\n  {command}",
                      flush=True)
            return EXIT_DONE
    report_result(args, result, server=client.server)
    return EXIT_DONE


def cmd_run(args: argparse.Namespace) -> int:
    from .engine_settings import engine_settings
    from .farm.render import render
    from .farm.worker_server import SERVER_ENV
    from .pathmap import load_rules, localise_shot

    shot = checked_shot(args, localise_shot(shot_from_args(args), load_rules(args.path_mapping_rules)))
    job_id = args.job_id or new_job_id(shot)
    with progress_for(args, RUN_LANES) as bar:
        try:  # Ctrl-C lands in this thread, between two frames of the runner
            result = render(shot, engine_settings(args), job_id=job_id, version=args.version,
                            server=args.server or os.environ.get(SERVER_ENV), server_keys=bool(args.server),
                            on_progress=bar, work_dir=args.work_dir, preview=args.preview_mask,
                            min_gpu_memory=args.min_gpu_memory)
        except KeyboardInterrupt:
            raise Cancelled(f"stopped; the frames written so far stay, and --job-id {job_id} continues "
                            "from there") from None
    report_result(args, result)
    return EXIT_DONE


def cmd_status(args: argparse.Namespace) -> int:
    with connect(args) as client:
        body = client.status(args.job) if args.job else client.status()
    if args.json:
        emit_json(body)
    elif args.job:
        print(describe_job(body), flush=True)
        if body.get("error"):
            print(f"error: {VoidError.from_dict(body['error']).summary()}", flush=True)
    else:
        print(describe_server(body, client.server), flush=True)
    if not args.job:
        return EXIT_DONE
    return STATE_EXIT.get(str(body.get("state")), EXIT_NOT_FINISHED)


def describe_job(body: Dict[str, Any]) -> str:
    """``sh010-3f2a9c01: running  sh010 1001-1048  12/48 frames  engine 53% eta 4:12  frame 1025``."""
    from .progress import format_eta

    parts = [f"{body.get('job')}: {body.get('state')}"]
    shot = " ".join(str(v) for v in (body.get("shot"), body.get("frames")) if v)
    if shot:
        parts.append(shot)
    if body.get("total"):
        parts.append(f"{len(body.get('results') or [])}/{body['total']} frames")
    progress = body.get("progress") or {}
    if progress and body.get("state") in ("running", "queued", "receiving"):
        bits = [str(progress.get("stage") or ""), f"{float(progress.get('fraction') or 0) * 100:.0f}%",
                format_eta(progress.get("eta_s")), str(progress.get("message") or "")]
        parts.append(" ".join(b for b in bits if b))
    return "  ".join(parts)


def describe_server(body: Dict[str, Any], server: str) -> str:
    gpu = body.get("gpu") or {}
    running = body.get("running") or "nothing"
    lines = [f"void-server {body.get('version', '?')} at {server}: {body.get('queue', 0)} queued, running "
             f"{running}, GPU {gpu.get('name') or 'none'}"]
    for name, info in sorted((body.get("engines") or {}).items()):
        state = "available" if info.get("available") else f"unavailable: {info.get('reason') or 'not installed'}"
        lines.append(f"  engine {name}: {state}")
    for job in body.get("jobs") or []:
        lines.append(f"  {job.get('job', ''):<32} {job.get('state') or '':<10} {job.get('engine') or '':<8} "
                     f"{job.get('frames') or ''}")
    return "\n".join(lines)


def cmd_cancel(args: argparse.Namespace) -> int:
    with connect(args) as client:
        body = client.cancel(args.job)
    print(f"{args.job}: {body.get('state')}", flush=True)
    return EXIT_DONE


def cmd_attach(args: argparse.Namespace) -> int:
    out_dir = os.path.abspath(args.out)
    with connect(args) as client:
        with progress_for(args, ATTACH_LANES) as bar:
            try:
                with hangup_detaches(args.job, out_dir, client.server):
                    result = client.attach(args.job, out_dir, on_progress=bar)
            except KeyboardInterrupt:
                raise Cancelled(f"stopped following job {args.job}; it goes on at {client.server}") from None
    report_result(args, result, server=client.server)
    return EXIT_DONE


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(os.path.abspath(args.out), frames=args.frames, size=(args.width, args.height),
             progress=args.progress)
    return EXIT_DONE


# -- running a command -----------------------------------------------------------------------

def save_traceback() -> str:
    """Write the current exception's traceback under the cache folder; return the file's path."""
    base = os.environ.get("VOID_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "void-nuke")
    folder = os.path.join(base, "logs")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(folder, f"void-nuke-{stamp}-{os.getpid()}.log")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"{version_text()}\nargv: {sys.argv!r}\n\n{traceback.format_exc()}")
    except OSError:
        return ""
    return path


def fail(args: argparse.Namespace, code: int, message: str, error: Optional[Dict[str, Any]] = None) -> int:
    """Say why the command stopped: on stderr, and as the JSON document when ``--json`` asked for one."""
    print(f"void-nuke: {message}", file=sys.stderr, flush=True)
    if getattr(args, "json", False):
        emit_json({"error": error or {"code": "error", "message": message, "detail": {}}, "exit_code": code})
    return code


def run_command(args: argparse.Namespace) -> int:
    debug = bool(getattr(args, "debug", False) or os.environ.get("VOID_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except ShotError as exc:
        return fail(args, EXIT_BAD_INPUT, f"bad shot: {exc.message}", exc.to_dict())
    except VoidError as exc:
        prefix = "" if isinstance(exc, (Cancelled, Detached)) else "error: "
        return fail(args, exit_code(exc), prefix + exc.summary(), exc.to_dict())
    except KeyboardInterrupt:
        return fail(args, EXIT_CANCELLED, "cancelled")
    except BrokenPipeError:
        raise
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return fail(args, EXIT_FAILED, f"error: {exc.strerror or exc}:{where}")
    except Exception as exc:  # a bug: one line, the traceback kept
        if debug:
            traceback.print_exc()
            return fail(args, EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
        path = save_traceback()
        where = f"the traceback is in {path}" if path else "the traceback could not be saved"
        return fail(args, EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc} ({where}; --debug prints "
                                         "it). Please report it.")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = run_command(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (status | head): stop quietly; Python would complain again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
