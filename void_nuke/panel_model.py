"""The VOID panel's state and actions, with no Qt and no Nuke.

The dockable panel (``void_nuke.nuke.panel_widget``) only renders what this
model holds and forwards clicks to it. The model keeps three things:

- servers, polled with ``Client.status()`` (health, engines, GPU, free VRAM,
  queue length, and the server's recent jobs);
- jobs, fed by the Nuke side as they start, progress and finish (any thread),
  merged with the jobs the servers report;
- a log of what happened.

Every change bumps ``revision``; the widget redraws when it sees a new one,
so worker threads never touch Qt.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

from .errors import VoidError
from .progress import Progress

POLL_TIMEOUT_S = 3.0
TERMINAL = ("done", "failed", "cancelled")


def format_eta(seconds: Optional[float]) -> str:
    """``None`` → ``""``; 42 → ``42s``; 185 → ``3m05s``; 3720 → ``1h02m``."""
    if seconds is None:
        return ""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_bytes(count: Optional[int]) -> str:
    if not count:
        return ""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024.0:
            return f"{value:.1f} {unit}"
        value /= 1024.0
    return f"{value:.1f} TiB"


def describe_progress(p: Progress) -> str:
    """One line for a status knob or a log: ``engine 45% · frame 1012 · ETA 1m20s``."""
    parts = [f"{p.stage} {int(round(p.fraction * 100))}%"]
    if p.frame is not None:
        parts.append(f"frame {p.frame}")
    if p.eta_s is not None:
        parts.append(f"ETA {format_eta(p.eta_s)}")
    if p.message:
        parts.append(p.message)
    return " · ".join(parts)


@dataclass(frozen=True)
class JobInfo:
    """A job sent from a VOID node: what the node stores and the panel shows."""

    job_id: str
    server: str
    out_dir: str
    name: str
    """The results' file name before the frame number."""
    padding: int
    first: int
    last: int
    state_hash: str
    preview: bool = False
    state: str = "running"
    message: str = ""
    node: str = ""
    node_id: str = ""
    """The sending node's own id (a pasted copy has another)."""
    view: str = ""
    """The stereo view sent; empty in a single-view script."""

    @property
    def frames(self) -> str:
        return f"{self.first}-{self.last}"

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "JobInfo":
        """Tolerates keys a newer release added."""
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in fields})


@dataclass(frozen=True)
class ServerRow:
    address: str
    state: str = "unknown"
    """``ok``, ``unreachable``, ``error`` or ``unknown`` (not polled yet)."""
    version: str = ""
    engines: str = ""
    gpu: str = ""
    free_vram: str = ""
    queue: int = 0
    running: str = ""
    message: str = ""

    @classmethod
    def from_status(cls, address: str, body: Dict[str, Any]) -> "ServerRow":
        engines = body.get("engines") or {}
        ready = [name for name, e in sorted(engines.items()) if (e or {}).get("available")]
        gpu = body.get("gpu") or {}
        return cls(address, "ok", str(body.get("version", "")), ", ".join(ready),
                   str(gpu.get("name", "")) if gpu.get("cuda") else "no GPU",
                   format_bytes(gpu.get("free_bytes")) if gpu.get("cuda") else "",
                   int(body.get("queue") or 0), str(body.get("running") or ""))


@dataclass(frozen=True)
class JobRow:
    job_id: str
    server: str
    node: str = ""
    shot: str = ""
    frames: str = ""
    state: str = "running"
    stage: str = ""
    fraction: float = 0.0
    eta: str = ""
    message: str = ""
    folder: str = ""
    """The results' folder (the job's output folder until a version is known)."""
    local: bool = False
    """Started from this Nuke session (cancel and reload go through the node)."""

    @property
    def percent(self) -> int:
        return int(round(self.fraction * 100))


@dataclass(frozen=True)
class LogLine:
    time: float
    level: str
    text: str


class PanelActions:
    """What the panel asks of the Nuke side for a job started here (main-thread work)."""

    def cancel(self, job_id: str) -> None:
        raise NotImplementedError

    def reload(self, job_id: str) -> None:
        raise NotImplementedError


def _default_client(address: str) -> Any:
    from .client import Client
    return Client.from_env(address, timeout=POLL_TIMEOUT_S)


class PanelModel:
    """Servers, jobs and log of the VOID panel. Thread-safe; never touches Qt or Nuke."""

    def __init__(self, servers: Sequence[str] = (), client_factory: Optional[Callable[[str], Any]] = None,
                 actions: Optional[PanelActions] = None, max_log: int = 500,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._servers: "OrderedDict[str, ServerRow]" = OrderedDict((a, ServerRow(a)) for a in servers)
        self._jobs: "OrderedDict[str, JobRow]" = OrderedDict()
        self._log: Deque[LogLine] = deque(maxlen=max_log)
        self._client = client_factory or _default_client
        self.actions = actions
        self._clock = clock
        self.revision = 0

    # -- reading ---------------------------------------------------------------------------

    def servers(self) -> List[ServerRow]:
        with self._lock:
            return list(self._servers.values())

    def jobs(self) -> List[JobRow]:
        with self._lock:
            return list(self._jobs.values())

    def job(self, job_id: str) -> Optional[JobRow]:
        with self._lock:
            return self._jobs.get(job_id)

    def log_lines(self) -> List[LogLine]:
        with self._lock:
            return list(self._log)

    # -- changing --------------------------------------------------------------------------

    def _changed(self) -> None:
        self.revision += 1

    def log(self, text: str, level: str = "info") -> None:
        with self._lock:
            self._log.append(LogLine(self._clock(), level, text))
            self._changed()

    def add_server(self, address: str) -> None:
        address = address.strip()
        if not address:
            return
        with self._lock:
            if address not in self._servers:
                self._servers[address] = ServerRow(address)
                self._changed()

    def remove_server(self, address: str) -> None:
        with self._lock:
            if self._servers.pop(address, None) is not None:
                self._changed()

    def poll_servers(self) -> None:
        """Ask every server for its status. Blocking network I/O: run it off the UI thread."""
        for address in [row.address for row in self.servers()]:
            self._poll(address)

    def _poll(self, address: str) -> None:
        client = None
        try:
            client = self._client(address)
            body = client.status()
        except VoidError as exc:
            row = ServerRow(address, "unreachable" if exc.code == "unreachable" else "error",
                            message=exc.message)
            body = {}
        except Exception as exc:  # a refused socket, a bad address: show it on the row
            row = ServerRow(address, "error", message=str(exc))
            body = {}
        else:
            row = ServerRow.from_status(address, body)
        finally:
            if client is not None:
                client.close()
        with self._lock:
            if address not in self._servers:
                return
            before = self._servers[address]
            self._servers[address] = row
            if before.state != row.state:
                self._log.append(LogLine(self._clock(), "info" if row.state == "ok" else "warning",
                                         f"{address}: {row.state}{' - ' + row.message if row.message else ''}"))
            for summary in body.get("jobs") or []:
                self._merge_server_job(address, summary)
            self._changed()

    def _merge_server_job(self, address: str, summary: Dict[str, Any]) -> None:
        job_id = str(summary.get("job", ""))
        if not job_id:
            return
        known = self._jobs.get(job_id)
        if known is not None and (known.local and known.state not in TERMINAL):
            return  # the live progress stream is fresher than the poll
        progress = summary.get("progress") or {}
        error = summary.get("error") or {}
        base = known or JobRow(job_id, address)
        self._jobs[job_id] = replace(
            base, shot=str(summary.get("shot") or base.shot), frames=str(summary.get("frames") or base.frames),
            state=str(summary.get("state") or base.state), stage=str(progress.get("stage") or base.stage),
            fraction=float(progress.get("fraction") or base.fraction),
            eta=format_eta(progress.get("eta_s")) if summary.get("state") not in TERMINAL else "",
            message=str(error.get("message") or progress.get("message") or base.message))

    # -- job events from the Nuke side (any thread) ----------------------------------------

    def job_started(self, info: JobInfo) -> None:
        with self._lock:
            node = f"{info.node} ({info.view})" if info.view else info.node
            self._jobs[info.job_id] = JobRow(info.job_id, info.server, node, info.name, info.frames,
                                             "running", "sending", 0.0, "", "", info.out_dir, True)
            self._log.append(LogLine(self._clock(), "info", f"{info.node}: sent job {info.job_id} to "
                                                            f"{info.server}"))
            self._changed()

    def job_progress(self, info: JobInfo, progress: Progress) -> None:
        with self._lock:
            row = self._jobs.get(info.job_id) or JobRow(info.job_id, info.server, info.node, info.name,
                                                        info.frames, local=True, folder=info.out_dir)
            self._jobs[info.job_id] = replace(row, state="running", stage=progress.stage,
                                              fraction=progress.fraction, eta=format_eta(progress.eta_s),
                                              message=progress.message)
            self._changed()

    def job_finished(self, info: JobInfo, version_dir: Optional[str]) -> None:
        with self._lock:
            row = self._jobs.get(info.job_id) or JobRow(info.job_id, info.server, info.node, info.name,
                                                        info.frames, local=True)
            self._jobs[info.job_id] = replace(row, state=info.state, stage=info.state, eta="",
                                              message=info.message,
                                              fraction=1.0 if info.state == "done" else row.fraction,
                                              folder=version_dir or row.folder or info.out_dir)
            level = "info" if info.state == "done" else "error" if info.state == "failed" else "warning"
            self._log.append(LogLine(self._clock(), level, f"{info.node}: job {info.job_id} {info.state}"
                                                           f"{': ' + info.message if info.message else ''}"))
            self._changed()

    # -- actions from the widget -----------------------------------------------------------

    def cancel(self, job_id: str) -> None:
        """Cancel a job: through its node when started here, else directly on its server (blocking)."""
        row = self.job(job_id)
        if row is None or row.state in TERMINAL:
            return
        if row.local and self.actions is not None:
            self.actions.cancel(job_id)
        else:
            client = self._client(row.server)
            try:
                client.cancel(job_id)
            finally:
                client.close()
        self.log(f"cancel requested for job {job_id}", "warning")

    def reload(self, job_id: str) -> None:
        row = self.job(job_id)
        if row is not None and row.local and self.actions is not None:
            self.actions.reload(job_id)
