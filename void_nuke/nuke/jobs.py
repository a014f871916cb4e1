"""Run VOID jobs from Nuke without blocking it, and pick them up again after a restart.

Send snapshots the node on the main thread (``snapshot.take``), then a worker
thread runs ``Client.run``; every node, knob or UI change goes back through
``nuke.executeInMainThread``. A ``nuke.ProgressTask`` shows progress and its
Cancel sets the cancel event, which makes the client cancel the server job.
Headless (``nuke -t``, ``nuke.GUI`` False) the job runs inline, printing
progress, and ``send`` returns when it is done.

The node stores the job (id, server, output folder, input hash, state) in a
hidden knob, so after a Nuke restart ``reattach_all`` finds jobs still
running and follows them with ``Client.attach``.
"""
from __future__ import annotations

import json
import os
import threading
import traceback
from dataclasses import asdict, replace
from typing import Any, Callable, Dict, List, Optional

import nuke

from ..errors import Cancelled, ServerUnreachable, VoidError
from ..panel_model import JobInfo, PanelActions, describe_progress
from ..progress import Progress
from ..results import RunResult
from . import results as versions
from .node import JOB_KNOB, TILE_COLOURS, void_nodes
from .snapshot import take

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
CANCEL_POLL_S = 0.25

Call = Callable[[Any, Callable[[Progress], None], threading.Event], RunResult]


def _new_client(server: str) -> Any:
    from ..client import Client
    return Client.from_env(server)


client_factory: Callable[[str], Any] = _new_client
"""Makes the client for a server address (tests put a double here)."""

_listeners: List[Any] = []
_active: Dict[str, "Job"] = {}


class Job:
    """A job this Nuke session is following on a worker thread."""

    def __init__(self, info: JobInfo, call: Call) -> None:
        self.info = info
        self.call = call
        self.cancel_event = threading.Event()
        self.finished = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.result: Optional[RunResult] = None

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


# -- what the node stores ------------------------------------------------------------------

def job_info(group: object) -> Optional[JobInfo]:
    text = group[JOB_KNOB].value()  # type: ignore[index]
    return JobInfo.from_dict(json.loads(text)) if text else None


def _store(group: object, info: JobInfo) -> None:
    group[JOB_KNOB].setValue(json.dumps(asdict(info)))  # type: ignore[index]


def node_for(job_id: str) -> Optional[object]:
    """The VOID node whose last job is ``job_id`` (found by id: renames do not matter)."""
    for node in void_nodes():
        info = job_info(node)
        if info is not None and info.job_id == job_id:
            return node
    return None


def _show(group: object, text: str, state: str, fraction: Optional[float] = None) -> None:
    group["status"].setValue(text)  # type: ignore[index]
    group["tile_color"].setValue(TILE_COLOURS[state])  # type: ignore[index]
    if fraction is not None:
        group["progress"].setValue(fraction)  # type: ignore[index]


# -- main-thread updates -------------------------------------------------------------------

def _apply_progress(job_id: str, progress: Progress) -> None:
    node = node_for(job_id)
    if node is not None:
        _show(node, describe_progress(progress), "running", progress.fraction)


def _apply_finish(info: JobInfo, result: Optional[RunResult]) -> None:
    node = node_for(info.job_id)
    if node is None:
        return  # the node was deleted while its job ran; the files are in info.out_dir
    _store(node, info)
    if result is None or not result.frames:
        _show(node, f"{info.state}: {info.message}" if info.message else info.state,
              "failed" if info.state in (FAILED, RUNNING) else "idle")
        return
    record = versions.VersionRecord(
        name=os.path.basename(result.version_dir.rstrip("/\\")),
        pattern=result.pattern or os.path.join(result.version_dir, f"{info.name}.{'#' * info.padding}.exr"),
        first=min(result.frames), last=max(result.frames), job_id=info.job_id,
        state_hash=info.state_hash, preview=info.preview)
    _show(node, f"{record.label} ready: {len(result.frames)} frames", "done", 1.0)
    versions.add_version(node, record)  # selects it, which sets the tile colour from the stale check


# -- the worker ----------------------------------------------------------------------------

class _Reporter:
    """The ``on_progress`` callback: ProgressTask, node status, panel, terminal."""

    def __init__(self, job: Job, task: Optional[Any]) -> None:
        self.job = job
        self.task = task
        self.last_line = ""
        self.heard = False
        """Progress arrived: the server has the job (it keeps running if contact is lost)."""

    def __call__(self, progress: Progress) -> None:
        line = describe_progress(progress)
        self.heard = True
        if self.task is not None:
            self.task.setProgress(int(progress.fraction * 100))
            self.task.setMessage(line)
            if self.task.isCancelled():
                self.job.cancel_event.set()
        elif line != self.last_line:
            print(f"VOID {self.job.info.node}: {line}")
        self.last_line = line
        _notify("job_progress", self.job.info, progress)
        _on_main(_apply_progress, self.job.info.job_id, progress)


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
    _notify("job_finished", job.info, result.version_dir if result is not None else None)
    _on_main(_apply_finish, job.info, result)


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
        _active.pop(job.info.job_id, None)
        job.finished.set()


def _start(info: JobInfo, call: Call) -> Job:
    job = Job(info, call)
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


def send(group: object, preview: bool = False) -> Optional[Job]:
    """Snapshot the node and start its job (a quadmask preview when ``preview``).

    GUI: returns at once with the running ``Job``. Headless: returns when the
    job has finished. None when nothing was sent (the reason is on the node).
    """
    running = job_info(group)
    if running is not None and running.job_id in _active:
        _refuse(group, f"job {running.job_id} is still running; Cancel it or wait for it")
        return None
    try:
        snap = take(group, preview)
    except VoidError as exc:
        _show(group, f"error: {exc.message}", "failed")
        _refuse(group, exc.message)
        return None
    shot, process = snap.shot, snap.shot.process_frames
    info = JobInfo(snap.job_id, str(group["server"].value()).strip(), shot.output.directory,  # type: ignore[index]
                   shot.output_name, shot.result_padding, process.first, process.last, snap.state_hash,
                   preview, RUNNING, "", group.fullName())  # type: ignore[attr-defined]
    _store(group, info)
    _show(group, f"sending job {info.job_id}", "running", 0.0)
    return _start(info, lambda client, report, event: client.run(
        shot, job_id=info.job_id, on_progress=report, cancel_event=event, preview=preview))


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
    info = job_info(group)
    if info is None or info.state != RUNNING:
        _refuse(group, "no job of this node is running")
        return
    job = _active.get(info.job_id)
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
        _show(node, f"re-attached to job {info.job_id}", "running")
        started.append(_start(info, lambda client, report, event, i=info: client.attach(
            i.job_id, i.out_dir, on_progress=report, cancel_event=event)))
    return started


class NukeActions(PanelActions):
    """The panel's cancel/reload for jobs of this session, run on Nuke's main thread."""

    def cancel(self, job_id: str) -> None:
        _on_main(_cancel_by_id, job_id)

    def reload(self, job_id: str) -> None:
        _on_main(_reload_by_id, job_id)


def _cancel_by_id(job_id: str) -> None:
    node = node_for(job_id)
    if node is not None:
        cancel(node)
    elif job_id in _active:
        _active[job_id].cancel_event.set()


def _reload_by_id(job_id: str) -> None:
    node = node_for(job_id)
    if node is not None:
        versions.reload(node)
