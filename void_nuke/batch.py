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
server, as ZeroMQ sockets are single-threaded, each configured from the
environment: ``VOID_SERVER_KEY``/``VOID_CLIENT_CERT``), gives each shot to the
live server with the fewest shots in flight, and finishes every shot even when
some fail. Servers are asked HELLO before anything is dispatched; one that does
not answer, or stops answering, is dropped and its shots go to the others.
A failed shot is retried (``retries``) under the same job id, so it resumes into
the same version folder.

Ctrl-C (``KeyboardInterrupt`` in the calling thread) cancels the running shots
(on their servers, or in this process at their next progress report), skips
the rest, and waits for the workers to stop, so no thread outlives the batch;
a second Ctrl-C stops waiting (``BatchReport.abandoned``).
"""
from __future__ import annotations

import copy
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .errors import (EXIT_CANCELLED, EXIT_DONE, EXIT_FAILED, Cancelled, ImageError, ServerUnreachable, ShotError,
                     VoidError)
from .progress import Progress
from .shot import Shot, load_table, new_job_id

ShotProgress = Callable[[Shot, Progress], None]
"""on_progress(shot, event), called from worker threads."""
Runner = Callable[[Shot, str, Optional[str], Callable[[Progress], None], threading.Event], Any]
"""runner(shot, job_id, server or None for in-process, on_progress, cancel_event) → RunResult."""

Probe = Callable[[str], None]
"""probe(server) returns when the server answers HELLO, raises when it cannot take shots."""
SERVERS_ENV = "VOID_SERVERS"
"""Comma-separated server addresses for batches (and the Nuke panel) when none are given."""

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


def select_shots(shots: Sequence[Shot], names: Iterable[str]) -> List[Shot]:
    """The shots named (``--only``), in the list's order; all of them when ``names`` is empty."""
    wanted = list(names)
    if not wanted:
        return list(shots)
    known = [s.name for s in shots]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ShotError("only", f"no shot named {', '.join(unknown)} in the list; it has {', '.join(known)}")
    return [s for s in shots if s.name in wanted]


def servers_from_env(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The addresses in ``VOID_SERVERS`` (comma-separated), if any."""
    value = (os.environ if environ is None else environ).get(SERVERS_ENV, "")
    return [s.strip() for s in value.split(",") if s.strip()]


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
    attempts: int = 1
    """Runs of the shot: 1, plus one per retry and per move away from a server that stopped answering."""

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> Dict[str, Any]:
        return {"shot": self.shot.name, "status": self.status, "job_id": self.job_id, "server": self.server,
                "version_dir": self.version_dir, "frames": self.frames, "seconds": round(self.seconds, 3),
                "error": self.error, "attempts": self.attempts}


@dataclass
class BatchReport:
    outcomes: List[ShotOutcome] = field(default_factory=list)
    unreachable: Dict[str, str] = field(default_factory=dict)
    """Servers dropped from the batch, with why."""
    cancelled: bool = False
    """The batch was cancelled (Ctrl-C or ``cancel_event``): some shots may not have run."""
    abandoned: bool = False
    """A second Ctrl-C stopped waiting for running shots to cancel; their workers may still run."""

    def to_dict(self) -> Dict[str, Any]:
        """The report as plain data (``--json``, ``--report FILE``)."""
        counts = {status: sum(1 for o in self.outcomes if o.status == status)
                  for status in ("done", "failed", "cancelled")}
        return {"shots": [o.to_dict() for o in self.outcomes], **counts, "exit_code": self.exit_code,
                "interrupted": self.cancelled, "unreachable_servers": dict(self.unreachable)}

    def save(self, path: str) -> None:
        """Write the JSON report atomically (replacing an older report)."""
        from .atomic import atomic_write_bytes
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode("utf-8"), overwrite=True)

    @property
    def failed(self) -> List[ShotOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def exit_code(self) -> int:
        """0 when every shot is done, 130 when the batch was cancelled, else 1."""
        if self.cancelled or any(o.status == "cancelled" for o in self.outcomes):
            return EXIT_CANCELLED
        return EXIT_FAILED if self.failed else EXIT_DONE

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


def client_runner(transfer: str = "pixels", timeout: float = 30.0) -> Tuple[Runner, Callable[[], None]]:
    """A runner that sends shots to servers, and a function closing the calling thread's clients.

    Clients take their CURVE keys from the environment, and give up after ``timeout``
    seconds of silence (sends included); a client whose server stopped answering is
    closed, so a later shot starts with a fresh socket.
    """
    from .client import Client

    clients = _Clients()

    def run(shot: Shot, job_id: str, server: Optional[str], on_progress: Callable[[Progress], None],
            cancel_event: threading.Event) -> Any:
        assert server is not None
        client = clients.by_server.get(server)
        if client is None:
            client = clients.by_server[server] = Client.from_env(server, timeout=timeout)
        try:
            return client.run(shot, job_id=job_id, on_progress=on_progress, cancel_event=cancel_event,
                              transfer=transfer)
        except ServerUnreachable:
            clients.by_server.pop(server).close()
            raise

    def close() -> None:
        for client in clients.by_server.values():
            client.close()
        clients.by_server.clear()

    return run, close


def hello_probe(timeout: float) -> Probe:
    """A probe that asks a server HELLO with this environment's credentials."""
    from .client import Client

    def probe(server: str) -> None:
        with Client.from_env(server, timeout=timeout) as client:
            client.hello()

    return probe


class _Dispatcher:
    """Gives each shot to the live server with the fewest shots in flight (ties: list order).

    A server that does not answer is dropped for the rest of the batch: a dead server
    fails fastest, so "fewest in flight" would otherwise keep choosing it.
    """

    def __init__(self, servers: Sequence[Optional[str]]) -> None:
        self.busy = {s: 0 for s in servers}
        self.down: Dict[str, str] = {}
        self.lock = threading.Lock()

    def acquire(self) -> Optional[str]:
        """A live server, or raise ``ServerUnreachable`` when none is left."""
        with self.lock:
            live = [s for s in self.busy if s not in self.down]
            if not live:
                reasons = "; ".join(f"{s}: {why}" for s, why in self.down.items())
                raise ServerUnreachable(f"no server left to run the shot ({reasons})")
            server = min(live, key=lambda s: self.busy[s])
            self.busy[server] += 1
            return server

    def release(self, server: Optional[str]) -> None:
        with self.lock:
            self.busy[server] -= 1

    def drop(self, server: str, reason: str) -> bool:
        """Take ``server`` out of the batch; True the first time."""
        with self.lock:
            if server in self.down:
                return False
            self.down[server] = reason
            return True

    def check(self, probe: Probe, on_down: Callable[[str, str], None]) -> None:
        """Probe every server at once; drop those that do not answer."""
        def one(server: str) -> None:
            try:
                probe(server)
            except Exception as exc:  # any failure means: do not send shots there
                if self.drop(server, getattr(exc, "message", None) or str(exc)):
                    on_down(server, self.down[server])

        threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in self.busy if s is not None]
        for t in threads:
            t.start()
        _wait(threads)


def run_batch(shots: Sequence[Shot], servers: Sequence[str] = (), jobs: Optional[int] = None,
              on_progress: Optional[ShotProgress] = None,
              on_outcome: Optional[Callable[[ShotOutcome], None]] = None,
              cancel_event: Optional[threading.Event] = None, runner: Optional[Runner] = None,
              transfer: str = "pixels", retries: int = 0, timeout: float = 30.0,
              probe: Optional[Probe] = None,
              on_server_down: Optional[Callable[[str, str], None]] = None,
              on_interrupt: Optional[Callable[[], None]] = None) -> BatchReport:
    """Run every shot; return how each ended, in the order given.

    ``servers`` empty runs shots in this process. ``jobs`` bounds the shots in
    flight (default: one per server, or one in-process). Setting
    ``cancel_event`` (or Ctrl-C in the calling thread, which also calls
    ``on_interrupt``) cancels the running shots and skips the rest.

    Servers are probed first (``probe``; by default HELLO within ``timeout`` when
    the shots go through void-nuke's own client, no probe with a custom ``runner``); those
    that do not answer, and those that stop answering later (``ServerUnreachable``),
    are dropped and their shots go to the others (``on_server_down`` hears of it).
    A shot that fails for another reason than its input is run again up to
    ``retries`` times, under the same job id: it resumes into the same version
    folder. ``timeout`` is the seconds of server silence before a client gives up.
    """
    targets: List[Optional[str]] = list(servers) or [None]
    jobs = jobs or len(targets)
    if jobs < 1:
        raise VoidError("--jobs must be at least 1")
    if retries < 0:
        raise VoidError("--retries must not be negative")
    cancel = cancel_event or threading.Event()
    close: Callable[[], None] = lambda: None
    client_run = runner is None and bool(servers)
    if runner is None:
        if servers:
            runner, close = client_runner(transfer, timeout)
        else:
            runner = local_runner
    dispatcher = _Dispatcher(targets)
    down = on_server_down or (lambda server, reason: None)
    if servers and (probe or client_run):
        dispatcher.check(probe or hello_probe(timeout), down)
    todo: "queue.Queue[Tuple[int, Shot]]" = queue.Queue()
    for item in enumerate(shots):
        todo.put(item)
    outcomes: List[Optional[ShotOutcome]] = [None] * len(shots)

    def run_one(shot: Shot) -> ShotOutcome:
        job_id = new_job_id(shot)  # one id for every attempt: a retry resumes the same job and version
        start = time.monotonic()
        attempts = failures = 0
        server: Optional[str] = None

        def outcome(status: str, error: str = "", result: Any = None) -> ShotOutcome:
            if result is None:
                return ShotOutcome(shot, status, job_id, server, seconds=time.monotonic() - start, error=error,
                                   attempts=attempts)
            frames = getattr(result, "frames", [])
            return ShotOutcome(shot, status, getattr(result, "job_id", job_id), server,
                               str(getattr(result, "version_dir", "")),
                               len(frames) if isinstance(frames, (list, tuple)) else int(frames),
                               time.monotonic() - start, attempts=attempts)

        def report(event: Progress) -> None:
            if on_progress is not None:
                on_progress(shot, event)

        while True:
            if cancel.is_set():
                return outcome("cancelled", "not started: the batch was cancelled" if not attempts else
                               "the batch was cancelled")
            try:
                server = dispatcher.acquire()
            except ServerUnreachable as exc:
                return outcome("failed", exc.message)
            attempts += 1
            try:
                result = runner(shot, job_id, server, report, cancel)
            except Cancelled as exc:
                return outcome("cancelled", exc.message)
            except (ShotError, ImageError) as exc:  # the shot's own input: running it again cannot help
                return outcome("failed", exc.message)
            except ServerUnreachable as exc:
                if server is not None:  # the server is gone, not the shot: another server takes it
                    if dispatcher.drop(server, exc.message):
                        down(server, exc.message)
                    continue
                error = exc.message
            except VoidError as exc:
                error = exc.summary()
            except Exception as exc:  # one broken shot must not stop the others
                error = f"{type(exc).__name__}: {exc}"
            else:
                return outcome("done", result=result)
            finally:
                dispatcher.release(server)
            failures += 1
            if failures > retries:
                return outcome("failed", error)

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
    return BatchReport([o for o in outcomes if o is not None], dict(dispatcher.down), cancelled=cancel.is_set(),
                       abandoned=abandoned)


def _wait(threads: Sequence[threading.Thread]) -> None:
    """Wait for ``threads`` so that Ctrl-C reaches the calling thread at once.

    Never through ``Thread.join(timeout)``: a KeyboardInterrupt landing inside it marks a
    still-running thread as stopped (CPython gh-90882), and the batch would then return
    and exit under its running workers (the empty summary and the abort of old).
    """
    while any(t.is_alive() for t in threads):
        time.sleep(0.1)
