"""Scenes for the Nuke tests, built in Python (no .nk files), plus a ``Client`` test double.

The double stands in for ``void_nuke.client.Client`` at the unit level only:
it claims the version folder and writes real result EXRs the way the real
client does; the real ZeroMQ path is covered by the end-to-end tests.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

import nuke
import nuke.rotopaint as rp
from void_nuke.errors import Cancelled
from void_nuke.exrio import Image, make_spec, write_image
from void_nuke.progress import Progress
from void_nuke.results import RunResult
from void_nuke.versions import claim_version, find_job_version


def write_plate(folder: str, first: int, last: int, size: Tuple[int, int] = (64, 32), name: str = "plate") -> str:
    """Real half-float RGBA EXRs ``folder/name.####.exr``; returns the pattern."""
    os.makedirs(folder, exist_ok=True)
    for frame in range(first, last + 1):
        pixels = np.full((size[1], size[0], 4), frame / 2000.0, np.float16)
        write_image(os.path.join(folder, f"{name}.{frame:04d}.exr"), Image(pixels, make_spec(*size)))
    return os.path.join(folder, f"{name}.####.exr")


def plate_read(pattern: str, first: int, last: int, raw: bool = True) -> Any:
    read = nuke.nodes.Read()
    read["file"].fromUserText(f"{pattern} {first}-{last}")
    read["raw"].setValue(raw)
    return read


def roto_node(width: int, height: int, cls: str = "Roto") -> Any:
    node = nuke.nodes.__getattr__(cls)()
    node["format"].setValue(nuke.Format(width, height))
    return node


def square(name: str, x0: float, y0: float, x1: float, y1: float) -> Any:
    """A square shape in Nuke space (bottom-left origin), points counter-clockwise."""
    return rp.Shape(None, (x0, y0), (x1, y0), (x1, y1), (x0, y1), name=name)


def void_node_on(source: Any, output: str) -> Any:
    """A VOID node wired to ``source`` with its output folder set."""
    from void_nuke.nuke.node import create_void_node

    for node in nuke.allNodes():
        node.setSelected(node is source)
    group = create_void_node()
    group["output"].setValue(output)
    return group


class FakeClient:
    """``Client`` double: writes results like the real client, reports progress, honours cancel."""

    instances: List["FakeClient"] = []

    def __init__(self, server: str, hold: Optional[threading.Event] = None,
                 fail: Optional[Exception] = None, refuse: Optional[Exception] = None,
                 gate: Optional[threading.Semaphore] = None, bursts: int = 0) -> None:
        """``fail``: raised once the job is queued; ``refuse``: raised before the server has it;
        ``gate``: each result frame waits for one release; ``bursts``: progress events sent before
        the first frame, as fast as they come (a chatty server)."""
        self.server = server
        self.hold = hold
        self.fail = fail
        self.refuse = refuse
        self.gate = gate
        self.bursts = bursts
        self.calls: List[Tuple[str, Any]] = []
        self.closed = False
        FakeClient.instances.append(self)

    @classmethod
    def factory(cls, **kwargs: Any) -> Callable[[str], "FakeClient"]:
        cls.instances = []
        return lambda server: cls(server, **kwargs)

    def _deliver(self, job_id: str, out_dir: str, name: str, padding: int, frames: List[int],
                 size: Tuple[int, int], on_progress: Callable[[Progress], None],
                 cancel_event: Optional[threading.Event]) -> RunResult:
        if self.refuse is not None:
            raise self.refuse
        for i in range(self.bursts):  # before the version folder exists: only the node's knobs change
            on_progress(Progress(job_id, "upload", None, i, self.bursts, 0.0, None, f"uploaded {i}"))
        version_dir = find_job_version(out_dir, job_id) or claim_version(out_dir, job_id)
        on_progress(Progress(job_id, "queued", None, 0, len(frames), 0.0, None, "waiting for the GPU"))
        if self.hold is not None:
            while not self.hold.wait(0.01):
                if cancel_event is not None and cancel_event.is_set():
                    self.calls.append(("cancel", job_id))
                    raise Cancelled(f"job {job_id} was cancelled")
        if self.fail is not None:
            raise self.fail
        for i, frame in enumerate(frames):
            if self.gate is not None:
                while not self.gate.acquire(timeout=0.01):
                    if cancel_event is not None and cancel_event.is_set():
                        raise Cancelled(f"job {job_id} was cancelled")
            pixels = np.full((size[1], size[0], 4), 0.5, np.float16)
            write_image(os.path.join(version_dir, f"{name}.{frame:0{padding}d}.exr"),
                        Image(pixels, make_spec(*size)))
            on_progress(Progress(job_id, "download", frame, i + 1, len(frames), (i + 1) / len(frames), 1.0,
                                 f"wrote frame {frame}"))
        return RunResult(job_id, version_dir, list(frames))

    def run(self, shot: Any, job_id: str, on_progress: Callable[[Progress], None],
            cancel_event: threading.Event, preview: bool = False) -> RunResult:
        self.calls.append(("run", (shot, job_id, preview)))
        size = nuke.root().format()
        return self._deliver(job_id, shot.output.directory, shot.output_name, shot.result_padding,
                             list(shot.process_frames), (size.width(), size.height()), on_progress, cancel_event)

    def attach(self, job_id: str, out_dir: str, on_progress: Callable[[Progress], None],
               cancel_event: threading.Event) -> RunResult:
        self.calls.append(("attach", (job_id, out_dir)))
        return self._deliver(job_id, out_dir, "plate", 4, [1001, 1002], (64, 32), on_progress, cancel_event)

    def cancel(self, job_id: str) -> dict:
        self.calls.append(("cancel", job_id))
        return {"job": job_id, "state": "cancelling"}

    def close(self) -> None:
        self.closed = True


def void_scene(folder: str, first: int, last: int) -> Tuple[str, Any, Any, Any]:
    """A 64x32 plate on disk, its Read, a Roto with one square, a VOID node with the Roto as Remove.

    Returns (plate pattern, Read, Roto, VOID node).
    """
    nuke.root()["format"].setValue(nuke.Format(64, 32))
    pattern = write_plate(os.path.join(folder, "plates"), first, last)
    read = plate_read(pattern, first, last)
    roto = roto_node(64, 32)
    roto["curves"].rootLayer.append(square("Bezier1", 10, 10, 30, 20))
    group = void_node_on(read, os.path.join(folder, "out"))
    group.setInput(1, roto)
    return pattern, read, roto, group


def pump(until: Callable[[], bool], timeout: float = 10.0) -> None:
    """Be Nuke's main loop until ``until()``: queued main-thread calls run here, on the test's thread."""
    nuke._run_main_loop(until=until, timeout=timeout)


def finish(job: Any, timeout: float = 10.0) -> Any:
    """Run the main loop until ``job``'s end has reached its node; returns the job."""
    pump(job.finished.is_set, timeout)
    return job
