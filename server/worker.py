"""The worker process: runs one job at a time, away from the socket loop.

It talks to the server over a DEALER socket with the same message format as
the public protocol (internal meanings):

    server → worker   SUBMIT (run this job), CANCEL, RELEASE (free models), HEARTBEAT
    worker → server   HELLO (ready, GPU info), PROGRESS, RESULT (a frame is on disk,
                      no pixels), DONE (state and error), HEARTBEAT

Cancel is checked whenever the runner reports progress; the server kills the
worker if it does not stop within a grace period.
"""
from __future__ import annotations

import argparse
import faulthandler
import importlib.util
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

import zmq

from void_nuke.errors import Cancelled, VoidError
from void_nuke.progress import Progress
from void_nuke.protocol import (CANCEL, DONE, HEARTBEAT, HELLO, PROGRESS, RELEASE, RESULT, SUBMIT, Message,
                                Sequencer, decode, encode)
from void_nuke.shot import Shot

from .failures import JobFailure, job_failure
from .jobfiles import JobDir
from .runner import EngineCache, JobOptions, JobRunner

PROGRESS_INTERVAL_S = 0.2


def gpu_info(settings: Dict[str, Any]) -> Dict[str, Any]:
    """The CUDA device, if the VOID engine is configured and torch sees one."""
    if not settings.get("model_dir") or importlib.util.find_spec("torch") is None:
        return {"cuda": False}
    import torch

    if not torch.cuda.is_available():
        return {"cuda": False}
    free, total = torch.cuda.mem_get_info()
    return {"cuda": True, "name": torch.cuda.get_device_name(0), "total_bytes": int(total),
            "free_bytes": int(free)}


class Worker:
    def __init__(self, endpoint: str, settings: Dict[str, Any]) -> None:
        self.settings = settings
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.seq = Sequencer()
        self.engines = EngineCache()
        self._last_progress = 0.0
        self.parent = os.getppid()

    def send(self, kind: str, job: Optional[str] = None, **body: Any) -> None:
        self.sock.send_multipart(encode(Message(kind, job, body, seq=self.seq.next())))

    def orphaned(self) -> bool:
        """True once the server that started us is gone (we must not keep writing its job files)."""
        return os.getppid() != self.parent

    def serve(self) -> None:
        self.send(HELLO, pid=os.getpid(), gpu=gpu_info(self.settings))
        while not self.orphaned():
            if not self.sock.poll(1000):
                continue
            msg = decode(self.sock.recv_multipart(copy=False))
            if msg.type == SUBMIT and msg.job:
                self.run_job(msg.job, msg.body)
            elif msg.type == RELEASE:
                self.engines.release()
                self.send(HELLO, pid=os.getpid(), gpu=gpu_info(self.settings), released=True)
            elif msg.type == HEARTBEAT:
                self.send(HEARTBEAT)

    def run_job(self, job_id: str, body: Dict[str, Any]) -> None:
        def check_cancel() -> None:
            if self.orphaned():
                os._exit(1)
            while self.sock.poll(0):
                msg = decode(self.sock.recv_multipart(copy=False))
                if msg.type == CANCEL and msg.job == job_id:
                    raise Cancelled()
                if msg.type == HEARTBEAT:
                    self.send(HEARTBEAT)

        def report(p: Progress) -> None:
            now = time.monotonic()
            if p.frame is not None or p.stage == "done" or now - self._last_progress >= PROGRESS_INTERVAL_S:
                self._last_progress = now
                self.send(PROGRESS, job_id, **p.to_dict())

        def on_result(frame: int, path: str) -> None:
            self.send(RESULT, job_id, frame=frame, path=path)

        try:
            shot = Shot.from_dict(body["shot"])
            runner = JobRunner(job_id=job_id, shot=shot, job_dir=JobDir(body["job_dir"]),
                               results_dir=body["results_dir"], settings=self.settings, report=report,
                               check_cancel=check_cancel, on_result=on_result,
                               options=JobOptions(preview=bool(body.get("preview"))), engines=self.engines)
            frames = runner.run()
            self.send(DONE, job_id, state="done", frames=frames)
        except Cancelled:
            self.send(DONE, job_id, state="cancelled")
        except JobFailure as exc:  # the traceback goes to the server log only, never to clients
            self.send(DONE, job_id, state="failed", error=exc.to_dict(), traceback=exc.traceback)
        except VoidError as exc:
            self.send(DONE, job_id, state="failed", error=exc.to_dict())
        except Exception as exc:  # outside the runner's stages: still a message and a trace id
            failure = job_failure(exc, "job", "the worker")
            self.send(DONE, job_id, state="failed", error=failure.to_dict(), traceback=failure.traceback)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="void_server.worker")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--settings", required=True, help="JSON file with the server settings")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a native crash prints this process's Python stack into the server log
    with open(args.settings, encoding="utf-8") as fh:
        settings = json.load(fh)
    Worker(args.endpoint, settings).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
