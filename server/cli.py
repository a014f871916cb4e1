"""``void-server``: run the job server on a GPU host, or make CURVE keys."""
from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
from typing import List, Optional

from void_nuke.engine_settings import add_engine_flags, engine_settings
from void_nuke.errors import VoidError
from void_nuke.pathmap import PathMap

from .inner import CHANNELS
from .settings import DEFAULT_BIND, ServerSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="void-server", description="The void-nuke job server.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the job server")
    serve.add_argument("--bind", default=DEFAULT_BIND, help=f"ZeroMQ endpoint (default {DEFAULT_BIND})")
    serve.add_argument("--data", required=True, help="folder for the job database and job files")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a non-loopback bind without CURVE keys (trusted networks only)")
    serve.add_argument("--curve-dir", help="folder made by 'void-server keys': server key + allowed clients")
    serve.add_argument("--result-ttl-hours", type=float, default=72.0,
                       help="keep finished jobs this long (default 72)")
    serve.add_argument("--credits", type=int, default=4, help="frames in flight per direction (default 4)")
    serve.add_argument("--path-map", action="append", default=[], metavar="CLIENT=SERVER",
                       help="map a client path prefix to this host's (repeatable), or a rules file "
                            "(.json OpenJD path-mapping or .toml)")
    serve.add_argument("--allow-root", action="append", default=[], metavar="DIR",
                       help="a folder paths-mode jobs may read and write (repeatable); path-mapping targets "
                            "and the data folder are allowed too, nothing else")
    serve.add_argument("--receive-timeout-hours", type=float, default=12.0,
                       help="fail a job whose upload stalls this long and delete its uploaded frames "
                            "(default 12)")
    serve.add_argument("--worker-channel", choices=CHANNELS, default="auto",
                       help="the private socket to the worker process: ipc (a 0700 folder), curve "
                            "(loopback TCP with keys made at start), auto (ipc where available)")
    serve.add_argument("--sam2-checkpoint", help="SAM2 checkpoint (.pt) for clicked points")
    serve.add_argument("--sam2-config", default="configs/sam2.1/sam2.1_hiera_l.yaml")
    serve.add_argument("--sam2-image-size", type=int, default=1024,
                       help="SAM2's square input size (checkpoints are trained at 1024)")
    serve.add_argument("--ocio-config", help="OCIO config for the VOID engine's colour conversion")
    serve.add_argument("-v", "--verbose", action="store_true")
    add_engine_flags(serve)

    keys = sub.add_parser("keys", help="create CURVE keys: a server key pair and a clients/ folder")
    keys.add_argument("directory")
    keys.add_argument("--client", action="append", default=[], help="also make a client key pair NAME")
    return parser


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    rules = []
    for item in args.path_map:
        if os.path.isfile(item):
            rules.extend(PathMap.load(item).pairs())
        elif "=" in item:
            rules.append(tuple(item.split("=", 1)))
        else:
            raise VoidError(f"--path-map {item!r}: write CLIENT=SERVER or give a rules file", code="bad_argument")
    settings = ServerSettings(data_dir=os.path.abspath(args.data), bind=args.bind, insecure=args.insecure,
                              curve_dir=args.curve_dir, result_ttl_hours=args.result_ttl_hours,
                              credits=args.credits, sam2_checkpoint=args.sam2_checkpoint,
                              sam2_config=args.sam2_config, sam2_image_size=args.sam2_image_size, path_map=rules,
                              allow_roots=[os.path.abspath(d) for d in args.allow_root],
                              receive_timeout_hours=args.receive_timeout_hours, worker_channel=args.worker_channel,
                              **engine_settings(args))
    if args.ocio_config:
        settings.ocio_config = args.ocio_config
    return settings


def make_keys(directory: str, clients: List[str]) -> None:
    """A server key pair and a ``clients/`` folder; secret keys are readable by their owner alone (0600).

    An existing server key is kept (clients hold its public half); ``--client NAME`` adds a client.
    """
    os.makedirs(os.path.join(directory, "clients"), exist_ok=True)
    if not os.path.isfile(os.path.join(directory, "server.key_secret")):
        _create_certificates(directory, "server")
    else:
        print(f"keeping the existing server key in {directory}")
    for name in clients:
        if os.path.exists(os.path.join(directory, f"{name}.key_secret")):
            raise VoidError(f"a client key named {name!r} already exists in {directory}; choose another name",
                            code="bad_argument")
        public = _create_certificates(directory, name)
        os.replace(public, os.path.join(directory, "clients", os.path.basename(public)))
    print(f"server key: {os.path.join(directory, 'server.key')} (give this public key to clients)")
    print(f"allowed clients: put their .key files into {os.path.join(directory, 'clients')}")


def _create_certificates(directory: str, name: str) -> str:
    """pyzmq's certificate pair, made under umask 077 so the secret file is never readable by others."""
    import zmq.auth

    umask = os.umask(0o077)
    try:
        public, _ = zmq.auth.create_certificates(directory, name)
    finally:
        os.umask(umask)
    os.chmod(public, 0o644 & ~umask)
    return public


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keys":
        try:
            make_keys(args.directory, args.client)
        except VoidError as exc:
            print(f"void-server: {exc.message}", file=sys.stderr)
            return 2
        return 0
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    from .app import Server

    try:
        server = Server(settings_from_args(args))
    except VoidError as exc:
        print(f"void-server: {exc.message}", file=sys.stderr)
        return 2
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: print every thread's stack
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    print(f"void-server {server.capabilities()['version']} listening on {server.endpoint}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
