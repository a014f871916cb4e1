"""The job server: one ROUTER socket, a SQLite job store, and a worker process.

The socket loop never computes: frames are written and read by a small I/O
thread pool, a SUBMIT is parsed and checked on a helper thread (a shot can hold
megabytes of Roto shapes, and paths mode looks at every input frame), and jobs
run in the worker process, so HELLO, STATUS, HEARTBEAT and CANCEL are answered
at once while a job computes. Everything the loop needs per message is kept in
memory per job (``livejob``), so no message costs work in proportion to the
number of frames. Flow control is credit based in both directions (the ZeroMQ
guide's file-transfer pattern): a client may have ``credits`` FRAME messages
unacknowledged, and the server sends RESULT messages only against credit the
client granted, so neither side ever holds more than a few frames of a shot in
memory.

Every field a client sends is checked (docs/security.md): a malformed message
gets an ERROR, never a crash, and what it costs to log is bounded.
"""
from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple
from urllib.parse import urlparse

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from void_nuke.errors import ImageError, VoidError, shorten
from void_nuke.exrio import read_image, write_image
from void_nuke.limits import MAX_CREDITS, MAX_HAVE, MAX_STATUS_JOBS, describe as describe_limits
from void_nuke.pathmap import PathMap
from void_nuke.protocol import (ATTACH, CANCEL, COMMIT, CREDIT, DONE, FRAME, HEARTBEAT, HELLO,
                                MAX_BUFFER_BYTES, MAX_HEADER_BYTES, PROGRESS, PROTOCOL_VERSION, RELEASE,
                                RESULT, STATUS, SUBMIT, Message, Sequencer, bool_field, decode, encode,
                                error_message, frames_field, image_body, image_from_message, int_field,
                                str_field)
from void_nuke.shot import TRANSFERS, Shot, check_job_id, check_output_name
from void_nuke.versions import claim_version, release_if_empty

from . import __version__ as server_version
from .engines.registry import describe_engines
from .failures import crashed_worker
from .inner import WorkerChannel
from .inputcheck import InconsistentFrame, check_wire_spec, describe_mismatch, role_label
from .jobfiles import JobDir
from .livejob import JobMeta, LiveJob
from .lograte import LogLimiter
from .roots import AllowedRoots
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
INLINE_HEADER_BYTES = 1 << 20
"""Headers larger than this are decoded on the helper thread, not in the socket loop."""
MAX_HELPER_QUEUE = 256
"""Requests waiting for the helper thread; beyond it a client is told the server is busy."""
MAX_LARGE_QUEUE = 4
"""Of those, requests with a header over ``INLINE_HEADER_BYTES`` (each up to 64 MiB held in memory)."""
MAX_FOLLOWERS = 256
"""Subscriptions (a client following a job) the server keeps at once."""
MAX_RECEIVING = 64
"""Pixel jobs waiting for their uploads at once; each holds disk space until it is queued or times out."""
SWITCH_INTERVAL_S = 0.0005
"""How often Python hands the GIL between the server's threads (its default is 5 ms). While the
helper thread checks a large SUBMIT, every step of the socket loop's reply to someone else waits up
to this long for the lock: 5 ms made a HELLO take about 20 ms, 0.5 ms makes it about 2 ms, and the
check itself takes no longer (``bench/bench_hostile.py``)."""


def _busy(what: str) -> VoidError:
    return VoidError(f"the server is busy with {what}; try again in a few seconds", code="busy")


@dataclass
class Subscriber:
    """A client receiving one job's progress and results."""

    identity: bytes
    job: str
    credits: int = 0
    pending: Deque[int] = field(default_factory=deque)
    """Result frames to send, in order."""
    later: Set[int] = field(default_factory=set)
    """Frames the client said it holds that the server has not (re)computed yet: never sent."""
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


@dataclass
class Prepared:
    """A SUBMIT parsed and checked on the helper thread, ready for the loop to record."""

    fingerprint: str
    shot: Optional[Dict[str, Any]] = None
    """The shot as the server sees it; None when the job already exists."""
    meta: Optional[JobMeta] = None
    state: str = QUEUED
    results_dir: str = ""
    missing: Set[Tuple[str, int]] = field(default_factory=set)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (``127.0.0.1.example.com`` is not one)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: ServerSettings) -> None:
    """Refuse to listen beyond loopback without CURVE keys, unless told ``--insecure``."""
    url = urlparse(settings.bind)
    if url.scheme in ("ipc", "inproc"):
        return
    host = url.netloc.rsplit(":", 1)[0].strip("[]") if url.netloc else ""
    if not is_loopback(host) and not settings.curve_dir and not settings.insecure:
        raise VoidError(f"refusing to listen on {settings.bind} without authentication: anyone on the network "
                        "could submit jobs. Give --curve-dir DIR (void-server keys DIR makes one) or, on a "
                        "trusted network only, --insecure", code="insecure_bind")


def bind_error(endpoint: str, exc: zmq.ZMQError) -> VoidError:
    """A bind failure as a message that says what to do."""
    port = endpoint.rsplit(":", 1)[-1] if endpoint.startswith("tcp://") else ""
    if exc.errno == errno.EADDRINUSE:
        return VoidError(f"cannot listen on {endpoint}: address already in use (port {port or endpoint}): another "
                         "void-server or another program holds it. Stop that one, or choose a free port with "
                         "--bind tcp://127.0.0.1:PORT", code="address_in_use")
    return VoidError(f"cannot listen on {endpoint}: {exc.strerror}. Check the --bind address "
                     "(e.g. tcp://127.0.0.1:5557, tcp://0.0.0.0:5557 with --curve-dir)", code="bad_bind")


class Server:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        check_bind(settings)
        os.makedirs(settings.data_dir, exist_ok=True)
        os.makedirs(os.path.join(settings.data_dir, "jobs"), mode=0o700, exist_ok=True)
        self.ctx = zmq.Context()
        self.auth: Optional[ThreadAuthenticator] = None
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, MAX_BUFFER_BYTES)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        try:
            if settings.curve_dir:
                self._enable_curve(settings.curve_dir)
            self.router.bind(settings.bind)
        except (zmq.ZMQError, VoidError) as exc:
            self.router.close(0)
            if self.auth is not None:
                self.auth.stop()
            self.ctx.term()
            raise bind_error(settings.bind, exc) if isinstance(exc, zmq.ZMQError) else exc
        self.endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.channel = WorkerChannel(settings.data_dir, settings.worker_channel)
        self.store = JobStore(os.path.join(settings.data_dir, "jobs.sqlite"))
        self.paths = PathMap(settings.path_map)
        self.roots = AllowedRoots.for_server(settings.data_dir, settings.allow_roots, self.paths.pairs())
        self.instance = uuid.uuid4().hex
        """Changes with every start: a client that sees it change knows the server restarted."""
        self.seq = Sequencer()
        self.io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="void-io")
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="void-prepare")
        self.helper_queue = 0
        self.large_queue = 0
        self.completions: "queue.Queue[Tuple[Callable[..., None], tuple]]" = queue.Queue()
        self._wake, self._woken = socket.socketpair()  # a finished I/O or helper task wakes the loop
        self._wake.setblocking(False)
        self._woken.setblocking(False)
        self.subs: Dict[bytes, Dict[str, Subscriber]] = {}
        """identity → job → subscription."""
        self.jobs: Dict[str, LiveJob] = {}
        self.preparing: Dict[str, List[Tuple[bytes, Message]]] = {}
        """Job ids whose SUBMIT is on the helper thread → SUBMITs for the same id waiting for it."""
        self.pending_writes: Dict[str, int] = {}
        self.commit_waiters: Dict[str, List[Tuple[bytes, int]]] = {}
        """COMMITs waiting for a job's frame writes; several clients may upload one job at once."""
        self.worker = WorkerHandle()
        self.stopping = threading.Event()
        self.limiter = LogLimiter(log)
        self._last_purge = 0.0
        requeued = self.store.requeue_interrupted()
        if requeued:
            log.info("re-queued interrupted jobs: %s", ", ".join(requeued))
        for job_id in self.store.unfinished():  # loaded once now, not while clients wait
            try:
                self._live(job_id)
            except Exception:
                log.exception("cannot load job %s; marking it failed", job_id)
                self.store.set_state(job_id, FAILED, {"code": "internal", "message": "the server could not "
                                                      "read this job back after a restart", "detail": {}})

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
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._start_worker()
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.channel.sock, zmq.POLLIN)
        poller.register(self._woken, zmq.POLLIN)
        try:
            while not self.stopping.is_set():
                try:
                    self._turn(poller)
                except Exception:  # a bug must not take the server and every job down with it
                    self.limiter.error("loop", "internal error in the server loop; carrying on\n%s",
                                       traceback.format_exc())
        finally:
            self.close()

    def _turn(self, poller: zmq.Poller) -> None:
        """One turn of the loop: messages, finished I/O, the worker, scheduling, streaming."""
        events = dict(poller.poll(20))
        if self.router in events:
            self._drain(self.router, self._on_client)
        if self.channel.sock in events:
            self._drain(self.channel.sock, self._on_worker)
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
        self.helper.shutdown(wait=True, cancel_futures=True)
        self.io.shutdown(wait=True)
        if self.auth is not None:
            self.auth.stop()
        self.router.close(0)
        self.channel.close()
        self.ctx.term()
        self.store.close()
        self._wake.close()
        self._woken.close()

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
            self.limiter.info("unreachable", "client unreachable (%s); dropping its subscriptions", exc)
            self.subs.pop(identity, None)

    # -- client messages -----------------------------------------------------------------

    def _on_client(self, frames: List[zmq.Frame]) -> None:
        identity = frames[0].bytes
        now = time.monotonic()
        for sub in self.subs.get(identity, {}).values():
            sub.last_seen = now
        if len(frames) > 1 and frames[1].buffer.nbytes > INLINE_HEADER_BYTES:
            # a large header (a shot with many Roto shapes): decode it away from the loop
            if not self._offload(lambda: decode(frames[1:]), lambda msg, exc: self._decoded(identity, msg, exc),
                                 large=True):
                self.send(identity, error_message(_busy("other large requests")))
            return
        try:
            msg = decode(frames[1:])
        except VoidError as exc:
            self._decoded(identity, None, exc)
            return
        self._handle(identity, msg)

    def _decoded(self, identity: bytes, msg: Optional[Message], exc: Optional[BaseException]) -> None:
        if msg is not None:
            self._handle(identity, msg)
            return
        error = exc if isinstance(exc, VoidError) else VoidError("message cannot be read", code="malformed")
        self.limiter.info("malformed", "refused a malformed message (%s): %s", error.code, error.message)
        self.send(identity, error_message(error))

    def _handle(self, identity: bytes, msg: Message) -> None:
        handler = self.handlers.get(msg.type)

        def call() -> Optional[Message]:
            if handler is None:
                raise VoidError(f"{msg.type} is not a request a client may send", code="unexpected_type")
            return handler(self, identity, msg)

        self._respond(identity, msg, call)

    def _respond(self, identity: bytes, msg: Message, call: Callable[[], Optional[Message]]) -> None:
        """Run a handler; send its reply, or the error it raised (never an unhandled exception)."""
        job = msg.job
        try:
            if job is not None:
                check_job_id(job)
            reply = call()
        except VoidError as exc:
            if exc.code == "invalid_shot" and exc.detail.get("field") == "job_id":
                job = None  # never echo an invalid id back
            reply = error_message(exc, job, msg.seq)
        except Exception as exc:
            trace = uuid.uuid4().hex[:12]
            self.limiter.error("internal", "internal error %s handling %s: %s", trace, msg.type,
                               traceback.format_exc())
            reply = error_message(VoidError(f"the server failed handling {msg.type} ({type(exc).__name__}); "
                                            f"quote trace {trace} when reporting it",
                                            code="internal", detail={"trace_id": trace}), job, msg.seq)
        if reply is not None:
            reply.re = msg.seq
            self.send(identity, reply)

    def _offload(self, work: Callable[[], Any], done: Callable[[Any, Optional[BaseException]], None],
                 large: bool = False) -> bool:
        """Run ``work`` on the helper thread; ``done(result, error)`` runs back in the loop. False when busy."""
        if self.helper_queue >= MAX_HELPER_QUEUE or (large and self.large_queue >= MAX_LARGE_QUEUE):
            return False
        self.helper_queue += 1
        self.large_queue += large

        def finish(result: Any, error: Optional[BaseException]) -> None:
            self.helper_queue -= 1
            self.large_queue -= large
            done(result, error)

        def run() -> None:
            try:
                result, error = work(), None
            except BaseException as exc:  # handed to the loop, which answers the client
                result, error = None, exc
            self._complete(finish, result, error)

        self.helper.submit(run)
        return True

    def _live(self, job_id: str) -> LiveJob:
        """The job's in-memory state, loaded from the store once."""
        live = self.jobs.get(job_id)
        if live is None:
            record = self.store.get(job_id, with_shot=False)
            if record is None:
                raise VoidError(f"no job {job_id!r} on this server (finished jobs are kept "
                                f"{self.settings.result_ttl_hours:g} h)", code="unknown_job")
            if record.meta:
                meta = JobMeta.from_dict(record.meta)
            else:  # a job from before the meta column: derive it once
                full = self.store.get(job_id)
                assert full is not None
                meta = JobMeta.from_shot(Shot.from_dict(json.loads(full.shot_json)))
                self.store.set_meta(job_id, meta.to_dict())
            live = self.jobs[job_id] = LiveJob.load(record, meta)
        return live

    def _job(self, msg: Message) -> LiveJob:
        if not msg.job:
            raise VoidError(f"{msg.type} needs a job id", code="no_job")
        return self._live(msg.job)

    def _set_state(self, live: LiveJob, state: str, error: Optional[Dict[str, Any]] = None,
                   warnings: Optional[List[Dict[str, Any]]] = None) -> None:
        self.store.set_state(live.id, state, error, warnings)
        record = self.store.get(live.id, with_shot=False)
        if record is not None:
            live.record = record

    def capabilities(self) -> Dict[str, Any]:
        settings = self.settings.engine_settings()
        limits = {"max_header_bytes": MAX_HEADER_BYTES, "max_buffer_bytes": MAX_BUFFER_BYTES, **describe_limits()}
        return {"server": "void-server", "version": server_version, "protocol": PROTOCOL_VERSION,
                "instance": self.instance, "engines": describe_engines(settings), "gpu": self.worker.gpu,
                "transfer": list(TRANSFERS), "credits": self.settings.credits, "limits": limits,
                "queue": self.store.count(QUEUED), "running": self.worker.current,
                "heartbeat_s": self.settings.heartbeat_s, "result_ttl_hours": self.settings.result_ttl_hours}

    def on_hello(self, identity: bytes, msg: Message) -> Message:
        return Message(HELLO, None, self.capabilities())

    def on_heartbeat(self, identity: bytes, msg: Message) -> Message:
        return Message(HEARTBEAT, msg.job, {"time": time.time(), "instance": self.instance})

    def on_release(self, identity: bytes, msg: Message) -> Message:
        if self.worker.ready and self.worker.current is None:
            self.channel.send(RELEASE)
            return Message(STATUS, None, {"released": True})
        return Message(STATUS, None, {"released": False, "message": "a job is running; release after it ends"})

    # -- submit ----------------------------------------------------------------------------

    def on_submit(self, identity: bytes, msg: Message) -> Optional[Message]:
        job_id = check_job_id(msg.job or "")
        transfer = str_field(msg, "transfer", "pixels", TRANSFERS)
        preview = bool_field(msg, "preview", False)
        stream = bool_field(msg, "stream", True)
        have = frames_field(msg, "have", MAX_HAVE)
        version = msg.body.get("version") or None
        if version is not None and (transfer != "paths" or not isinstance(version, str)
                                    or not re.fullmatch(r"v\d{3,9}", version)):
            raise VoidError("a named version must look like v001 and comes with the paths transfer only",
                            code="bad_request", detail={"field": "version"})
        if job_id in self.preparing:  # one SUBMIT per job id at a time; the next waits for it
            if len(self.preparing[job_id]) >= MAX_HELPER_QUEUE:
                raise _busy(f"earlier submissions of job {job_id}")
            self.preparing[job_id].append((identity, msg))
            return None
        existing = self.store.get(job_id, with_shot=False)
        if existing is None and transfer == "pixels" and \
                sum(1 for j in self.jobs.values() if j.state == RECEIVING) >= MAX_RECEIVING:
            raise _busy(f"{MAX_RECEIVING} jobs waiting for their uploads")
        shot_data = msg.body.get("shot")

        def work() -> Prepared:
            return self._prepare(job_id, shot_data, transfer, preview, version, existing)

        def done(prepared: Optional[Prepared], exc: Optional[BaseException]) -> None:
            waiting = self.preparing.pop(job_id, [])

            def finish() -> Message:
                if exc is not None:
                    raise exc
                assert prepared is not None
                return self._submitted(identity, job_id, prepared, transfer, preview, stream, have)

            self._respond(identity, msg, finish)
            for other, queued in waiting:
                self._handle(other, queued)

        if not self._offload(work, done):
            raise _busy("other submissions")
        self.preparing[job_id] = []
        return None

    def _prepare(self, job_id: str, shot_data: Any, transfer: str, preview: bool, version: Optional[str],
                 existing: Optional[JobRecord]) -> Prepared:
        """On the helper thread: parse and check the shot; for a new job, make its folders; for a
        failed or cancelled paths job resubmitted as it was, find the version folder it restarts in.

        Touches no loop state: the loop records the result (``_submitted``).
        """
        shot = Shot.from_dict(shot_data)
        check_output_name(shot.output_name)  # the server's own check, whatever the client checked
        fingerprint = f"{shot.fingerprint()}:{transfer}:{int(preview)}" + (f":{version}" if version else "")
        if existing is not None:
            if existing.fingerprint == fingerprint and existing.transfer == "paths" and \
                    existing.state in (FAILED, CANCELLED):
                return Prepared(fingerprint, results_dir=self._restart_version(existing))
            return Prepared(fingerprint)
        if transfer == "paths":
            return self._prepare_paths(job_id, shot, fingerprint, version)
        job_dir = JobDir(os.path.join(self.settings.data_dir, "jobs", job_id))
        job_dir.remove()  # leftovers of a job id no longer in the store must never be read as inputs
        job_dir = JobDir.create(self.settings.data_dir, job_id)
        try:
            job_dir.save_shot(shot.to_dict())
            patterns = {role: job_dir.input_pattern(role, seq.padding) for role, seq in shot.inputs()}
            server_shot = self._checked_config(shot.with_inputs(patterns).with_changes(
                output=replace(shot.output, name=shot.output_name, directory=job_dir.results)))
        except BaseException:
            job_dir.remove()
            raise
        frames = shot.process_frames
        missing = {(role, f) for role in patterns for f in frames}
        return Prepared(fingerprint, server_shot.to_dict(), JobMeta.from_shot(server_shot), RECEIVING,
                        job_dir.results, missing)

    def _prepare_paths(self, job_id: str, shot: Shot, fingerprint: str, version: Optional[str]) -> Prepared:
        """Paths mode: every path mapped, inside the allowed roots, every input frame present."""
        server_shot = shot.with_paths(self.paths.map)
        patterns = {}
        for role, seq in server_shot.inputs():
            real, missing = self.roots.check_sequence(seq.pattern, server_shot.process_frames, role_label(role))
            if missing:
                raise ImageError(f"{role}: the server cannot see {len(missing)} frame(s) of {seq.pattern} "
                                 f"(first: {missing[0]}). Check the path mapping rules, or send pixels.",
                                 detail={"role": role, "missing": missing[:50]})
            patterns[role] = real
        out = self.roots.check(server_shot.output.directory, "output.directory")
        server_shot = self._checked_config(server_shot.with_inputs(patterns).with_changes(
            output=replace(server_shot.output, directory=out, name=shot.output_name)))
        if version:  # a farm task delivers into the version folder its job was given
            results_dir = os.path.join(out, version)
            os.makedirs(results_dir, exist_ok=True)
        else:
            results_dir = claim_version(out, job_id)
        return Prepared(fingerprint, server_shot.to_dict(), JobMeta.from_shot(server_shot), QUEUED, results_dir)

    @staticmethod
    def _give_back_version(live: LiveJob) -> None:
        """A paths-mode job that ended without frames leaves no empty version folder behind."""
        if live.record.transfer == "paths":
            release_if_empty(live.record.results_dir)

    @staticmethod
    def _restart_version(record: JobRecord) -> str:
        """The version folder a paths job restarts in: its own if it still holds one, else the next free.

        A job that ended without frames gave its folder back, and another job may have claimed that
        version since: a restarted job must never write into (or count as its own) another's results.
        """
        out, name = os.path.split(record.results_dir)
        if record.fingerprint.endswith(f":{name}"):  # a version the farm named: that one again
            os.makedirs(record.results_dir, exist_ok=True)
            return record.results_dir
        return claim_version(out, record.id)

    def _checked_config(self, shot: Shot) -> Shot:
        """A shot's own OCIO config file is read by the server: it must lie under the allowed roots."""
        config = shot.ocio_config
        if not config or config.startswith("ocio://"):
            return shot
        return shot.with_changes(ocio_config=self.roots.check(config, "ocio_config"))

    def _submitted(self, identity: bytes, job_id: str, prepared: Prepared, transfer: str, preview: bool,
                   stream: bool, have: List[int]) -> Message:
        """Back in the loop: record a new job, or continue (or restart) an existing one."""
        if prepared.shot is None:
            live = self._live(job_id)
            if live.record.fingerprint != prepared.fingerprint:
                raise VoidError(f"job id {job_id!r} already names a different shot on this server; resubmit the "
                                "same shot to continue it, or choose a new job id", code="job_conflict")
            if live.state in (FAILED, CANCELLED):
                self._restart(live, prepared.results_dir)
        else:
            assert prepared.meta is not None
            record = self.store.create(job_id, prepared.fingerprint, prepared.shot, transfer, preview,
                                       prepared.state, prepared.results_dir, prepared.meta.to_dict())
            record = self.store.get(job_id, with_shot=False) or record
            live = self.jobs[job_id] = LiveJob(record, prepared.meta, missing=prepared.missing)
        if stream:
            self._subscribe(identity, live, have)
        return self._status_reply(live, need=True)

    def _restart(self, live: LiveJob, results_dir: str = "") -> None:
        """Resubmitting a failed or cancelled job starts it again; finished frames are kept.

        ``results_dir``: where a paths job now delivers (``_restart_version``).
        """
        self.worker.crashes.pop(live.id, None)
        state = QUEUED
        if live.record.transfer == "pixels":
            live.missing = live.scan_missing()
            state = RECEIVING if live.missing else QUEUED
        moved = live.record.transfer == "paths" and bool(results_dir) and results_dir != live.record.results_dir
        if moved:
            self.store.set_results_dir(live.id, results_dir)
        live.last_upload = time.time()
        log.info("job %s was %s; restarting it on resubmit", live.id, live.state)
        self._set_state(live, state)
        if moved:  # the frames of its new folder, not those of the folder it gave back
            live.available = live.scan_results()
            live.changed()

    def _status_reply(self, live: LiveJob, need: bool = False) -> Message:
        body = live.record.summary()
        body.update(credit=self.settings.credits, results=live.results(), total=live.meta.count,
                    transfer=live.record.transfer, output_name=live.meta.output_name, padding=live.meta.padding,
                    compression=live.meta.compression, instance=self.instance)
        if live.record.transfer == "paths":
            body["version"] = os.path.basename(live.record.results_dir)
        if live.state == RECEIVING:
            body["missing"] = len(live.missing)
            body["uploading"] = live.uploading(CLIENT_TIMEOUT_S)
            if need:
                body["need"] = live.need()
        return Message(STATUS, live.id, body)

    # -- uploads ---------------------------------------------------------------------------

    def on_frame(self, identity: bytes, msg: Message) -> Optional[Message]:
        live = self._job(msg)
        role, frame = msg.body.get("role"), msg.body.get("frame")
        if not isinstance(role, str) or role not in live.meta.inputs or not live.meta.has_frame(frame):
            raise VoidError(f"FRAME {shorten(role)} {shorten(frame)} is not an input of job {live.id} "
                            f"(roles {', '.join(live.meta.inputs)}, frames {live.meta.first}-{live.meta.last})",
                            code="bad_frame")
        ack = Message(CREDIT, live.id, {"n": 1, "ack": [role, frame]})
        if live.state != RECEIVING or live.record.transfer != "pixels" or (role, frame) not in live.missing:
            return ack  # not needed (any more): acknowledged, not stored
        image = image_from_message(msg)
        check_wire_spec(image.spec, f"{role_label(role)} frame {frame}")
        problem = describe_mismatch(role, frame, image.spec, live.reference.get(role), live.meta.channels.get(role),
                                    live.reference.get("plate"))
        if problem:
            raise InconsistentFrame(problem, detail={"role": role, "frame": frame})
        live.reference.setdefault(role, image.spec)
        path = live.pattern(role).path(frame)
        self.pending_writes[live.id] = self.pending_writes.get(live.id, 0) + 1

        def write() -> None:
            error = None
            try:
                write_image(path, image, compression=INPUT_COMPRESSION)
            except FileExistsError:
                pass
            except Exception as exc:
                error = VoidError(f"cannot store {role} frame {frame}: {exc}", code="storage")
            self._complete(self._frame_stored, identity, live.id, role, frame, error)

        self.io.submit(write)
        return None

    def _frame_stored(self, identity: bytes, job: str, role: str, frame: int, error: Optional[VoidError]) -> None:
        self.pending_writes[job] -= 1
        live = self.jobs.get(job)
        if error is not None:
            self.send(identity, error_message(error, job))
        else:
            if live is not None:
                live.stored(role, frame)
            self.send(identity, Message(CREDIT, job, {"n": 1, "ack": [role, frame]}))
        if self.pending_writes[job] == 0 and job in self.commit_waiters and live is not None:
            for waiter, seq in self.commit_waiters.pop(job):  # several clients may upload one job at once
                self._respond(waiter, Message(COMMIT, job, seq=seq), lambda: self._commit(live))

    def on_commit(self, identity: bytes, msg: Message) -> Optional[Message]:
        live = self._job(msg)
        if self.pending_writes.get(live.id, 0) > 0:
            self.commit_waiters.setdefault(live.id, []).append((identity, msg.seq))
            return None
        return self._commit(live)

    def _commit(self, live: LiveJob) -> Message:
        if live.state == RECEIVING:
            if live.missing:
                need = live.need()
                shown = ", ".join(f"{r} {f}" for r, f in need[:6])
                raise VoidError(f"job {live.id} still misses {len(need)} input frame(s): {shown}; "
                                "send them, then COMMIT again", code="missing_inputs",
                                detail={"need": need[:MAX_HAVE], "missing": len(need)})
            self._set_state(live, QUEUED)
        return self._status_reply(live)

    # -- other requests ----------------------------------------------------------------------

    def on_status(self, identity: bytes, msg: Message) -> Message:
        if msg.job:
            return self._status_reply(self._job(msg))
        limit = int_field(msg, "limit", 20, 1, MAX_STATUS_JOBS)
        body = self.capabilities()
        body["jobs"] = [r.summary() for r in self.store.recent(limit)]
        return Message(STATUS, None, body)

    def on_cancel(self, identity: bytes, msg: Message) -> Message:
        live = self._job(msg)
        if live.state in (RECEIVING, QUEUED):
            self._set_state(live, CANCELLED)
            self._give_back_version(live)
        elif live.state == RUNNING and self.worker.current == live.id:
            self.channel.send(CANCEL, live.id)
            self.worker.cancel_deadline = time.monotonic() + CANCEL_GRACE_S
        reply = self._status_reply(live)
        if live.state == RUNNING:
            reply.body["state"] = "cancelling"
        return reply

    def on_attach(self, identity: bytes, msg: Message) -> Message:
        live = self._job(msg)
        self._subscribe(identity, live, frames_field(msg, "have", MAX_HAVE))
        return self._status_reply(live, need=True)

    def on_credit(self, identity: bytes, msg: Message) -> None:
        n = int_field(msg, "n", 1, 0, MAX_CREDITS)
        sub = self.subs.get(identity, {}).get(msg.job or "")
        if sub is not None:  # never more outstanding than the server offers: a client cannot make it read ahead
            sub.credits = min(sub.credits + n, self.settings.credits)
        return None

    handlers: Dict[str, Callable[["Server", bytes, Message], Optional[Message]]] = {
        HELLO: on_hello, SUBMIT: on_submit, FRAME: on_frame, COMMIT: on_commit, STATUS: on_status,
        CANCEL: on_cancel, ATTACH: on_attach, CREDIT: on_credit, HEARTBEAT: on_heartbeat, RELEASE: on_release}

    # -- results -------------------------------------------------------------------------

    def _subscribe(self, identity: bytes, live: LiveJob, have: List[int]) -> None:
        """Follow ``live``: the client is sent every result it does not have (a re-attach included)."""
        mine = self.subs.get(identity, {})
        sub = mine.get(live.id)
        if sub is None:
            if sum(len(s) for s in self.subs.values()) >= MAX_FOLLOWERS:
                raise _busy(f"{MAX_FOLLOWERS} clients following jobs")
            sub = Subscriber(identity, live.id)
        held = {f for f in have if live.meta.has_frame(f)}
        sub.pending = deque(f for f in live.results() if f not in held)
        sub.later = held - live.available
        self.subs.setdefault(identity, {})[live.id] = sub

    def _followers(self, job: str) -> List[Subscriber]:
        return [jobs[job] for jobs in self.subs.values() if job in jobs]

    def _drop(self, sub: Subscriber) -> None:
        mine = self.subs.get(sub.identity)
        if mine is not None:
            mine.pop(sub.job, None)
            if not mine:
                del self.subs[sub.identity]

    def _pump_all(self) -> None:
        for jobs in list(self.subs.values()):
            for sub in list(jobs.values()):
                self._pump(sub)

    def _pump(self, sub: Subscriber) -> None:
        live = self.jobs.get(sub.job)
        if live is None:
            self._drop(sub)
            return
        if live.record.transfer == "pixels":
            while sub.credits > 0 and sub.pending:
                frame = sub.pending.popleft()
                sub.credits -= 1
                sub.reading += 1
                path = os.path.join(live.record.results_dir, live.meta.result_name(frame))
                self.io.submit(self._read_result, sub, live.id, frame, path)
        delivered = live.record.transfer == "paths" or (sub.reading == 0 and not sub.pending)
        if live.state in FINISHED and delivered:
            body = {"state": live.state, "frames": live.results(), "error": live.record.error,
                    "warnings": live.record.warnings}
            if live.record.transfer == "paths":
                body["version"] = os.path.basename(live.record.results_dir)
            self.send(sub.identity, Message(DONE, live.id, body))
            self._drop(sub)

    def _read_result(self, sub: Subscriber, job: str, frame: int, path: str) -> None:
        """On an I/O thread: read one result frame into a RESULT message for ``sub``."""
        try:
            image = read_image(path)
            msg = Message(RESULT, job, image_body(image.spec, frame=frame), [image.pixels])
        except VoidError as exc:
            msg = error_message(VoidError(f"cannot read result frame {frame}: {exc}", code="storage"), job)
        self._complete(self._result_read, sub, msg)

    def _result_read(self, sub: Subscriber, msg: Message) -> None:
        sub.reading -= 1
        if self.subs.get(sub.identity, {}).get(sub.job) is sub:
            self.send(sub.identity, msg)

    def _complete(self, fn: Callable[..., None], *args: Any) -> None:
        """From a worker thread: have the loop run ``fn(*args)``, and wake it now."""
        self.completions.put((fn, args))
        try:
            self._wake.send(b"\0")
        except (BlockingIOError, OSError):  # already woken (or closing)
            pass

    def _run_completions(self) -> None:
        try:
            while self._woken.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while True:
            try:
                fn, args = self.completions.get_nowait()
            except queue.Empty:
                return
            fn(*args)

    # -- worker --------------------------------------------------------------------------

    def _start_worker(self) -> None:
        config = self.channel.write_config(self.settings.engine_settings())
        cmd = [sys.executable, "-m", "void_server.worker", "--config", config]
        self.worker.proc = subprocess.Popen(cmd)
        self.worker.ready = False
        self.worker.current = None
        self.worker.cancel_deadline = None

    def _on_worker(self, frames: List[zmq.Frame]) -> None:
        msg = self.channel.accept(frames, self.worker.proc.pid if self.worker.proc is not None else None)
        if msg is None:
            self.limiter.warning("foreign_worker", "dropped a message on the worker channel from a peer that is "
                                 "not this server's worker")
            return
        live = self.jobs.get(msg.job or "")
        if msg.type == HELLO:
            self.worker.ready = True
            gpu = msg.body.get("gpu")
            self.worker.gpu = gpu if isinstance(gpu, dict) else {}
        elif msg.type == PROGRESS and live is not None:
            self.store.set_progress(live.id, msg.body)
            live.record.progress = msg.body
            for sub in self._followers(live.id):
                self.send(sub.identity, Message(PROGRESS, live.id, msg.body))
        elif msg.type == RESULT and live is not None:
            frame = msg.body.get("frame")
            if live.meta.has_frame(frame) and live.add_result(frame):
                for sub in self._followers(live.id):
                    if frame not in sub.later:
                        sub.pending.append(frame)
        elif msg.type == DONE and live is not None:
            state = msg.body.get("state", FAILED)
            error = msg.body.get("error") or {}
            self._set_state(live, state if state in FINISHED else FAILED, msg.body.get("error"),
                            msg.body.get("warnings"))
            if state != "done":
                self._give_back_version(live)
            if state == FAILED:
                trace = (error.get("detail") or {}).get("trace_id")
                if trace:  # an unexpected failure: its traceback stays here, under the id the client sees
                    log.error("job %s failed (trace id %s): %s\n%s", live.id, trace, error.get("message"),
                              str(msg.body.get("traceback", "")).rstrip())
                else:
                    log.warning("job %s failed: %s", live.id, error.get("message"))
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
        job = self.jobs.get(self.worker.current or "")
        if job is not None:
            if self.worker.cancel_deadline is not None:
                self._set_state(job, CANCELLED)
            else:
                crashes = self.worker.crashes.get(job.id, 0) + 1
                self.worker.crashes[job.id] = crashes
                if crashes >= MAX_WORKER_CRASHES:
                    failure = crashed_worker(crashes, code, self._crashed_on(job))
                    log.error("job %s failed (trace id %s): %s (the worker's stack at each crash is above)",
                              job.id, failure.trace_id, failure.message)
                    error = failure.to_dict()
                    error["message"] += ". Resubmitting the same shot with the same job id runs it again"
                    self._set_state(job, FAILED, error)
                else:
                    self._set_state(job, QUEUED)
        self.channel.forget()
        self.worker.proc = None
        self.worker.current = None
        self.worker.quick_exits = 0 if self.worker.ready else self.worker.quick_exits + 1
        delay = min(30.0, 0.5 * 2 ** self.worker.quick_exits) if self.worker.quick_exits else 0.0
        log.warning("worker exited with code %s; restarting it in %.1f s", code, delay)
        self.worker.ready = False
        self.worker.restart_at = time.monotonic() + delay

    @staticmethod
    def _crashed_on(job: LiveJob) -> Optional[int]:
        """The frame a crashed worker was on: the first not delivered, while the engine ran."""
        if (job.record.progress or {}).get("stage") != "engine":
            return None
        return next((f for f in range(job.meta.first, job.meta.last + 1) if f not in job.available), None)

    def _schedule(self) -> None:
        if not self.worker.ready or self.worker.current is not None:
            return
        record = self.store.next_queued()
        if record is None:
            return
        live = self._live(record.id)
        self._set_state(live, RUNNING)
        self.worker.current = record.id
        job_dir = JobDir(os.path.join(self.settings.data_dir, "jobs", record.id))
        self.channel.send(SUBMIT, record.id, shot_json=record.shot_json, job_dir=job_dir.root,
                          results_dir=record.results_dir, preview=record.preview)

    # -- housekeeping ----------------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = time.monotonic()
        for jobs in list(self.subs.values()):
            for sub in list(jobs.values()):
                if now - sub.last_seen > CLIENT_TIMEOUT_S:
                    log.info("client went quiet; keeping job %s running without it", sub.job)
                    self._drop(sub)
        ttl = self.settings.result_ttl_hours * 3600.0
        receive_timeout = self.settings.receive_timeout_hours * 3600.0
        if now - self._last_purge < min(PURGE_INTERVAL_S, ttl / 2, receive_timeout / 2):
            return
        self._last_purge = now
        for job_id in self.store.expired(ttl):
            if job_id == self.worker.current:
                continue
            JobDir(os.path.join(self.settings.data_dir, "jobs", job_id)).remove()
            self.store.delete(job_id)
            self.jobs.pop(job_id, None)
            log.info("purged job %s (older than %g h)", job_id, self.settings.result_ttl_hours)
        for live in list(self.jobs.values()):
            if live.state == RECEIVING and time.time() - live.last_upload > receive_timeout \
                    and not self.pending_writes.get(live.id):
                self._abandon_upload(live)

    def _abandon_upload(self, live: LiveJob) -> None:
        """An upload nobody finished: fail the job and free the disk its frames took."""
        inputs = os.path.join(self.settings.data_dir, "jobs", live.id, "inputs")
        if os.path.isdir(inputs):
            doomed = f"{inputs}.abandoned-{uuid.uuid4().hex[:8]}"
            os.replace(inputs, doomed)  # at once; the deletion itself runs on an I/O thread
            self.io.submit(shutil.rmtree, doomed, True)
        hours = self.settings.receive_timeout_hours
        missing = len(live.missing)
        live.missing = set()
        live.changed()
        self._set_state(live, FAILED, {
            "code": "upload_timeout", "detail": {"missing": missing},
            "message": f"the upload of job {live.id} stopped: no frame arrived for {hours:g} h with {missing} "
                       "still missing, so the job was abandoned and its uploaded frames deleted. Resubmit the "
                       "same shot with the same job id to upload it again"})
        log.info("job %s: upload abandoned after %g h", live.id, hours)
