"""Batch API: run many shots against one or several servers, or in this process.

A shot list is a TOML, YAML or JSON file with an optional ``defaults`` table
merged under every entry of ``shots`` (tables such as ``engine``, ``masks`` and
``output`` merge key by key; other values, lists included, are replaced)::

    [defaults]
    engine = { name = "classic" }
    output = { directory = "renders" }

    [[shots]]
    plate = "plates/sh010.####.exr"
    frames = "1001-1048"
    remove = "mattes/sh010_remove.####.exr"

Relative paths are read against the list file's folder. ``run_batch`` runs up
to ``jobs`` shots at a time on worker threads (one ``Client`` per thread and
server, as ZeroMQ sockets are single-threaded), gives each shot to the server
with the fewest shots in flight, and finishes every shot even when some fail.

Ctrl-C (``KeyboardInterrupt`` in the calling thread) cancels the running shots
(on their servers, or in this process at their next progress report), skips
the rest, and waits for the workers to stop, so no thread outlives the batch;
a second Ctrl-C stops waiting (``BatchReport.abandoned``).
"""
from __future__ import annotations

import copy
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .errors import EXIT_CANCELLED, EXIT_DONE, EXIT_FAILED, Cancelled, ShotError, VoidError
from .progress import Progress
from .shot import Shot, load_table, new_job_id

ShotProgress = Callable[[Shot, Progress], None]
"""on_progress(shot, event), called from worker threads."""
Runner = Callable[[Shot, str, Optional[str], Callable[[Progress], None], threading.Event], Any]
"""runner(shot, job_id, server or None for in-process, on_progress, cancel_event) → RunResult."""

_SHORTHANDS = {"engine": "name", "output": "directory"}
"""Tables a shot file may also give as one string (``engine = "void"``)."""


# -- shot lists --------------------------------------------------------------------------------

def merge_tables(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """``override`` over ``base``: tables merge key by key, everything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_tables(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _expand(entry: Dict[str, Any]) -> Dict[str, Any]:
    """Write shorthand strings (``output = "renders"``) as tables so they merge."""
    out = dict(entry)
    for key, inner in _SHORTHANDS.items():
        if isinstance(out.get(key), str):
            out[key] = {inner: out[key]}
    return out


def shots_from_dict(data: Dict[str, Any], base_dir: Optional[str] = None) -> List[Shot]:
    """Build the shots of a shot list; errors name the entry and its field."""
    unknown = sorted(set(data) - {"defaults", "shots"})
    if unknown:
        raise ShotError(unknown[0], "unknown key in a shot list; use [defaults] and [[shots]]")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ShotError("defaults", "must be a table of shot fields")
    entries = data.get("shots")
    if not isinstance(entries, list) or not entries:
        raise ShotError("shots", "give at least one shot ([[shots]] tables in TOML, a list in YAML/JSON)")
    shots = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ShotError(f"shots[{i}]", "must be a table of shot fields")
        merged = merge_tables(_expand(defaults), _expand(entry))
        try:
            shots.append(Shot.from_dict(merged, base_dir=base_dir))
        except ShotError as exc:
            label = f"shots[{i}]" + (f" ({entry['name']})" if isinstance(entry.get("name"), str) else "")
            raise ShotError(f"{label}.{exc.field}", exc.message.split(": ", 1)[-1]) from None
    names = [s.name for s in shots]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ShotError("shots", f"shot names must be unique; repeated: {', '.join(repeated)} "
                                 "(give each entry a name)")
    return shots


def load_shot_list(path: str) -> List[Shot]:
    """Read a shot list file; relative paths are read against its folder.

    A file holding a single shot (no ``shots`` key) is a list of one.
    """
    data = load_table(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    if "shots" not in data and "defaults" not in data:
        return [Shot.from_dict(data, base_dir=base_dir)]
    return shots_from_dict(data, base_dir=base_dir)


# -- results ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShotOutcome:
    """How one shot of a batch ended."""

    shot: Shot
    status: str
    """``done``, ``failed`` or ``cancelled``."""
    job_id: str = ""
    server: Optional[str] = None
    version_dir: str = ""
    frames: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "done"


    def to_dict(self) -> Dict[str, Any]:
        return {"shot": self.shot.name, "status": self.status, "job": self.job_id, "server": self.server,
                "version_dir": self.version_dir, "frames": self.frames, "seconds": round(self.seconds, 3),
                "error": self.error}


@dataclass
class BatchReport:
    outcomes: List[ShotOutcome] = field(default_factory=list)
    cancelled: bool = False
    """The batch was cancelled (Ctrl-C or ``cancel_event``): some shots may not have run."""
    abandoned: bool = False
    """A second Ctrl-C stopped waiting for running shots to cancel; their workers may still run."""

    @property
    def failed(self) -> List[ShotOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def exit_code(self) -> int:
        """0 when every shot is done, 130 when the batch was cancelled, else 1."""
        if self.cancelled or any(o.status == "cancelled" for o in self.outcomes):
            return EXIT_CANCELLED
        return EXIT_FAILED if self.failed else EXIT_DONE

    def to_dict(self) -> Dict[str, Any]:
        done = sum(1 for o in self.outcomes if o.ok)
        return {"shots": [o.to_dict() for o in self.outcomes], "done": done, "total": len(self.outcomes),
                "cancelled": self.cancelled, "exit_code": self.exit_code}

    def table(self) -> str:
        """A plain-text summary table, one row per shot in the list's order."""
        rows = [("shot", "status", "where", "frames", "time", "result / error")]
        for o in self.outcomes:
            rows.append((o.shot.name, o.status, o.server or "local", str(o.frames) if o.frames else "-",
                         f"{o.seconds:.1f}s", o.version_dir if o.ok else o.error))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(rows[0][-1]))
        done = sum(1 for o in self.outcomes if o.ok)
        lines.append(f"{done} of {len(self.outcomes)} shot(s) done" +
                     (f", {len(self.failed)} not done" if self.failed else ""))
        return "\n".join(lines)


# -- running ----------------------------------------------------------------------------------

def local_runner(shot: Shot, job_id: str, server: Optional[str], on_progress: Callable[[Progress], None],
                 cancel_event: threading.Event) -> Any:
    """Run ``shot`` in this process (needs the ``[server]`` extra)."""
    try:
        from void_server.runner import run_shot_local
    except ImportError as exc:
        raise VoidError(f"running shots in this process needs the server parts ({exc}); install "
                        "'void-nuke[server]', or pass --server to use a void-server") from None
    return run_shot_local(shot, job_id, on_progress, cancel_event)


class _Clients(threading.local):
    """Each worker thread's clients, one per server."""

    def __init__(self) -> None:
        self.by_server: Dict[str, Any] = {}


def client_runner(transfer: str = "pixels") -> Tuple[Runner, Callable[[], None]]:
    """A runner that sends shots to servers, and a function closing the calling thread's clients."""
    from .client import Client

    clients = _Clients()

    def run(shot: Shot, job_id: str, server: Optional[str], on_progress: Callable[[Progress], None],
            cancel_event: threading.Event) -> Any:
        assert server is not None
        client = clients.by_server.get(server)
        if client is None:
            client = clients.by_server[server] = Client(server)
        return client.run(shot, job_id=job_id, on_progress=on_progress, cancel_event=cancel_event,
                          transfer=transfer)

    def close() -> None:
        for client in clients.by_server.values():
            client.close()
        clients.by_server.clear()

    return run, close


class _Dispatcher:
    """Gives each shot to the server with the fewest shots in flight (ties: list order)."""

    def __init__(self, servers: Sequence[Optional[str]]) -> None:
        self.busy = {s: 0 for s in servers}
        self.lock = threading.Lock()

    def acquire(self) -> Optional[str]:
        with self.lock:
            server = min(self.busy, key=lambda s: self.busy[s])
            self.busy[server] += 1
            return server

    def release(self, server: Optional[str]) -> None:
        with self.lock:
            self.busy[server] -= 1


def run_batch(shots: Sequence[Shot], servers: Sequence[str] = (), jobs: Optional[int] = None,
              on_progress: Optional[ShotProgress] = None,
              on_outcome: Optional[Callable[[ShotOutcome], None]] = None,
              cancel_event: Optional[threading.Event] = None, runner: Optional[Runner] = None,
              transfer: str = "pixels", on_interrupt: Optional[Callable[[], None]] = None) -> BatchReport:
    """Run every shot; return how each ended, in the order given.

    ``servers`` empty runs shots in this process. ``jobs`` bounds the shots in
    flight (default: one per server, or one in-process). Setting
    ``cancel_event`` (or Ctrl-C in the calling thread, which also calls
    ``on_interrupt``) cancels the running shots and skips the rest.
    """
    targets: List[Optional[str]] = list(servers) or [None]
    jobs = jobs or len(targets)
    if jobs < 1:
        raise VoidError("--jobs must be at least 1")
    cancel = cancel_event or threading.Event()
    close: Callable[[], None] = lambda: None
    if runner is None:
        if servers:
            runner, close = client_runner(transfer)
        else:
            runner = local_runner
    dispatcher = _Dispatcher(targets)
    todo: "queue.Queue[Tuple[int, Shot]]" = queue.Queue()
    for item in enumerate(shots):
        todo.put(item)
    outcomes: List[Optional[ShotOutcome]] = [None] * len(shots)

    def run_one(shot: Shot) -> ShotOutcome:
        if cancel.is_set():
            return ShotOutcome(shot, "cancelled", error="not started: the batch was cancelled")
        server = dispatcher.acquire()
        job_id = new_job_id(shot)
        start = time.monotonic()

        def report(event: Progress) -> None:
            if on_progress is not None:
                on_progress(shot, event)

        try:
            result = runner(shot, job_id, server, report, cancel)
        except Cancelled as exc:
            return ShotOutcome(shot, "cancelled", job_id, server, seconds=time.monotonic() - start,
                               error=exc.message)
        except VoidError as exc:
            return ShotOutcome(shot, "failed", job_id, server, seconds=time.monotonic() - start,
                               error=exc.summary())
        except Exception as exc:  # one broken shot must not stop the others
            return ShotOutcome(shot, "failed", job_id, server, seconds=time.monotonic() - start,
                               error=f"{type(exc).__name__}: {exc}")
        finally:
            dispatcher.release(server)
        frames = getattr(result, "frames", [])
        return ShotOutcome(shot, "done", getattr(result, "job_id", job_id), server,
                           str(getattr(result, "version_dir", "")),
                           len(frames) if isinstance(frames, (list, tuple)) else int(frames),
                           time.monotonic() - start)

    def worker() -> None:
        try:
            while True:
                try:
                    index, shot = todo.get_nowait()
                except queue.Empty:
                    return
                outcome = run_one(shot)
                outcomes[index] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
        finally:
            close()

    threads = [threading.Thread(target=worker, name=f"void-batch-{i}", daemon=True)
               for i in range(min(jobs, len(shots)))]
    for t in threads:
        t.start()
    abandoned = False
    try:
        _wait(threads)
    except KeyboardInterrupt:
        cancel.set()
        if on_interrupt is not None:
            on_interrupt()
        try:
            _wait(threads)
        except KeyboardInterrupt:
            abandoned = True
    for index, shot in enumerate(shots):
        if outcomes[index] is None:
            reason = "still cancelling when the batch stopped waiting" if abandoned else \
                "not started: the batch was cancelled"
            outcomes[index] = ShotOutcome(shot, "cancelled", error=reason)
    return BatchReport([o for o in outcomes if o is not None], cancelled=cancel.is_set(), abandoned=abandoned)


def _wait(threads: Sequence[threading.Thread]) -> None:
    """Wait for ``threads`` so that Ctrl-C reaches the calling thread at once.

    Never through ``Thread.join(timeout)``: a KeyboardInterrupt landing inside it marks a
    still-running thread as stopped (CPython gh-90882), and the batch would then return
    and exit under its running workers (the empty summary and the abort of old).
    """
    while any(t.is_alive() for t in threads):
        time.sleep(0.1)
