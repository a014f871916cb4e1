"""The private channel between the server and its worker process.

The worker receives real jobs and reports their results, so no other process
may speak on this channel. Three locks, each enough on its own against another
user of the machine:

- **where**: an ``ipc://`` socket inside ``<data>/private``, a folder only the
  server's user may enter (mode 0700). Where ipc is unavailable (Windows) or its
  path would be too long, a loopback TCP port with CURVE keys made at start: only
  the worker holds a client key the server accepts.
- **who**: the server answers only the peer whose HELLO carries the token made
  at start and the process id of the worker it started; everything from any
  other peer is dropped unread.
- **what**: the worker's configuration (endpoint, token, keys) is passed in a
  file readable by the server's user alone, never on a command line, which any
  user can list.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import stat
from typing import Any, Dict, List, Optional

import zmq

from void_nuke.errors import VoidError
from void_nuke.protocol import HELLO, Message, Sequencer, decode, encode

log = logging.getLogger("void_server")

CHANNELS = ("auto", "ipc", "curve")
PRIVATE_DIR = "private"
CONFIG_FILE = "worker.json"
MAX_IPC_PATH = 100
"""Unix socket paths are limited to 104-108 bytes by the operating system."""
MAX_WORKER_MESSAGE = 16 * 1024 * 1024


def private_folder(data_dir: str) -> str:
    """``<data>/private``, created with mode 0700 and kept that way."""
    folder = os.path.join(data_dir, PRIVATE_DIR)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise VoidError(f"{folder} must be a folder, not a link; remove it and start again", code="private_folder")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise VoidError(f"{folder} belongs to another user; the server must own its private folder",
                        code="private_folder")
    if os.name == "posix" and stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)
    return folder


def write_private(path: str, data: bytes) -> None:
    """Write a file only its owner can read (0600 whatever the umask), replacing it in one step."""
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class _OnlyKey:
    """A CURVE credentials provider that accepts one client key (the worker's)."""

    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key

    def callback(self, domain: str, key: bytes) -> bool:
        return hmac.compare_digest(key, self.public_key)


class WorkerChannel:
    """The server's end: a ROUTER that talks to one authenticated worker."""

    def __init__(self, data_dir: str, channel: str = "auto") -> None:
        if channel not in CHANNELS:
            raise VoidError(f"unknown worker channel {channel!r}; use one of {', '.join(CHANNELS)}",
                            code="bad_argument")
        self.folder = private_folder(data_dir)
        self.token = secrets.token_hex(24)
        self.ctx = zmq.Context()  # its own context: its authentication is not the public socket's
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_WORKER_MESSAGE)
        self.auth: Any = None
        self.keys: Dict[str, str] = {}
        self.peer: Optional[bytes] = None
        self.seq = Sequencer()
        ipc_path = os.path.join(self.folder, "worker.ipc")
        use_ipc = channel == "ipc" or (channel == "auto" and zmq.has("ipc") and os.name == "posix"
                                       and len(ipc_path) <= MAX_IPC_PATH)
        if use_ipc:
            if os.path.lexists(ipc_path):
                os.unlink(ipc_path)  # left by a killed server
            self.sock.bind(f"ipc://{ipc_path}")
            self.kind = "ipc"
        else:
            self._enable_curve()
            self.sock.bind("tcp://127.0.0.1:*")
            self.kind = "curve"
        self.endpoint = self.sock.getsockopt(zmq.LAST_ENDPOINT).decode()

    def _enable_curve(self) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        server_public, server_secret = zmq.curve_keypair()
        worker_public, worker_secret = zmq.curve_keypair()
        self.auth = ThreadAuthenticator(self.ctx)
        self.auth.start()
        self.auth.configure_curve_callback(domain="*", credentials_provider=_OnlyKey(worker_public))
        self.sock.curve_secretkey = server_secret
        self.sock.curve_publickey = server_public
        self.sock.curve_server = True
        self.keys = {"server_public": server_public.decode(), "worker_public": worker_public.decode(),
                     "worker_secret": worker_secret.decode()}

    def write_config(self, settings: Dict[str, Any]) -> str:
        """The worker's configuration file (0600 in the 0700 folder); its path goes on the command line."""
        path = os.path.join(self.folder, CONFIG_FILE)
        config = {"endpoint": self.endpoint, "token": self.token, "curve": self.keys, "settings": settings}
        write_private(path, json.dumps(config).encode("utf-8"))
        return path

    def accept(self, frames: List[zmq.Frame], worker_pid: Optional[int]) -> Optional[Message]:
        """The worker's message, or None for anything from another peer (or unreadable)."""
        identity = frames[0].bytes
        try:
            msg = decode(frames[1:])
        except VoidError:
            return None
        if msg.type == HELLO and worker_pid is not None and msg.body.get("pid") == worker_pid:
            token = msg.body.get("token")
            if isinstance(token, str) and hmac.compare_digest(token.encode(), self.token.encode()):
                self.peer = identity
                return msg
        if self.peer is None or identity != self.peer:
            return None
        return msg

    def send(self, kind: str, job: Optional[str] = None, **body: Any) -> bool:
        """Send to the worker; False when no worker is connected."""
        if self.peer is None:
            return False
        try:
            self.sock.send_multipart([self.peer] + encode(Message(kind, job, body, seq=self.seq.next())))
        except zmq.ZMQError:
            return False
        return True

    def forget(self) -> None:
        """The worker process ended: its successor must introduce itself again."""
        self.peer = None

    def close(self) -> None:
        self.sock.close(0)
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()
        if self.kind == "ipc":
            path = self.endpoint[len("ipc://"):]
            if os.path.lexists(path):
                os.unlink(path)


def connect_worker(ctx: zmq.Context, config: Dict[str, Any]) -> zmq.Socket:
    """The worker's end: a DEALER connected with the keys from its configuration file."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    keys = config.get("curve") or {}
    if keys:
        sock.curve_serverkey = keys["server_public"].encode()
        sock.curve_publickey = keys["worker_public"].encode()
        sock.curve_secretkey = keys["worker_secret"].encode()
    sock.connect(config["endpoint"])
    return sock
