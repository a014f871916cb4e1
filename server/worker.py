"""The worker process: runs one job at a time, away from the socket loop.

It talks to the server over a private DEALER socket (``inner``: ipc in a 0700
folder, or CURVE with keys made at start) with the same message format as the
public protocol (internal meanings):

    server → worker   SUBMIT (run this job), CANCEL, RELEASE (free models), HEARTBEAT
    worker → server   HELLO (ready, GPU info; carries the server's token and this
                      process id), PROGRESS, RESULT (a frame is on disk, no pixels),
                      DONE (state, error, warnings), HEARTBEAT

Its configuration (endpoint, token, keys, engine settings) comes in a file only
the server's user can read, never on the command line.

Cancel is checked whenever the runner reports progress; the server kills the
worker if it does not stop within a grace period.
"""
from __future__ import annotations

import argparse
import faulthandler
import importlib.util
import json
import logging
import os
import sys
import time
from typing import Any, Dict, List, Optional

import zmq

from void_nuke.atomic import remove_stale_temps
from void_nuke.errors import Cancelled, VoidError
from void_nuke.progress import Progress
from void_nuke.protocol import (CANCEL, DONE, HEARTBEAT, HELLO, PROGRESS, RELEASE, RESULT, SUBMIT, Message,
                                Sequencer, decode, encode)
from void_nuke.shot import Shot

from .failures import JobFailure, job_failure
from .inner import connect_worker
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


def clean_leftovers(job_dir: JobDir, results_dir: str) -> None:
    """Remove temporary files a killed worker left half-written where the job writes."""
    folders = [results_dir, job_dir.scratch] + [os.path.join(job_dir.root, "work", kind)
                                                for kind in ("quadmask", "sam2")]
    for folder in folders:
        remove_stale_temps(folder)


class Worker:
    def __init__(self, config: Dict[str, Any]) -> None:
        self.settings = config["settings"]
        self.token = config["token"]
        self.ctx = zmq.Context()
        self.sock = connect_worker(self.ctx, config)
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
        self.send(HELLO, pid=os.getpid(), token=self.token, gpu=gpu_info(self.settings))
        while not self.orphaned():
            if not self.sock.poll(1000):
                continue
            msg = decode(self.sock.recv_multipart(copy=False))
            if msg.type == SUBMIT and msg.job:
                self.run_job(msg.job, msg.body)
            elif msg.type == RELEASE:
                self.engines.release()
                self.send(HELLO, pid=os.getpid(), token=self.token, gpu=gpu_info(self.settings), released=True)
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
            shot = Shot.from_dict(json.loads(body["shot_json"]))
            job_dir = JobDir(body["job_dir"])
            clean_leftovers(job_dir, body["results_dir"])
            runner = JobRunner(job_id=job_id, shot=shot, job_dir=job_dir,
                               results_dir=body["results_dir"], settings=self.settings, report=report,
                               check_cancel=check_cancel, on_result=on_result,
                               options=JobOptions(preview=bool(body.get("preview"))), engines=self.engines)
            frames = runner.run()
            self.send(DONE, job_id, state="done", frames=frames, warnings=runner.warnings)
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
    parser.add_argument("--config", required=True,
                        help="the private JSON file the server wrote: endpoint, token, keys and settings")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a native crash prints this process's Python stack into the server log
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s worker: %(message)s")
    with open(args.config, encoding="utf-8") as fh:
        config = json.load(fh)
    Worker(config).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
