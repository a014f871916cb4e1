"""The job server: one ROUTER socket, a SQLite job store, and a worker process.

The socket loop never computes: frames are written and read by a small I/O
thread pool, jobs run in the worker process, so HELLO, STATUS, HEARTBEAT and
CANCEL are answered at once while a job computes. Flow control is credit
based in both directions (the ZeroMQ guide's file-transfer pattern): a client
may have ``credits`` FRAME messages unacknowledged, and the server sends RESULT
messages only against credit the client granted, so neither side ever holds
more than a few frames of a shot in memory.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Set, Tuple
from urllib.parse import urlparse

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from void_nuke.errors import ImageError, VoidError
from void_nuke.exrio import read_image, write_image
from void_nuke.pathmap import PathMap
from void_nuke.protocol import (ATTACH, CANCEL, COMMIT, CREDIT, DONE, FRAME, HEARTBEAT, HELLO,
                                MAX_BUFFER_BYTES, MAX_HEADER_BYTES, PROGRESS, PROTOCOL_VERSION, RELEASE,
                                RESULT, STATUS, SUBMIT, Message, Sequencer, decode, encode, error_message,
                                image_body, image_from_message)
from void_nuke.sequences import SequencePattern
from void_nuke.shot import TRANSFERS, Shot, check_job_id
from void_nuke.versions import claim_version

from . import __version__ as server_version
from .engines.registry import describe_engines
from .failures import crashed_worker
from .jobfiles import JobDir
from .settings import ServerSettings
from .store import CANCELLED, FAILED, FINISHED, QUEUED, RECEIVING, RUNNING, JobRecord, JobStore

log = logging.getLogger("void_server")

CLIENT_TIMEOUT_S = 30.0
"""A client silent for this long loses its subscriptions (its job keeps running)."""
CANCEL_GRACE_S = 10.0
"""A worker that has not stopped this long after CANCEL is killed."""
MAX_WORKER_CRASHES = 3
PURGE_INTERVAL_S = 60.0
INPUT_COMPRESSION = "none"
"""Uploaded frames are stored uncompressed: fastest to write and read back."""


@dataclass
class Subscriber:
    """A client receiving one job's progress and results."""

    identity: bytes
    job: str
    credits: int = 0
    have: Set[int] = field(default_factory=set)
    sent: Set[int] = field(default_factory=set)
    reading: int = 0
    last_seen: float = field(default_factory=time.monotonic)


@dataclass
class WorkerHandle:
    proc: Optional[subprocess.Popen] = None
    ready: bool = False
    current: Optional[str] = None
    cancel_deadline: Optional[float] = None
    gpu: Dict[str, Any] = field(default_factory=dict)
    crashes: Dict[str, int] = field(default_factory=dict)
    restart_at: float = 0.0
    quick_exits: int = 0
    """Exits before the worker ever said HELLO: a broken install; restarts back off."""


def check_bind(settings: ServerSettings) -> None:
    """Refuse to listen beyond loopback without CURVE keys, unless told ``--insecure``."""
    url = urlparse(settings.bind)
    if url.scheme in ("ipc", "inproc"):
        return
    host = (url.hostname or "").strip("[]")
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if not loopback and not settings.curve_dir and not settings.insecure:
        raise VoidError(f"refusing to listen on {settings.bind} without authentication: anyone on the network "
                        "could submit jobs. Give --curve-dir DIR (void-server keys DIR makes one) or, on a "
                        "trusted network only, --insecure", code="insecure_bind")


class Server:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        os.makedirs(os.path.join(settings.data_dir, "jobs"), exist_ok=True)
        check_bind(settings)
        self.store = JobStore(os.path.join(settings.data_dir, "jobs.sqlite"))
        self.paths = PathMap(settings.path_map)
        self.ctx = zmq.Context()
        self.auth: Optional[ThreadAuthenticator] = None
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, MAX_BUFFER_BYTES)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if settings.curve_dir:
            self._enable_curve(settings.curve_dir)
        self.router.bind(settings.bind)
        self.endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.internal = self.ctx.socket(zmq.DEALER)
        self.internal.setsockopt(zmq.LINGER, 0)
        self.internal.bind("tcp://127.0.0.1:*")
        self.internal_endpoint = self.internal.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.seq = Sequencer()
        self.io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="void-io")
        self.completions: "queue.Queue[Tuple[Callable[..., None], tuple]]" = queue.Queue()
        self.subs: Dict[Tuple[bytes, str], Subscriber] = {}
        self.available: Dict[str, Set[int]] = {}
        self._shots: Dict[str, Shot] = {}
        self.pending_writes: Dict[str, int] = {}
        self.commit_waiters: Dict[str, Tuple[bytes, int]] = {}
        self.worker = WorkerHandle()
        self.stopping = threading.Event()
        self._last_purge = 0.0
        self._settings_file = ""
        requeued = self.store.requeue_interrupted()
        if requeued:
            log.info("re-queued interrupted jobs: %s", ", ".join(requeued))

    def _enable_curve(self, curve_dir: str) -> None:
        secret = os.path.join(curve_dir, "server.key_secret")
        if not os.path.isfile(secret):
            raise VoidError(f"no server key in {curve_dir}; create one with: void-server keys {curve_dir}",
                            code="no_keys")
        public, private = zmq.auth.load_certificate(secret)
        self.auth = ThreadAuthenticator(self.ctx)
        self.auth.start()
        self.auth.configure_curve(domain="*", location=os.path.join(curve_dir, "clients"))
        self.router.curve_secretkey = private
        self.router.curve_publickey = public
        self.router.curve_server = True

    # -- lifecycle -----------------------------------------------------------------------

    def serve_forever(self) -> None:
        self._start_worker()
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.internal, zmq.POLLIN)
        try:
            while not self.stopping.is_set():
                try:
                    self._turn(poller)
                except Exception:  # a bug must not take the server and every job down with it
                    log.exception("internal error in the server loop; carrying on")
        finally:
            self.close()

    def _turn(self, poller: zmq.Poller) -> None:
        """One turn of the loop: messages, finished I/O, the worker, scheduling, streaming."""
        events = dict(poller.poll(20))
        if self.router in events:
            self._drain(self.router, self._on_client)
        if self.internal in events:
            self._drain(self.internal, self._on_worker)
        self._run_completions()
        self._supervise()
        self._schedule()
        self._pump_all()
        self._housekeeping()

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        proc = self.worker.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.io.shutdown(wait=True)
        if self.auth is not None:
            self.auth.stop()
        self.router.close(0)
        self.internal.close(0)
        self.ctx.term()
        self.store.close()
        if self._settings_file and os.path.exists(self._settings_file):
            os.unlink(self._settings_file)

    @staticmethod
    def _drain(sock: zmq.Socket, handler: Callable[[List[zmq.Frame]], None], limit: int = 64) -> None:
        for _ in range(limit):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            handler(frames)

    # -- sending -------------------------------------------------------------------------

    def send(self, identity: bytes, msg: Message) -> None:
        """Send without ever blocking the loop.

        A client that is gone (ROUTER_MANDATORY reports it) or has stopped reading (its queue
        is full) loses its subscriptions; its jobs keep running and it can re-attach. A
        PROGRESS message that does not fit is simply dropped: the next one supersedes it.
        """
        msg.seq = self.seq.next()
        try:
            self.router.send_multipart([identity] + encode(msg), flags=zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:
            if msg.type == PROGRESS and exc.errno == zmq.EAGAIN:
                return
            log.info("client unreachable (%s); dropping its subscriptions", exc)
            for key in [k for k in self.subs if k[0] == identity]:
                del self.subs[key]

    def to_worker(self, kind: str, job: Optional[str] = None, **body: Any) -> None:
        self.internal.send_multipart(encode(Message(kind, job, body, seq=self.seq.next())))

    # -- client messages -----------------------------------------------------------------

    def _on_client(self, frames: List[zmq.Frame]) -> None:
        identity = frames[0].bytes
        try:
            msg = decode(frames[1:])
        except VoidError as exc:
            self.send(identity, error_message(exc))
            return
        for key, sub in self.subs.items():
            if key[0] == identity:
                sub.last_seen = time.monotonic()
        handlers = {HELLO: self.on_hello, SUBMIT: self.on_submit, FRAME: self.on_frame, COMMIT: self.on_commit,
                    STATUS: self.on_status, CANCEL: self.on_cancel, ATTACH: self.on_attach,
                    CREDIT: self.on_credit, HEARTBEAT: self.on_heartbeat, RELEASE: self.on_release}
        handler = handlers.get(msg.type)
        try:
            if handler is None:
                raise VoidError(f"{msg.type} is not a request a client may send", code="unexpected_type")
            reply = handler(identity, msg)
        except VoidError as exc:
            reply = error_message(exc, msg.job, msg.seq)
        except Exception as exc:
            trace = uuid.uuid4().hex[:12]
            log.error("internal error %s handling %s: %s", trace, msg.type, traceback.format_exc())
            reply = error_message(VoidError(f"the server failed handling {msg.type} ({type(exc).__name__}: "
                                            f"{exc}); quote trace {trace} when reporting it",
                                            code="internal", detail={"trace_id": trace}), msg.job, msg.seq)
        if reply is not None:
            reply.re = msg.seq
            self.send(identity, reply)

    def _job(self, msg: Message) -> JobRecord:
        if not msg.job:
            raise VoidError(f"{msg.type} needs a job id", code="no_job")
        record = self.store.get(msg.job)
        if record is None:
            raise VoidError(f"no job {msg.job!r} on this server (finished jobs are kept "
                            f"{self.settings.result_ttl_hours:g} h)", code="unknown_job")
        return record

    def capabilities(self) -> Dict[str, Any]:
        settings = self.settings.engine_settings()
        return {"server": "void-server", "version": server_version, "protocol": PROTOCOL_VERSION,
                "engines": describe_engines(settings), "gpu": self.worker.gpu,
                "transfer": list(TRANSFERS), "credits": self.settings.credits,
                "limits": {"max_header_bytes": MAX_HEADER_BYTES, "max_buffer_bytes": MAX_BUFFER_BYTES},
                "queue": self.store.count(QUEUED), "running": self.worker.current,
                "heartbeat_s": self.settings.heartbeat_s, "result_ttl_hours": self.settings.result_ttl_hours}

    def on_hello(self, identity: bytes, msg: Message) -> Message:
        return Message(HELLO, None, self.capabilities())

    def on_heartbeat(self, identity: bytes, msg: Message) -> Message:
        return Message(HEARTBEAT, msg.job, {"time": time.time()})

    def on_release(self, identity: bytes, msg: Message) -> Message:
        if self.worker.ready and self.worker.current is None:
            self.to_worker(RELEASE)
            return Message(STATUS, None, {"released": True})
        return Message(STATUS, None, {"released": False, "message": "a job is running; release after it ends"})

    def on_submit(self, identity: bytes, msg: Message) -> Message:
        job_id = check_job_id(msg.job or "")
        transfer = msg.body.get("transfer", "pixels")
        if transfer not in TRANSFERS:
            raise VoidError(f"unknown transfer mode {transfer!r}; use pixels or paths", code="bad_request")
        preview = bool(msg.body.get("preview", False))
        shot = Shot.from_dict(msg.body.get("shot"))
        fingerprint = f"{shot.fingerprint()}:{transfer}:{int(preview)}"
        record = self.store.get(job_id)
        if record is None:
            record = self._create_job(job_id, shot, transfer, preview, fingerprint)
        elif record.fingerprint != fingerprint:
            raise VoidError(f"job id {job_id!r} already names a different shot on this server; resubmit the "
                            "same shot to continue it, or choose a new job id", code="job_conflict")
        if msg.body.get("stream", True):
            self._subscribe(identity, record, msg.body.get("have") or [])
        return self._status_reply(record, need=True)

    def _create_job(self, job_id: str, shot: Shot, transfer: str, preview: bool, fingerprint: str) -> JobRecord:
        job_dir = JobDir.create(self.settings.data_dir, job_id)
        job_dir.save_shot(shot.to_dict())
        if transfer == "paths":
            server_shot = shot.with_paths(self.paths.map)
            for role, seq in server_shot.inputs():
                missing = seq.missing(list(server_shot.process_frames))
                if missing:
                    job_dir.remove()
                    raise ImageError(f"{role}: the server cannot see {len(missing)} frame(s) of {seq.pattern} "
                                     f"(first: {missing[0]}). Check the path mapping rules, or send pixels.",
                                     detail={"role": role, "missing": missing[:50]})
            results_dir = claim_version(server_shot.output.directory, job_id)
            state = QUEUED
        else:
            patterns = {role: job_dir.input_pattern(role, seq.padding) for role, seq in shot.inputs()}
            server_shot = shot.with_inputs(patterns).with_changes(
                output=replace(shot.output, name=shot.output_name, directory=job_dir.results))
            results_dir = job_dir.results
            state = RECEIVING
        return self.store.create(job_id, fingerprint, server_shot.to_dict(), transfer, preview, state, results_dir)

    def shot_of(self, record: JobRecord) -> Shot:
        """The job's Shot, parsed once: a job's shot never changes, and the hot paths (every FRAME,
        STATUS and result read) need it."""
        shot = self._shots.get(record.id)
        if shot is None:
            shot = self._shots[record.id] = Shot.from_dict(record.shot)
        return shot

    def _missing_inputs(self, record: JobRecord) -> List[List[Any]]:
        shot = self.shot_of(record)
        frames = list(shot.process_frames)
        return [[role, f] for role, seq in shot.inputs() for f in seq.missing(frames)]

    def _status_reply(self, record: JobRecord, need: bool = False) -> Message:
        body = record.summary()
        body["credit"] = self.settings.credits
        shot = self.shot_of(record)
        body["results"] = sorted(self._available(record))
        body["total"] = len(shot.process_frames)
        body["transfer"] = record.transfer
        body["output_name"] = shot.output_name
        body["padding"] = shot.result_padding
        body["compression"] = shot.output.compression
        if record.transfer == "paths":
            body["version"] = os.path.basename(record.results_dir)
        if need and record.state == RECEIVING:
            body["need"] = self._missing_inputs(record)
        return Message(STATUS, record.id, body)

    def on_frame(self, identity: bytes, msg: Message) -> Optional[Message]:
        record = self._job(msg)
        role, frame = msg.body.get("role"), msg.body.get("frame")
        shot = self.shot_of(record)
        roles = dict(shot.inputs())
        if record.state != RECEIVING or record.transfer != "pixels":
            return Message(CREDIT, record.id, {"n": 1, "ack": [role, frame]})
        if role not in roles or not isinstance(frame, int) or frame not in shot.process_frames:
            raise VoidError(f"FRAME {role!r} {frame!r} is not an input of job {record.id} "
                            f"(roles {', '.join(roles)}, frames {shot.process_frames})", code="bad_frame")
        image = image_from_message(msg)
        path = SequencePattern(roles[role].pattern).path(frame)
        if os.path.isfile(path):
            return Message(CREDIT, record.id, {"n": 1, "ack": [role, frame]})
        self.pending_writes[record.id] = self.pending_writes.get(record.id, 0) + 1

        def write() -> None:
            error = None
            try:
                write_image(path, image, compression=INPUT_COMPRESSION)
            except FileExistsError:
                pass
            except Exception as exc:
                error = VoidError(f"cannot store {role} frame {frame}: {exc}", code="storage")
            self.completions.put((self._frame_stored, (identity, record.id, role, frame, error)))

        self.io.submit(write)
        return None

    def _frame_stored(self, identity: bytes, job: str, role: str, frame: int, error: Optional[VoidError]) -> None:
        self.pending_writes[job] -= 1
        if error is not None:
            self.send(identity, error_message(error, job))
        else:
            self.send(identity, Message(CREDIT, job, {"n": 1, "ack": [role, frame]}))
        if self.pending_writes[job] == 0 and job in self.commit_waiters:
            waiter, seq = self.commit_waiters.pop(job)
            reply = self._commit(job)
            reply.re = seq
            self.send(waiter, reply)

    def on_commit(self, identity: bytes, msg: Message) -> Optional[Message]:
        record = self._job(msg)
        if self.pending_writes.get(record.id, 0) > 0:
            self.commit_waiters[record.id] = (identity, msg.seq)
            return None
        return self._commit(record.id)

    def _commit(self, job: str) -> Message:
        record = self.store.get(job)
        assert record is not None
        if record.state == RECEIVING:
            need = self._missing_inputs(record)
            if need:
                shown = ", ".join(f"{r} {f}" for r, f in need[:6])
                return error_message(VoidError(f"job {job} still misses {len(need)} input frame(s): {shown}; "
                                               "send them, then COMMIT again", code="missing_inputs",
                                               detail={"need": need}), job)
            self.store.set_state(job, QUEUED)
            record = self.store.get(job)
            assert record is not None
        return self._status_reply(record)

    def on_status(self, identity: bytes, msg: Message) -> Message:
        if msg.job:
            return self._status_reply(self._job(msg))
        body = self.capabilities()
        body["jobs"] = [r.summary() for r in self.store.recent(int(msg.body.get("limit", 20)))]
        return Message(STATUS, None, body)

    def on_cancel(self, identity: bytes, msg: Message) -> Message:
        record = self._job(msg)
        if record.state in (RECEIVING, QUEUED):
            self.store.set_state(record.id, CANCELLED)
        elif record.state == RUNNING and self.worker.current == record.id:
            self.to_worker(CANCEL, record.id)
            self.worker.cancel_deadline = time.monotonic() + CANCEL_GRACE_S
        record = self.store.get(record.id)
        assert record is not None
        reply = self._status_reply(record)
        if record.state == RUNNING:
            reply.body["state"] = "cancelling"
        return reply

    def on_attach(self, identity: bytes, msg: Message) -> Message:
        record = self._job(msg)
        self._subscribe(identity, record, msg.body.get("have") or [])
        return self._status_reply(record)

    def on_credit(self, identity: bytes, msg: Message) -> None:
        sub = self.subs.get((identity, msg.job or ""))
        if sub is not None:
            sub.credits += max(0, int(msg.body.get("n", 1)))
        return None

    def _subscribe(self, identity: bytes, record: JobRecord, have: List[int]) -> None:
        key = (identity, record.id)
        sub = self.subs.get(key) or Subscriber(identity, record.id)
        sub.have |= {int(f) for f in have}
        sub.sent.clear()  # a re-attaching client is sent everything it does not have
        self.subs[key] = sub

    # -- results -------------------------------------------------------------------------

    def _available(self, record: JobRecord) -> Set[int]:
        """Result frames on disk (scanned once per job, then kept up to date by the worker)."""
        if record.id not in self.available:
            shot = self.shot_of(record)
            self.available[record.id] = {f for f in shot.process_frames
                                         if os.path.isfile(os.path.join(record.results_dir, shot.result_name(f)))}
        return self.available[record.id]

    def _pump_all(self) -> None:
        for sub in list(self.subs.values()):
            self._pump(sub)

    def _pump(self, sub: Subscriber) -> None:
        record = self.store.get(sub.job)
        if record is None:
            self.subs.pop((sub.identity, sub.job), None)
            return
        available = self._available(record)
        if record.transfer == "pixels":
            todo = sorted(available - sub.sent - sub.have)
            while sub.credits > 0 and todo:
                frame = todo.pop(0)
                sub.credits -= 1
                sub.sent.add(frame)
                sub.reading += 1
                path = os.path.join(record.results_dir, self.shot_of(record).result_name(frame))
                self.io.submit(self._read_result, sub, record.id, frame, path)
        delivered = record.transfer == "paths" or (sub.reading == 0 and available <= (sub.sent | sub.have))
        if record.state in FINISHED and delivered:
            body = {"state": record.state, "frames": sorted(available), "error": record.error}
            if record.transfer == "paths":
                body["version"] = os.path.basename(record.results_dir)
            self.send(sub.identity, Message(DONE, record.id, body))
            self.subs.pop((sub.identity, sub.job), None)

    def _read_result(self, sub: Subscriber, job: str, frame: int, path: str) -> None:
        """On an I/O thread: read one result frame into a RESULT message for ``sub``."""
        try:
            image = read_image(path)
            msg = Message(RESULT, job, image_body(image.spec, frame=frame), [image.pixels])
        except VoidError as exc:
            msg = error_message(VoidError(f"cannot read result frame {frame}: {exc}", code="storage"), job)
        self.completions.put((self._result_read, (sub, msg)))

    def _result_read(self, sub: Subscriber, msg: Message) -> None:
        sub.reading -= 1
        if (sub.identity, sub.job) in self.subs:
            self.send(sub.identity, msg)

    def _run_completions(self) -> None:
        while True:
            try:
                fn, args = self.completions.get_nowait()
            except queue.Empty:
                return
            fn(*args)

    # -- worker --------------------------------------------------------------------------

    def _start_worker(self) -> None:
        if not self._settings_file:
            fd, self._settings_file = tempfile.mkstemp(prefix="void-worker-", suffix=".json",
                                                       dir=self.settings.data_dir)
            with os.fdopen(fd, "w") as fh:
                json.dump(self.settings.engine_settings(), fh)
        cmd = [sys.executable, "-m", "void_server.worker", "--endpoint", self.internal_endpoint,
               "--settings", self._settings_file]
        self.worker.proc = subprocess.Popen(cmd)
        self.worker.ready = False
        self.worker.current = None
        self.worker.cancel_deadline = None

    def _on_worker(self, frames: List[zmq.Frame]) -> None:
        msg = decode(frames)
        if msg.type == HELLO:
            self.worker.ready = True
            self.worker.gpu = msg.body.get("gpu") or {}
        elif msg.type == PROGRESS and msg.job:
            self.store.set_progress(msg.job, msg.body)
            for sub in [s for s in self.subs.values() if s.job == msg.job]:
                self.send(sub.identity, Message(PROGRESS, msg.job, msg.body))
        elif msg.type == RESULT and msg.job:
            record = self.store.get(msg.job)
            if record is not None:
                self._available(record).add(int(msg.body["frame"]))
        elif msg.type == DONE and msg.job:
            state = msg.body.get("state", FAILED)
            self.store.set_state(msg.job, state, msg.body.get("error"))
            error = msg.body.get("error") or {}
            if state == FAILED:
                trace = (error.get("detail") or {}).get("trace_id")
                if trace:  # an unexpected failure: its traceback stays here, under the id the client sees
                    log.error("job %s failed (trace id %s): %s\n%s", msg.job, trace, error.get("message"),
                              str(msg.body.get("traceback", "")).rstrip())
                else:
                    log.warning("job %s failed: %s", msg.job, error.get("message"))
            self.worker.current = None
            self.worker.cancel_deadline = None

    def _supervise(self) -> None:
        proc = self.worker.proc
        if proc is None:
            if not self.stopping.is_set() and time.monotonic() >= self.worker.restart_at:
                self._start_worker()
            return
        deadline = self.worker.cancel_deadline
        if deadline is not None and time.monotonic() > deadline and proc.poll() is None:
            log.warning("worker ignored CANCEL for %.0f s; killing it", CANCEL_GRACE_S)
            proc.kill()
            proc.wait()
        code = proc.poll()
        if code is None:
            return
        job = self.worker.current
        if job is not None:
            if self.worker.cancel_deadline is not None:
                self.store.set_state(job, CANCELLED)
            else:
                crashes = self.worker.crashes.get(job, 0) + 1
                self.worker.crashes[job] = crashes
                if crashes >= MAX_WORKER_CRASHES:
                    failure = crashed_worker(crashes, code, self._crashed_on(job))
                    log.error("job %s failed (trace id %s): %s (the worker's stack at each crash is above)",
                              job, failure.trace_id, failure.message)
                    self.store.set_state(job, FAILED, failure.to_dict())
                else:
                    self.store.set_state(job, QUEUED)
        self.worker.proc = None
        self.worker.quick_exits = 0 if self.worker.ready else self.worker.quick_exits + 1
        delay = min(30.0, 0.5 * 2 ** self.worker.quick_exits) if self.worker.quick_exits else 0.0
        log.warning("worker exited with code %s; restarting it in %.1f s", code, delay)
        self.worker.ready = False
        self.worker.restart_at = time.monotonic() + delay

    def _crashed_on(self, job: str) -> Optional[int]:
        """The frame a crashed worker was on: the first not delivered, while the engine ran."""
        record = self.store.get(job)
        if record is None or (record.progress or {}).get("stage") != "engine":
            return None
        done = self._available(record)
        return next((f for f in self.shot_of(record).process_frames if f not in done), None)

    def _schedule(self) -> None:
        if not self.worker.ready or self.worker.current is not None:
            return
        record = self.store.next_queued()
        if record is None:
            return
        self.store.set_state(record.id, RUNNING)
        self.worker.current = record.id
        job_dir = JobDir(os.path.join(self.settings.data_dir, "jobs", record.id))
        self.to_worker(SUBMIT, record.id, shot=record.shot, job_dir=job_dir.root,
                       results_dir=record.results_dir, preview=record.preview)

    # -- housekeeping ----------------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = time.monotonic()
        for key, sub in list(self.subs.items()):
            if now - sub.last_seen > CLIENT_TIMEOUT_S:
                log.info("client went quiet; keeping job %s running without it", sub.job)
                del self.subs[key]
        ttl = self.settings.result_ttl_hours * 3600.0
        if now - self._last_purge < min(PURGE_INTERVAL_S, ttl / 2):
            return
        self._last_purge = now
        for record in self.store.expired(ttl):
            if record.id == self.worker.current:
                continue
            JobDir(os.path.join(self.settings.data_dir, "jobs", record.id)).remove()
            self.store.delete(record.id)
            self.available.pop(record.id, None)
            self._shots.pop(record.id, None)
            log.info("purged job %s (older than %g h)", record.id, self.settings.result_ttl_hours)
