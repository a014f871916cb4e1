"""``void-nuke run``: one shot's frames on a farm node (or any machine), without Nuke.

The engine runs either in this process, with the weights named by the shared
engine settings (``--model-dir`` ... or ``VOID_MODEL_DIR`` ...), or on the
worker's own void-server when one is given (``--server``, or ``VOID_RUN_SERVER``
set by an OpenJD render step's environment), so that every task of a worker
shares one model load. Either way the frames land in the version folder the
job names and the job id keeps its resumable state (``VOID_CACHE_DIR``), so a
retried task continues.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional

from ..progress import Progress
from ..results import RunResult
from ..shot import Shot, new_job_id
from .tasks import version_dir


@contextmanager
def _cancel_on_signals(cancel: threading.Event) -> Iterator[None]:
    """SIGTERM (a farm cancelling the task) and Ctrl-C cancel the job on the server too.

    Without this the worker's server would keep computing a cancelled task's job, and the
    worker's next task would wait behind it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.getsignal(sig) for sig in handled}
    for sig in handled:
        signal.signal(sig, lambda *_: cancel.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def delivery_version(shot: Shot, version: Optional[str]) -> Optional[str]:
    """The version folder name to deliver into: ``vNNN`` as given, or the one Prepare claimed (``next-...``)."""
    if not version:
        return None
    return os.path.basename(version_dir(shot, version))


def render(shot: Shot, engine: Dict[str, Any], job_id: Optional[str] = None, version: Optional[str] = None,
           server: Optional[str] = None, on_progress: Optional[Callable[[Progress], None]] = None,
           cancel_event: Optional[threading.Event] = None, work_dir: Optional[str] = None,
           preview: bool = False, timeout: float = 60.0, min_gpu_memory: float = 0,
           server_keys: bool = True) -> RunResult:
    """Run ``shot`` (paths already local) on ``server``, or in this process with ``engine`` settings.

    ``server_keys``: use this environment's CURVE keys for ``server`` (not for the worker's own
    loopback server, which has none). ``min_gpu_memory`` (GB): refuse to run the void engine here on
    a smaller GPU.
    """
    job_id = job_id or new_job_id(shot)
    folder = delivery_version(shot, version)
    if server:
        from ..client import Client

        cancel = cancel_event or threading.Event()
        with (Client.from_env(server, timeout=timeout) if server_keys else Client(server, timeout=timeout)) as client, \
                _cancel_on_signals(cancel):
            return client.run(shot, job_id, on_progress=on_progress, cancel_event=cancel, transfer="paths",
                              preview=preview, version=folder)
    from void_server.runner import default_work_dir, run_shot_local
    from void_server.settings import ServerSettings
    from void_server.worker_checks import check_gpu_memory, check_void_available

    work_dir = work_dir or default_work_dir()
    settings = ServerSettings(data_dir=work_dir, **engine).engine_settings()
    if shot.engine.name == "void" and not preview:
        check_void_available(settings, shot.engine.passes)
        if min_gpu_memory:
            check_gpu_memory(min_gpu_memory, str(settings.get("device") or "auto"))
    return run_shot_local(shot, job_id=job_id, on_progress=on_progress, cancel_event=cancel_event,
                          version=folder, settings=settings, work_dir=work_dir, preview=preview)
