"""Failures that speak: what failed, on which frame, what to do, and a trace id.

An exception the runner did not expect (an engine bug, an OpenCV assertion, a
full disk) becomes a ``JobFailure``: a ``VoidError`` whose message names the
stage, the frame and the cause in one line and says what to do, and whose
``detail`` carries ``trace_id`` (8 hex digits), ``frame`` and ``stage``. The
full traceback stays on the machine that ran the job: the server writes it to
its log under the trace id, ``void-nuke run`` to ``failures.log`` in the job's
folder. It never crosses the wire.
"""
from __future__ import annotations

import datetime
import os
import re
import secrets
import traceback
from typing import Any, Dict, Optional

from void_nuke.errors import VoidError

FAILURES_LOG = "failures.log"
"""File in a job's folder that collects the traceback of every failure, by trace id."""
MAX_CAUSE_CHARS = 400
OPENCV_PREFIX = re.compile(r"^OpenCV\([^)]*\) \S+:\d+: error: ")

ADVICE = {
    "engine": "This is a fault of the engine, not of your shot: run the job again (finished frames are "
              "kept); if it fails again, try a smaller edit region or frame range or the other engine, and "
              "report it with the trace id",
    "masks": "Check the shot's mattes, shapes and clicked points for this frame; if they look right, report "
             "it with the trace id",
    "result": "Check that the output folder is writable and has free space, then run the job again "
              "(finished frames are kept); if it persists, report it with the trace id",
    "job": "Run the job again (finished frames are kept); if it fails again, report it with the trace id",
}
OUT_OF_MEMORY = ("Shorten the frame range, close other jobs on this host, or run the job on a host with more "
                 "memory (finished frames are kept)")


def new_trace_id() -> str:
    """Short and unique enough to find one failure in a log: 8 hex digits."""
    return secrets.token_hex(4)


def describe_exception(exc: BaseException) -> str:
    """``cv2.error: OpenCV(…) … in function 'remap'`` on one line, of bounded length.

    Library exceptions are named with their module (OpenCV's is just ``error``).
    """
    kind = type(exc)
    name = kind.__name__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__name__}"
    text = re.sub(r"\s+", " ", str(exc)).strip()
    text = OPENCV_PREFIX.sub("", text)  # OpenCV's source location is in the traceback
    if len(text) > MAX_CAUSE_CHARS:
        text = text[:MAX_CAUSE_CHARS - 1] + "…"
    return f"{name}: {text}" if text else name


class JobFailure(VoidError):
    """An unexpected exception of one stage of a job, explained for a person.

    ``traceback`` holds the full Python traceback for the log; ``to_dict`` (what
    crosses the wire) leaves it out.
    """

    code = "engine_failed"

    def __init__(self, message: str, *, code: Optional[str] = None, detail: Dict[str, Any],
                 traceback_text: str) -> None:
        super().__init__(message, code=code, detail=detail)
        self.traceback = traceback_text

    @property
    def trace_id(self) -> str:
        return str(self.detail["trace_id"])

    def log_text(self, job_id: str) -> str:
        """The log entry: one line with the job, trace id and message, then the traceback."""
        return f"job {job_id} failed (trace id {self.trace_id}): {self.message}\n{self.traceback.rstrip()}"


def job_failure(exc: BaseException, stage: str, what: str, frame: Optional[int] = None,
                extra: Optional[Dict[str, Any]] = None) -> JobFailure:
    """Wrap ``exc`` (being handled now) as a ``JobFailure`` of ``stage``.

    ``what`` names the failing part for the message ("the classic engine",
    "building the quadmask"); ``stage`` picks the advice (engine, masks, result, job).
    """
    trace_id = new_trace_id()
    where = f" on frame {frame}" if frame is not None else ""
    detail: Dict[str, Any] = {"trace_id": trace_id, "stage": stage, **(extra or {})}
    if frame is not None:
        detail["frame"] = frame
    if isinstance(exc, MemoryError):
        return JobFailure(f"{what} ran out of host memory{where}. {OUT_OF_MEMORY}.", code="out_of_memory",
                          detail=detail, traceback_text=_traceback_of(exc))
    return JobFailure(f"{what} failed{where}: {describe_exception(exc)}. {ADVICE.get(stage, ADVICE['job'])}.",
                      detail=detail, traceback_text=_traceback_of(exc))


def crashed_worker(crashes: int, exit_code: Optional[int], frame: Optional[int]) -> JobFailure:
    """The failure of a job whose worker process kept dying (native code crashed, or the kernel's
    out-of-memory killer struck); there is no Python traceback, only the worker's stack dump."""
    where = f" on frame {frame}" if frame is not None else ""
    detail: Dict[str, Any] = {"trace_id": new_trace_id(), "stage": "engine", "exit_code": exit_code}
    if frame is not None:
        detail["frame"] = frame
    return JobFailure(f"the worker process died {crashes} times running this job{where} (last exit code "
                      f"{exit_code}): native code crashed or the host ran out of memory. Run it again with a "
                      "shorter frame range or a smaller edit region; if it keeps dying, report it with the "
                      "trace id", code="worker_crashed", detail=detail, traceback_text="")


def append_to_log(folder: str, job_id: str, failure: JobFailure) -> str:
    """Append ``failure`` with a timestamp to ``folder/failures.log``; return the file's path."""
    path = os.path.join(folder, FAILURES_LOG)
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{stamp} {failure.log_text(job_id)}\n\n")
    return path


def _traceback_of(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
