"""One void-server per farm worker, so a render step loads the model once.

Loading VOID takes minutes (about 21 GB of weights). Each render task being its
own ``void-nuke run`` would load it again for every task; instead the OpenJD
Render step has a step environment (the pattern deadline-cloud-for-nuke uses for
its adaptor daemon): its ``onEnter`` runs ``void-nuke farm server start``, which
starts ``void-server serve`` on a free loopback port, waits until it answers and
prints ``openjd_env: VOID_RUN_SERVER=tcp://127.0.0.1:PORT``. OpenJD sets that
variable for the step's tasks, whose ``void-nuke run`` then submits to the
server (shared storage, so no pixels cross the socket), and ``onExit`` runs
``void-nuke farm server stop``.

The server runs detached from the action that started it (its own session, its
output in a log file), since OpenJD waits for an action's output to close.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from ..atomic import atomic_write_bytes
from ..errors import VoidError

if TYPE_CHECKING:
    from ..shot import Shot

SERVER_ENV = "VOID_RUN_SERVER"
"""Set for a render step's tasks: ``void-nuke run`` submits to this server instead of loading the engine."""
STATE_FILE = "worker-server.json"
LOG_FILE = "void-server.log"
ENGINE_LOG_LINE = re.compile(r"new (\w+) engine")
"""What the server's worker logs each time it creates an engine (its models load once per engine)."""


def _server_command(data_dir: str, engine_args: Sequence[str], allow_roots: Sequence[str] = ()) -> List[str]:
    roots = [arg for root in allow_roots for arg in ("--allow-root", root)]
    return [sys.executable, "-m", "void_server.cli", "serve", "--bind", "tcp://127.0.0.1:*", "--data", data_dir,
            *roots, *engine_args]


def shot_roots(shots: Sequence["Shot"]) -> List[str]:
    """The folders a job's render tasks read and write through the server: the only ones it may use."""
    roots = set()
    for shot in shots:
        roots.update(seq.directory for _, seq in shot.inputs())
        roots.add(shot.output.directory)
        if shot.ocio_config and not shot.ocio_config.startswith("ocio://"):
            roots.add(os.path.dirname(shot.ocio_config))
    return sorted(roots)


def _detached() -> Dict[str, Any]:
    """Popen options that let the server outlive the action that starts it."""
    if os.name == "nt":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS  # type: ignore[attr-defined]
        return {"creationflags": flags}
    return {"start_new_session": True}


def start_worker_server(data_dir: str, engine_args: Sequence[str] = (), timeout: float = 300.0,
                        allow_roots: Sequence[str] = ()) -> str:
    """Start void-server on a free loopback port with the engine settings ``engine_args``; return its address.

    Its tasks send paths, so it may read and write the folders ``allow_roots`` (see ``shot_roots``).
    A server this folder already runs is reused (a step environment entered again).
    """
    running = server_state(data_dir)
    if running and _alive(int(running["pid"])):
        return str(running["address"])
    os.makedirs(data_dir, exist_ok=True)
    log_path = os.path.join(data_dir, LOG_FILE)
    start = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(_server_command(data_dir, engine_args, allow_roots), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, **_detached())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = _read_from(log_path, start)
        found = re.search(r"listening on (tcp://\S+)", text)
        if found:
            address = found.group(1)
            atomic_write_bytes(os.path.join(data_dir, STATE_FILE),
                               json.dumps({"pid": proc.pid, "address": address}).encode("utf-8"), overwrite=True)
            return address
        if proc.poll() is not None:
            raise VoidError(f"void-server exited with code {proc.returncode} before it listened:\n"
                            f"{text.strip()[-2000:]}", code="server_start")
        time.sleep(0.1)
    _terminate(proc.pid)
    raise VoidError(f"void-server did not listen within {timeout:g} s; its log is {log_path}", code="server_start")


def stop_worker_server(data_dir: str, grace: float = 30.0) -> Optional[Dict[str, Any]]:
    """Stop the server started in ``data_dir`` (SIGTERM, then kill after ``grace`` s); return its state."""
    state = server_state(data_dir)
    if state is None:
        return None
    _terminate(int(state["pid"]), grace)
    os.unlink(os.path.join(data_dir, STATE_FILE))
    return state


def engine_loads(data_dir: str) -> Dict[str, int]:
    """How many times the server's worker created each engine, from its log."""
    counts: Dict[str, int] = {}
    for name in ENGINE_LOG_LINE.findall(_read_from(os.path.join(data_dir, LOG_FILE), 0)):
        counts[name] = counts.get(name, 0) + 1
    return counts


def server_state(data_dir: str) -> Optional[Dict[str, Any]]:
    try:
        with open(os.path.join(data_dir, STATE_FILE), encoding="utf-8") as fh:
            return dict(json.load(fh))
    except (OSError, ValueError):
        return None


def _read_from(path: str, offset: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _terminate(pid: int, grace: float = 30.0) -> None:
    """SIGTERM the server's process group (the server and its engine worker), then SIGKILL."""
    if os.name == "nt":
        subprocess.run(["taskkill", "/PID", str(pid), "/T", "/F"], capture_output=True)
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child (tests): reap it
                return
        except ChildProcessError:
            pass
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
