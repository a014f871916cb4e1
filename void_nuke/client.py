"""The client library: submit a shot, stream frames, follow progress, collect results.

No Nuke needed. A ``Client`` owns one DEALER socket and must be used from one
thread at a time (ZeroMQ sockets are not thread-safe); make one per thread.

Before anything is uploaded the client checks the shot's input files
(``preflight``) and asks the server a quick HELLO, so a typo or a wrong
address costs seconds and leaves nothing behind. Results are written
atomically into a new version folder of the shot's output directory (``v001``,
``v002``...), claimed when the first result arrives, never over an earlier
file. A client that went away re-attaches by job id and receives only the
frames it lacks.
"""
from __future__ import annotations

import os
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import zmq

from .errors import AuthenticationFailed, Cancelled, ServerUnreachable, VoidError
from .exrio import read_image, write_image
from .progress import EtaClock, Progress
from .protocol import (ATTACH, CANCEL, COMMIT, CREDIT, DONE, ERROR, FRAME, HEARTBEAT, HELLO, PROGRESS,
                       PROTOCOL_VERSION, RELEASE, RESULT, STATUS, SUBMIT, Message, Sequencer, decode, encode,
                       image_body, image_from_message)
from .results import RunResult
from .shot import Shot, check_job_id, new_job_id
from .versions import PREVIEW_FOLDER, PREVIEW_SUFFIX, VersionFolder, preview_shot

DEFAULT_PORT = 5557
DEFAULT_SERVER = os.environ.get("VOID_SERVER", f"tcp://127.0.0.1:{DEFAULT_PORT}")
CONNECT_TIMEOUT_S = 5.0
"""How long the first HELLO waits: a server that is up answers in milliseconds."""
ProgressCallback = Callable[[Progress], None]
HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
"""Socket-monitor events that mean the server refused this client's keys (or their absence)."""
MAX_COMMITS = 3
"""COMMIT attempts when a restarted server lost frames that were in flight."""
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]\s]+)(?::(?P<port>[^:/\s]*))?$")


def normalise_address(address: str) -> str:
    """``gpu01``, ``gpu01:5557`` and ``tcp://gpu01`` → ``tcp://gpu01:5557``; ``ipc://`` is kept.

    Raises ``VoidError`` (code ``bad_address``) naming the accepted forms.
    """
    text = (address or "").strip()
    if text.startswith(("ipc://", "inproc://")):
        return text
    rest = text[len("tcp://"):] if text.startswith("tcp://") else text
    m = _HOST_PORT.match(rest)
    port = m.group("port") if m else None
    if m is None or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        raise VoidError(f"{address!r} is not a server address; write host:port (gpu01:5557), a host "
                        f"(port {DEFAULT_PORT}), or tcp://host:port", code="bad_address")
    return f"tcp://{m.group('host')}:{port or DEFAULT_PORT}"


class Client:
    def __init__(self, server: str = DEFAULT_SERVER, timeout: float = 30.0, heartbeat_s: float = 2.0,
                 curve_server_key: Optional[bytes] = None, curve_client_cert: Optional[str] = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        """``timeout``: seconds of silence from the server before giving up on a running job;
        ``connect_timeout``: seconds the first HELLO waits before saying nothing answers."""
        self.server = normalise_address(server)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.heartbeat_s = heartbeat_s
        self.answered = False
        """Whether the server has said anything yet; until it has, a request waits ``connect_timeout``."""
        self.seq = Sequencer()
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        # A DEALER with no peer (server down, CURVE handshake refused) blocks in send: bound it.
        self.sock.setsockopt(zmq.SNDTIMEO, max(1, int(timeout * 1000)))
        self.curve = bool(curve_server_key)
        self.client_cert = curve_client_cert
        if curve_server_key:
            self._enable_curve(curve_server_key, curve_client_cert)
        self.monitor = self.sock.get_monitor_socket(HANDSHAKE_FAILED)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)
        self.instance: Optional[str] = None
        """The server's instance id: when it changes the server restarted, and the client re-attaches."""
        try:
            self.sock.connect(self.server)
        except zmq.ZMQError as exc:
            self.sock.close(0)
            raise VoidError(f"cannot connect to {self.server}: {exc}; write host:port, a host, or "
                            "tcp://host:port", code="bad_address") from None

    @classmethod
    def from_env(cls, server: Optional[str] = None, **kwargs: Any) -> "Client":
        """A client configured from the environment, as Nuke, the panel and the CLI make them.

        ``VOID_SERVER`` is the default address; ``VOID_SERVER_KEY`` (the server's public
        CURVE key, or the path of its ``server.key`` file) turns on encryption and
        authentication, with ``VOID_CLIENT_CERT`` naming this client's ``.key_secret`` file.
        """
        key = os.environ.get("VOID_SERVER_KEY")
        if key and os.path.isfile(key):
            import zmq.auth

            key = zmq.auth.load_certificate(key)[0].decode()
        return cls(server or DEFAULT_SERVER, curve_server_key=key.encode() if key else None,
                   curve_client_cert=os.environ.get("VOID_CLIENT_CERT") or None, **kwargs)

    def _enable_curve(self, server_key: bytes, client_cert: Optional[str]) -> None:
        import zmq.auth

        if client_cert:
            public, secret = zmq.auth.load_certificate(client_cert)
        else:
            public, secret = zmq.curve_keypair()
        self.sock.curve_serverkey = server_key
        self.sock.curve_publickey = public
        self.sock.curve_secretkey = secret

    def close(self) -> None:
        self.sock.disable_monitor()
        self.monitor.close(0)
        self.sock.close(0)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- messaging -----------------------------------------------------------------------

    def send(self, kind: str, job: Optional[str] = None, body: Optional[Dict[str, Any]] = None,
             buffers: Optional[List[Any]] = None) -> int:
        seq = self.seq.next()
        try:
            self.sock.send_multipart(encode(Message(kind, job, body or {}, buffers or [], seq)), copy=False)
        except zmq.Again:
            if self.monitor.poll(0):
                self._check_handshake()  # refused keys say so
            raise ServerUnreachable(f"could not send to {self.server} within {self.timeout:g} s; is void-server "
                                    "running there, and does it accept this client's keys?") from None
        return seq

    def receive(self, timeout: float) -> Optional[Message]:
        events = dict(self.poller.poll(int(timeout * 1000)))
        if self.monitor in events:
            self._check_handshake()
        if self.sock not in events:
            return None
        self.answered = True
        return decode(self.sock.recv_multipart(copy=False))

    def _check_handshake(self) -> None:
        """Raise what a failed CURVE handshake means, with the keys to check."""
        from zmq.utils.monitor import recv_monitor_message

        event = recv_monitor_message(self.monitor)["event"]
        where = f"the server at {self.server}"
        keys = ("VOID_SERVER_KEY names the server's public key (its server.key file) and VOID_CLIENT_CERT "
                "this client's .key_secret file; 'void-server keys DIR --client NAME' makes a client pair, "
                "whose public .key goes into the server's clients/ folder")
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            mine = ("your key in VOID_CLIENT_CERT is not among its allowed clients" if self.client_cert else
                    "this client has no key of its own (VOID_CLIENT_CERT is not set)")
            raise AuthenticationFailed(f"{where} refused this client's CURVE key: {mine}. {keys}")
        if self.curve and event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            raise AuthenticationFailed(f"{where} does not use CURVE keys, but this client does: unset "
                                       "VOID_SERVER_KEY, or check the address")
        if self.curve:
            raise AuthenticationFailed(f"the CURVE handshake with {where} failed: VOID_SERVER_KEY does not "
                                       f"match the server's key. {keys}")
        raise AuthenticationFailed(f"{where} requires CURVE encryption and authentication, and this client has "
                                   f"no keys: {keys}")

    def request(self, kind: str, job: Optional[str] = None, body: Optional[Dict[str, Any]] = None,
                timeout: Optional[float] = None) -> Message:
        """Send a request and wait for its reply; an ERROR reply is raised."""
        seq = self.send(kind, job, body)
        first = not self.answered
        wait = timeout if timeout is not None else min(self.timeout, self.connect_timeout) if first else self.timeout
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            msg = self.receive(max(0.0, left)) if left > 0 else None
            if msg is None:
                hint = " (--connect-timeout waits longer)" if first else ""
                raise ServerUnreachable(f"no answer from {self.server} within {wait:g} s; is void-server running "
                                        f"there, and is the address right?{hint}", detail={"server": self.server})
            if msg.re == seq:
                if msg.type == ERROR:
                    raise msg.error()
                return msg

    # -- simple requests -----------------------------------------------------------------

    def hello(self) -> Dict[str, Any]:
        """The server's capabilities: version, engines, GPU, limits, queue length."""
        return self.request(HELLO, body={"client": "void-nuke", "protocol": PROTOCOL_VERSION}).body

    def status(self, job_id: Optional[str] = None) -> Dict[str, Any]:
        """A job's state, or the server's health and recent jobs when ``job_id`` is None."""
        return self.request(STATUS, job_id).body

    def cancel(self, job_id: str) -> Dict[str, Any]:
        return self.request(CANCEL, job_id).body

    def release(self) -> Dict[str, Any]:
        """Ask the server to free its loaded models (GPU memory) while idle."""
        return self.request(RELEASE).body

    # -- running a shot ------------------------------------------------------------------

    def run(self, shot: Shot, job_id: Optional[str] = None, on_progress: Optional[ProgressCallback] = None,
            cancel_event: Optional[threading.Event] = None, transfer: str = "pixels",
            preview: bool = False, check_inputs: bool = True, version: Optional[str] = None) -> RunResult:
        """Submit ``shot``, upload its frames, wait, and write the results. Blocking.

        Submitting the same shot again with the same ``job_id`` continues the
        job (already uploaded or received frames are not sent again). A quadmask
        preview lands apart from results, in ``OUT/quadmask/vNNN/<name>_quadmask.####.exr``.
        ``check_inputs=False`` skips the local input checks (the caller ran ``preflight.prepare``).
        With the paths transfer, ``version`` (``v003``) names the folder the server delivers
        into, as a farm task's job does; by default it claims the next.
        """
        job_id = check_job_id(job_id or new_job_id(shot))
        report = on_progress or (lambda p: None)
        target = preview_shot(shot) if preview else shot
        folder = VersionFolder(target.output.directory, job_id)
        have = [f for f in shot.process_frames if folder.has(target.result_name(f))] if transfer == "pixels" else []
        reply = self.submit(shot, job_id, report, cancel_event, transfer, preview, check_inputs, have, version)
        if transfer == "paths":  # the server writes; the folder it claimed is never the client's to remove
            folder = VersionFolder(target.output.directory, job_id, str(reply.get("version") or "") or None)
        return self._follow(job_id, folder, target.result_name, target.output.compression,
                            int(reply.get("credit", 4)), len(shot.process_frames), report, cancel_event,
                            _pattern(target), have, shot)

    def submit(self, shot: Shot, job_id: str, on_progress: Optional[ProgressCallback] = None,
               cancel_event: Optional[threading.Event] = None, transfer: str = "pixels", preview: bool = False,
               check_inputs: bool = True, have: Optional[List[int]] = None,
               version: Optional[str] = None) -> Dict[str, Any]:
        """Check, submit and upload ``shot`` as ``job_id``; return once the server has accepted it.

        The job then runs on the server whether or not this client follows it (``attach``
        collects its results). Returns the server's status of the job.
        """
        if check_inputs and transfer == "pixels":
            from .preflight import prepare

            shot = prepare(shot).shot
        caps = self.hello()
        self.instance = caps.get("instance")
        engine = (caps.get("engines") or {}).get(shot.engine.name) or {}
        if not engine.get("available", False):
            raise VoidError(f"the server at {self.server} cannot run the {shot.engine.name} engine: "
                            f"{engine.get('reason') or 'not installed there'}", code="engine_unavailable")
        sent = preview_shot(shot) if preview and transfer == "paths" else shot
        request = {"shot": sent.to_dict(), "transfer": transfer, "preview": preview, "stream": True,
                   "have": have or []}
        if version:
            request["version"] = version
        body = self.request(SUBMIT, job_id, request).body
        if body.get("state") == "receiving":
            body = self._send_inputs(job_id, shot, body, on_progress or (lambda p: None), cancel_event)
        return body

    def attach(self, job_id: str, out_dir: str, on_progress: Optional[ProgressCallback] = None,
               cancel_event: Optional[threading.Event] = None) -> RunResult:
        """Re-attach to a job by id: wait for it and write the frames not yet in ``out_dir``.

        A preview job's frames go to ``out_dir/quadmask``, named as ``run`` names them.
        """
        status = self.status(job_id)
        self.instance = status.get("instance")
        name, padding = status["output_name"], int(status["padding"])
        if status.get("preview") and status.get("transfer") != "paths":
            out_dir, name = os.path.join(out_dir, PREVIEW_FOLDER), name + PREVIEW_SUFFIX

        def result_name(frame: int) -> str:
            return f"{name}.{frame:0{padding}d}.exr"

        if status.get("transfer") == "paths":
            folder = VersionFolder(out_dir, job_id, str(status.get("version", "")))
            have: List[int] = []
        else:
            folder = VersionFolder(out_dir, job_id)
            have = [f for f in status.get("results", []) if folder.has(result_name(f))]
        reply = self.request(ATTACH, job_id, {"have": have})
        report = on_progress or (lambda p: None)
        if reply.body.get("state") == "receiving":
            self._waiting_for_upload(job_id, reply.body, report)
        credit = int(reply.body.get("credit", 4))
        return self._follow(job_id, folder, result_name, str(status.get("compression", "zip")), credit,
                            int(status.get("total", 0)), report, cancel_event, f"{name}.{'#' * padding}.exr", have)

    def _waiting_for_upload(self, job_id: str, body: Dict[str, Any], report: ProgressCallback) -> None:
        """A job still receiving its frames, followed by a client that cannot send them: say so."""
        need = body.get("need") or []
        missing = int(body.get("missing", len(need)))
        shown = ", ".join(f"{r} {f}" for r, f in need[:4]) + (" ..." if missing > 4 else "")
        if not body.get("uploading"):
            raise VoidError(f"job {job_id} is waiting for its input frames: {missing} not uploaded yet ({shown}) "
                            "and no upload is in progress. Only a client with the shot can send them: resubmit "
                            f"the same shot with --job-id {job_id}. The server abandons a stalled upload after "
                            "its receive timeout", code="waiting_for_upload", detail={"missing": missing})
        report(Progress(job_id, "upload", None, 0, missing, 0.0, None,
                        f"waiting for another client's upload: {missing} input frame(s) missing ({shown})"))

    def _send_inputs(self, job_id: str, shot: Shot, status: Dict[str, Any], report: ProgressCallback,
                     cancel_event: Optional[threading.Event]) -> Dict[str, Any]:
        """Upload what a receiving job lacks and COMMIT it; frames lost in a server restart are sent again.

        Returns the job's status after the COMMIT."""
        need, credit = status.get("need") or [], int(status.get("credit", 4))
        for _ in range(MAX_COMMITS):
            self._upload(job_id, shot, need, credit, report, cancel_event)
            try:
                return self.request(COMMIT, job_id).body
            except VoidError as exc:
                if exc.code != "missing_inputs":
                    raise
                need = exc.detail.get("need") or []
        return self.request(COMMIT, job_id).body

    def _restarted(self, msg: Message) -> bool:
        """True when ``msg`` comes from a new server process (its instance id changed)."""
        instance = msg.body.get("instance")
        if not instance:
            return False
        if self.instance is None:
            self.instance = instance
        return instance != self.instance

    def _reattach(self, job_id: str, shot: Optional[Shot], have: List[int], report: ProgressCallback,
                  cancel_event: Optional[threading.Event]) -> int:
        """After a server restart: subscribe again, finish an interrupted upload; return the credit to grant."""
        reply = self.request(ATTACH, job_id, {"have": have})
        self.instance = reply.body.get("instance") or self.instance
        report(Progress(job_id, str(reply.body.get("state", "")), None, 0, 0, 0.0, None,
                        f"the server restarted; re-attached to job {job_id}"))
        if reply.body.get("state") == "receiving":
            if shot is None:
                self._waiting_for_upload(job_id, reply.body, report)
            else:
                self._send_inputs(job_id, shot, reply.body, report, cancel_event)
        return int(reply.body.get("credit", 4))

    def _upload(self, job_id: str, shot: Shot, need: List[List[Any]], credits: int,
                report: ProgressCallback, cancel_event: Optional[threading.Event]) -> None:
        """Send the frames the server lacks, at most ``credits`` unacknowledged at a time."""
        patterns = dict(shot.inputs())
        todo: List[Tuple[str, int]] = [(str(r), int(f)) for r, f in need]
        total, acked, in_flight = len(todo), 0, 0
        clock = EtaClock()
        heard = time.monotonic()
        while todo or in_flight:
            if cancel_event is not None and cancel_event.is_set():
                self.request(CANCEL, job_id)
                raise Cancelled()
            while todo and in_flight < credits:
                role, frame = todo.pop(0)
                image = read_image(patterns[role].path(frame))
                self.send(FRAME, job_id, image_body(image.spec, role=role, frame=frame), [image.pixels])
                in_flight += 1
            msg = self.receive(self.heartbeat_s)
            if msg is None:
                if time.monotonic() - heard > self.timeout:
                    raise ServerUnreachable(f"{self.server} stopped acknowledging frames; resubmit with job id "
                                            f"{job_id} to continue the upload")
                self.send(HEARTBEAT, job_id)  # its answer tells whether the server restarted
                continue
            heard = time.monotonic()
            if msg.type == ERROR:
                raise msg.error()
            if msg.type == HEARTBEAT and self._restarted(msg):  # frames in flight are lost: ask again
                status = self.request(ATTACH, job_id, {"have": []}).body
                self.instance = status.get("instance") or self.instance
                todo = [(str(r), int(f)) for r, f in status.get("need") or []]
                in_flight = 0
                report(Progress(job_id, "upload", None, acked, total, 0.0, None, f"the server restarted; "
                                f"re-attached to job {job_id}, {len(todo)} frame(s) still to send"))
                continue
            if msg.type == CREDIT:
                n = int(msg.body.get("n", 1))
                in_flight = max(0, in_flight - n)
                acked += n
                fraction = acked / max(1, total)
                report(Progress(job_id, "upload", None, acked, total, 0.0, clock.eta(fraction),
                                f"uploaded {acked}/{total} frames"))

    def _follow(self, job_id: str, folder: VersionFolder, result_name: Callable[[int], str], compression: str,
                credits: int, total: int, report: ProgressCallback, cancel_event: Optional[threading.Event],
                pattern: str, have: Optional[List[int]] = None, shot: Optional[Shot] = None) -> RunResult:
        """Receive PROGRESS and RESULT messages until DONE; write each result atomically.

        The version folder is claimed when the first result arrives; one that ends the job
        without frames is given back. Heartbeat answers carry the server's instance id: when it
        changes, the server restarted and forgot this client, so the client re-attaches
        (re-uploading what a job still receiving lacks, when it has the ``shot``) and carries on.
        """
        try:
            return self._receive_results(job_id, folder, result_name, compression, credits, total, report,
                                         cancel_event, pattern, have, shot)
        finally:
            folder.release_if_empty()

    def _receive_results(self, job_id: str, folder: VersionFolder, result_name: Callable[[int], str],
                         compression: str, credits: int, total: int, report: ProgressCallback,
                         cancel_event: Optional[threading.Event], pattern: str,
                         have: Optional[List[int]], shot: Optional[Shot]) -> RunResult:
        self.send(CREDIT, job_id, {"n": credits})
        written = set(have or [])
        heard = last_beat = time.monotonic()
        cancel_sent = False
        while True:
            if cancel_event is not None and cancel_event.is_set() and not cancel_sent:
                self.send(CANCEL, job_id)
                cancel_sent = True
            msg = self.receive(0.2)
            now = time.monotonic()
            if now - last_beat >= self.heartbeat_s:
                self.send(HEARTBEAT, job_id)
                last_beat = now
            if msg is None:
                if now - heard > self.timeout:
                    raise ServerUnreachable(f"lost contact with {self.server}; the job keeps running there. "
                                            f"Re-attach with: void-nuke attach {job_id} --out <folder>")
                continue
            heard = now
            if msg.job not in (None, job_id):
                continue
            if msg.type == RESULT:
                frame = int(msg.body["frame"])
                path = folder.file(result_name(frame))
                if not os.path.exists(path):
                    try:
                        write_image(path, image_from_message(msg), compression=compression)
                    except FileExistsError:
                        pass  # another client of the same job wrote the same frame first
                written.add(frame)
                self.send(CREDIT, job_id, {"n": 1, "ack": frame})
                report(Progress(job_id, "download", frame, len(written), total,
                                len(written) / max(1, total), None, f"wrote {len(written)}/{total} frames"))
            elif msg.type == HEARTBEAT and self._restarted(msg):
                self.send(CREDIT, job_id, {"n": self._reattach(job_id, shot, sorted(written), report,
                                                               cancel_event)})
            elif msg.type == PROGRESS:
                report(Progress.from_dict(msg.body))
            elif msg.type == ERROR:
                raise msg.error()
            elif msg.type == DONE:
                state = msg.body.get("state")
                if state == "cancelled":
                    raise Cancelled(f"job {job_id} was cancelled")
                if state != "done":
                    raise VoidError.from_dict(msg.body.get("error") or {"message": f"job {job_id} {state}"})
                version = msg.body.get("version")
                version_dir = os.path.join(folder.out_dir, version) if version else (folder.path or "")
                return RunResult(job_id, version_dir, sorted(msg.body.get("frames", [])), state,
                                 pattern=os.path.join(version_dir, pattern) if version_dir else "",
                                 warnings=list(msg.body.get("warnings") or []))


def _pattern(shot: Shot) -> str:
    """The file name of a shot's results in Nuke's notation: ``sh010.####.exr``."""
    return f"{shot.output_name}.{'#' * shot.result_padding}.exr"
