"""Run VOID jobs from Nuke without blocking it, stream their results in, and pick them up after a restart.

Send snapshots the node on the main thread (``snapshot.take``), then a worker
thread runs ``Client.run``; every node, knob or UI change goes back through
``nuke.executeInMainThread``. A ``nuke.ProgressTask`` shows progress and its
Cancel sets the cancel event, which makes the client cancel the server job.
Headless (``nuke -t``, ``nuke.GUI`` False) the job runs inline, printing
progress, and ``send`` returns when it is done.

While a job runs:

- its version appears in the node as soon as its folder exists, and its Read
  shows the frames that have landed (the Source passes through elsewhere),
  re-read at most every ``RELOAD_INTERVAL_S``;
- the node's status and progress knobs follow it frame by frame, updated at
  most ``1 / PROGRESS_INTERVAL_S`` times a second however fast progress
  arrives, outside undo and without marking the script modified.

A job stays in ``_active`` (so Send refuses a second one) until its result
has reached the node on the main thread. The node stores the job (id, its
own node id, server, output folder, input hash, state) in a hidden knob, so
after a Nuke restart ``reattach_all`` follows jobs still running; a copy of
the node (pasted, so with the same knob) has a new node id and is left out.
"""
from __future__ import annotations

import json
import os
import threading
import time
import traceback
from dataclasses import asdict, replace
from typing import Any, Callable, Dict, List, Optional, Set

import nuke

from ..errors import Cancelled, ServerUnreachable, VoidError
from ..panel_model import JobInfo, PanelActions
from ..progress import Progress
from ..results import RunResult
from ..streaming import Throttle, landed_range, node_status
from ..versions import find_job_version
from . import results as versions
from .node import JOB_KNOB, TILE_COLOURS, node_id, void_nodes
from .snapshot import take

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
CANCEL_POLL_S = 0.25
PROGRESS_INTERVAL_S = 0.25
"""At most four node updates a second."""
RELOAD_INTERVAL_S = 2.0
"""A streaming Read is re-read at most this often (and once more at the end)."""
LOOK_INTERVAL_S = 1.0
"""Until the job's version folder exists, it is looked for at most this often (and at every result)."""

Call = Callable[[Any, Callable[[Progress], None], threading.Event], RunResult]


def _new_client(server: str) -> Any:
    from ..client import Client
    return Client.from_env(server)


client_factory: Callable[[str], Any] = _new_client
"""Makes the client for a server address (tests put a double here)."""
clock: Callable[[], float] = time.monotonic
"""The clock of the throttles (tests put a manual one here)."""

_listeners: List[Any] = []
_active: Dict[str, "Job"] = {}


class Job:
    """A job this Nuke session is following on a worker thread."""

    def __init__(self, info: JobInfo, call: Call) -> None:
        self.info = info
        self.call = call
        self.cancel_event = threading.Event()
        self.finished = threading.Event()
        """Set once the job's end has reached the node (on the main thread)."""
        self.thread: Optional[threading.Thread] = None
        self.result: Optional[RunResult] = None
        self.latest: Optional[Progress] = None
        self.landed: Set[int] = set()
        self.version_dir: Optional[str] = None
        self.node_updates = 0
        self.last_reload = float("-inf")
        self.last_look = float("-inf")
        self.node: Optional[object] = None
        """The node, kept once found (a node's Python object outlives it; ``_node_of`` checks)."""
        self.progress = Throttle(PROGRESS_INTERVAL_S, lambda: _on_main_gui(_apply_progress, self), clock=clock)

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self.finished.wait(timeout)


def add_listener(listener: Any) -> None:
    """Receive ``job_started(info)``, ``job_progress(info, progress)``, ``job_finished(info, folder)``."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: Any) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _notify(method: str, *args: Any) -> None:
    for listener in list(_listeners):
        try:
            getattr(listener, method)(*args)
        except Exception:  # a broken listener must not stop the job
            traceback.print_exc()


def _on_main(fn: Callable[..., None], *args: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        fn(*args)
    else:
        nuke.executeInMainThread(fn, args=args)


def _on_main_gui(fn: Callable[..., None], *args: Any) -> None:
    """A display update: queued for the main thread in the GUI, dropped headless (nothing shows it)."""
    if nuke.GUI:
        _on_main(fn, *args)


# -- what the node stores ------------------------------------------------------------------

def job_info(group: object) -> Optional[JobInfo]:
    text = group[JOB_KNOB].value()  # type: ignore[index]
    return JobInfo.from_dict(json.loads(text)) if text else None


def _store(group: object, info: JobInfo) -> None:
    with versions.no_undo():
        group[JOB_KNOB].setValue(json.dumps(asdict(info)))  # type: ignore[index]


def node_for(job_id: str, owner: str = "") -> Optional[object]:
    """The VOID node whose job is ``job_id``: the node with id ``owner`` when given (renames do not
    matter, and a pasted copy of the node, which has a new id, is never taken for it)."""
    for node in void_nodes():
        if owner:
            if node_id(node) == owner:
                return node
            continue
        info = job_info(node)
        if info is not None and info.job_id == job_id and info.node_id in ("", node_id(node)):
            return node
    return None


def _node_of(job: Job) -> Optional[object]:
    """The job's node, without scanning the script on every update; None once it was deleted."""
    if job.node is not None:
        try:
            if node_id(job.node) == job.info.node_id:
                return job.node
        except ValueError:  # "A PythonObject is not attached to a node": deleted
            pass
    job.node = node_for(job.info.job_id, job.info.node_id)
    return job.node


def _show(group: object, text: str, state: str, fraction: Optional[float] = None) -> None:
    values: Dict[str, Any] = {"status": text, "tile_color": TILE_COLOURS[state]}
    if fraction is not None:
        values["progress"] = fraction
    with versions.quietly():
        versions.set_if_changed(group, values)


# -- main-thread updates -------------------------------------------------------------------

def _record(job: Job, first: int, last: int, streaming: bool) -> versions.VersionRecord:
    info = job.info
    folder = job.version_dir or ""
    return versions.VersionRecord(
        name=os.path.basename(folder.rstrip("/\\")),
        pattern=os.path.join(folder, f"{info.name}.{'#' * info.padding}.exr"),
        first=first, last=last, job_id=info.job_id, state_hash=info.state_hash, preview=info.preview,
        view=info.view, streaming=streaming)


def _stream(node: object, job: Job) -> Optional[str]:
    """Make or extend the job's version on the node; returns its name once it exists.

    The version's nodes are made outside undo: undoing an edit of the artist's
    must not take a landing result away.
    """
    if job.version_dir is None:
        return None
    name = os.path.basename(job.version_dir.rstrip("/\\"))
    shown = landed_range(job.landed)
    with versions.no_undo():
        if not any(r.name == name for r in versions.records(node)):
            first, last = shown or (job.info.first, job.info.first - 1)
            versions.add_version(node, _record(job, first, last, streaming=True))
        elif shown is not None:
            versions.extend(node, name, shown[0], shown[1], streaming=True)
    if shown is not None and clock() - job.last_reload >= RELOAD_INTERVAL_S:
        job.last_reload = clock()
        versions.reload(node, name)
    return name


def _keep_landed(node: object, job: Job) -> None:
    """A job that ended without a result keeps the frames that landed as its version, or no version."""
    if job.version_dir is None:
        return
    name = os.path.basename(job.version_dir.rstrip("/\\"))
    shown = landed_range(job.landed)
    with versions.no_undo():
        if shown is None:
            versions.remove_version(node, name)
        elif versions.extend(node, name, shown[0], shown[1], streaming=False) is not None:
            versions.reload(node, name)


def _apply_progress(job: Job) -> None:
    """The node follows its job: its version's landed frames, status and progress knobs."""
    progress = job.latest
    node = _node_of(job)
    if node is None or progress is None or job.finished.is_set():
        return
    job.node_updates += 1
    name = _stream(node, job)
    total = job.info.last - job.info.first + 1
    _show(node, node_status(name, len(job.landed), total, progress), "running", progress.fraction)


def _apply_finish(job: Job) -> None:
    """The job's end reaches the node; only then is the job over for this session."""
    try:
        with versions.no_undo():
            _finish_on_node(job)
    finally:
        _active.pop(job.info.job_id, None)
        job.finished.set()


def _finish_on_node(job: Job) -> None:
    """Store the job's end on its node, and its version: the result, or what landed before it stopped."""
    info, result = job.info, job.result
    node = _node_of(job)
    if node is None:
        return  # the node was deleted while its job ran; the files are in info.out_dir
    current = job_info(node)
    if current is None or current.job_id == info.job_id:
        _store(node, info)
    if result is None or not result.frames:
        _keep_landed(node, job)
        _show(node, f"{info.state}: {info.message}" if info.message else info.state,
              "failed" if info.state in (FAILED, RUNNING) else "idle")
        return
    job.version_dir = result.version_dir
    record = _record(job, min(result.frames), max(result.frames), streaming=False)
    versions.add_version(node, record, select=True)
    versions.reload(node, record.name)
    view = f" of view {record.view}" if record.view else ""
    _show(node, f"{record.label} ready: {len(result.frames)} frames{view}", "done", 1.0)
    versions.refresh_stale(node)


# -- the worker ----------------------------------------------------------------------------

class _Reporter:
    """The ``on_progress`` callback: ProgressTask, landed frames, node (throttled), panel, terminal."""

    def __init__(self, job: Job, task: Optional[Any]) -> None:
        self.job = job
        self.task = task
        self.last_line = ""
        self.heard = False
        """Progress arrived: the server has the job (it keeps running if contact is lost)."""

    def __call__(self, progress: Progress) -> None:
        from ..panel_model import describe_progress

        job = self.job
        self.heard = True
        if progress.stage == "download" and progress.frame is not None:
            job.landed.add(int(progress.frame))
        if job.version_dir is None and (progress.stage == "download" or clock() - job.last_look >= LOOK_INTERVAL_S):
            job.last_look = clock()
            job.version_dir = find_job_version(job.info.out_dir, job.info.job_id)
        job.latest = progress
        line = describe_progress(progress)
        if self.task is not None:
            self.task.setProgress(int(progress.fraction * 100))
            self.task.setMessage(line)
            if self.task.isCancelled():
                job.cancel_event.set()
        elif line != self.last_line:
            print(f"VOID {job.info.node}: {line}")
        self.last_line = line
        _notify("job_progress", job.info, progress)
        if nuke.GUI:  # headless, the node gets the result at the end; nobody watches it meanwhile
            job.progress.request()


def _watch_cancel(job: Job, task: Any) -> None:
    """Turn the ProgressTask's Cancel into the cancel event even while no progress arrives."""
    while not job.finished.wait(CANCEL_POLL_S):
        if task.isCancelled():
            job.cancel_event.set()
            return


def _finish(job: Job, state: str, message: str, result: Optional[RunResult]) -> None:
    job.info = replace(job.info, state=state, message=message)
    job.result = result
    if not nuke.GUI:
        print(f"VOID {job.info.node}: job {job.info.job_id} {state}{': ' + message if message else ''}")
    _notify("job_finished", job.info, result.version_dir if result is not None else job.version_dir)


def _work(job: Job) -> None:
    task = nuke.ProgressTask(f"VOID {job.info.node}") if nuke.GUI else None
    if task is not None:
        threading.Thread(target=_watch_cancel, args=(job, task), daemon=True).start()
    client = None
    reporter = _Reporter(job, task)
    try:
        client = client_factory(job.info.server)
        result = job.call(client, reporter, job.cancel_event)
    except Cancelled:
        _finish(job, CANCELLED, "cancelled on request", None)
    except ServerUnreachable as exc:
        if reporter.heard:  # the job runs on without us: keep it re-attachable
            _finish(job, RUNNING, f"{exc.message} Reopen the script to collect the results.", None)
        else:
            _finish(job, FAILED, exc.message, None)
    except VoidError as exc:
        _finish(job, FAILED, exc.message, None)
    except Exception as exc:  # report anything else on the node instead of losing it in a thread
        traceback.print_exc()
        _finish(job, FAILED, f"unexpected error: {exc!r} (traceback in the terminal)", None)
    else:
        _finish(job, DONE, "", result)
    finally:
        if client is not None:
            client.close()
        _on_main(_apply_finish, job)


def _start(info: JobInfo, call: Call, node: Optional[object] = None) -> Job:
    job = Job(info, call)
    job.node = node
    _active[info.job_id] = job
    _notify("job_started", info)
    if nuke.GUI:
        job.thread = threading.Thread(target=_work, args=(job,), name=f"void-{info.job_id}", daemon=True)
        job.thread.start()
    else:
        _work(job)
    return job


# -- actions -------------------------------------------------------------------------------

def _refuse(group: object, message: str) -> None:
    """Tell the artist (GUI) or the script (headless) why nothing was done."""
    if not nuke.GUI:
        raise VoidError(message)
    nuke.message(f"{group.name()}: {message}")  # type: ignore[attr-defined]


def running_job(group: object) -> Optional[Job]:
    """This node's job still followed by this session (its end not yet on the node), if any."""
    own = node_id(group)
    return next((job for job in _active.values() if job.info.node_id == own), None)


def send(group: object, preview: bool = False) -> Optional[Job]:
    """Snapshot the node and start its job (a quadmask preview when ``preview``).

    GUI: returns at once with the running ``Job``. Headless: returns when the
    job has finished. None when nothing was sent (the reason is on the node).
    """
    running = running_job(group)
    if running is not None:
        _refuse(group, f"job {running.info.job_id} is still running; Cancel it or wait for it")
        return None
    versions.refresh_stale(group)
    try:
        snap = take(group, preview)
    except VoidError as exc:
        _show(group, f"error: {exc.message}", "failed")
        _refuse(group, exc.message)
        return None
    shot, process = snap.shot, snap.shot.process_frames
    notes = " ".join(f"({note})" for note in snap.notes)
    info = JobInfo(snap.job_id, str(group["server"].value()).strip(), shot.output.directory,  # type: ignore[index]
                   shot.output_name, shot.result_padding, process.first, process.last, snap.state_hash,
                   preview, RUNNING, notes, group.fullName(), node_id(group), shot.view)  # type: ignore[attr-defined]
    for note in snap.notes:
        print(f"VOID {info.node}: {note}")
    _store(group, info)
    _show(group, f"sending job {info.job_id}" + (f" {notes}" if notes else ""), "running", 0.0)
    return _start(info, lambda client, report, event: client.run(
        shot, job_id=info.job_id, on_progress=report, cancel_event=event, preview=preview), group)


def _cancel_on_server(info: JobInfo) -> None:
    client = client_factory(info.server)
    try:
        client.cancel(info.job_id)
    except VoidError as exc:
        print(f"VOID: could not cancel job {info.job_id} on {info.server}: {exc.message}")
    finally:
        client.close()


def cancel(group: object) -> None:
    """Cancel the node's running job: through its worker, or directly on the server."""
    job = running_job(group)
    info = job.info if job is not None else job_info(group)
    if info is None or info.state != RUNNING:
        _refuse(group, "no job of this node is running")
        return
    _show(group, f"cancelling job {info.job_id}", "running")
    if job is not None:
        job.cancel_event.set()
        return
    _store(group, replace(info, state=CANCELLED, message="cancelled on request"))
    if nuke.GUI:
        threading.Thread(target=_cancel_on_server, args=(info,), daemon=True).start()
    else:
        _cancel_on_server(info)


def reattach_all() -> List[Job]:
    """Follow again every job the script's nodes left running (GUI sessions only)."""
    if not nuke.GUI:
        return []
    started = []
    for node in void_nodes():
        info = job_info(node)
        if info is None or info.state != RUNNING or info.job_id in _active:
            continue
        if info.node_id and info.node_id != node_id(node):
            continue  # a copy of the node that sent it
        if not info.node_id:  # stored by the first release, before nodes had ids
            info = replace(info, node_id=node_id(node))
        _show(node, f"re-attached to job {info.job_id}", "running")
        started.append(_start(info, lambda client, report, event, i=info: client.attach(
            i.job_id, i.out_dir, on_progress=report, cancel_event=event), node))
    return started


class NukeActions(PanelActions):
    """The panel's cancel/reload for jobs of this session, run on Nuke's main thread."""

    def cancel(self, job_id: str) -> None:
        _on_main(_cancel_by_id, job_id)

    def reload(self, job_id: str) -> None:
        _on_main(_reload_by_id, job_id)


def _cancel_by_id(job_id: str) -> None:
    job = _active.get(job_id)
    node = node_for(job_id, job.info.node_id if job is not None else "")
    if node is not None:
        cancel(node)
    elif job is not None:
        job.cancel_event.set()


def _reload_by_id(job_id: str) -> None:
    job = _active.get(job_id)
    node = node_for(job_id, job.info.node_id if job is not None else "")
    if node is not None:
        versions.reload(node)
