"""The client library: submit a shot, stream frames, follow progress, collect results.

No Nuke needed. A ``Client`` owns one DEALER socket and must be used from one
thread at a time (ZeroMQ sockets are not thread-safe); make one per thread.

Results are written atomically into a new version folder of the shot's output
directory (``v001``, ``v002``...), never over an earlier file. A client that
went away re-attaches by job id and receives only the frames it lacks.
"""
from __future__ import annotations

import os
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
from .versions import claim_version, find_job_version

DEFAULT_SERVER = os.environ.get("VOID_SERVER", "tcp://127.0.0.1:5557")
ProgressCallback = Callable[[Progress], None]
HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
"""Socket-monitor events that mean the server refused this client's keys (or their absence)."""
MAX_COMMITS = 3
"""COMMIT attempts when a restarted server lost frames that were in flight."""


class Client:
    def __init__(self, server: str = DEFAULT_SERVER, timeout: float = 30.0, heartbeat_s: float = 2.0,
                 curve_server_key: Optional[bytes] = None, curve_client_cert: Optional[str] = None) -> None:
        """``timeout``: seconds of silence from the server before giving up."""
        self.server = server
        self.timeout = timeout
        self.heartbeat_s = heartbeat_s
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
        self.sock.connect(server)

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

    def request(self, kind: str, job: Optional[str] = None, body: Optional[Dict[str, Any]] = None) -> Message:
        """Send a request and wait for its reply; an ERROR reply is raised."""
        seq = self.send(kind, job, body)
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.receive(max(0.0, left)) if left > 0 else None
            if msg is None:
                raise ServerUnreachable(f"no answer from {self.server} within {self.timeout:g} s; is "
                                        "void-server running there, and is the address right?")
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
            preview: bool = False, version: Optional[str] = None) -> RunResult:
        """Submit ``shot``, upload its frames, wait, and write the results. Blocking.

        Submitting the same shot again with the same ``job_id`` continues the
        job (already uploaded or received frames are not sent again). With the
        paths transfer, ``version`` (``v003``) names the folder the server
        delivers into, as a farm task's job does; by default it claims the next.
        """
        job_id = check_job_id(job_id or new_job_id(shot))
        report = on_progress or (lambda p: None)
        caps = self.hello()
        self.instance = caps.get("instance")
        engine = (caps.get("engines") or {}).get(shot.engine.name) or {}
        if not engine.get("available", False):
            raise VoidError(f"the server at {self.server} cannot run the {shot.engine.name} engine: "
                            f"{engine.get('reason') or 'not installed there'}", code="engine_unavailable")
        version_dir = None
        have: List[int] = []
        if transfer == "pixels":
            version_dir = claim_version(shot.output.directory, job_id)
            have = [f for f in shot.process_frames if os.path.isfile(os.path.join(version_dir, shot.result_name(f)))]
        body = {"shot": shot.to_dict(), "transfer": transfer, "preview": preview, "stream": True, "have": have}
        if version:
            body["version"] = version
        reply = self.request(SUBMIT, job_id, body)
        if reply.body.get("state") == "receiving":
            self._send_inputs(job_id, shot, reply.body, report, cancel_event)
        if version_dir is None:
            version_dir = os.path.join(shot.output.directory, str(reply.body.get("version", "")))
        return self._follow(job_id, version_dir, shot.result_name, shot.output.compression, have,
                            int(reply.body.get("credit", 4)), len(shot.process_frames), report, cancel_event,
                            shot)

    def attach(self, job_id: str, out_dir: str, on_progress: Optional[ProgressCallback] = None,
               cancel_event: Optional[threading.Event] = None) -> RunResult:
        """Re-attach to a job by id: wait for it and write the frames not yet in ``out_dir``."""
        status = self.status(job_id)
        self.instance = status.get("instance")
        name, padding = status["output_name"], int(status["padding"])

        def result_name(frame: int) -> str:
            return f"{name}.{frame:0{padding}d}.exr"

        if status.get("transfer") == "paths":
            version_dir = os.path.join(out_dir, str(status.get("version", "")))
            have: List[int] = []
        else:
            version_dir = find_job_version(out_dir, job_id) or claim_version(out_dir, job_id)
            have = [f for f in status.get("results", []) if os.path.isfile(os.path.join(version_dir, result_name(f)))]
        reply = self.request(ATTACH, job_id, {"have": have})
        report = on_progress or (lambda p: None)
        if reply.body.get("state") == "receiving":
            self._waiting_for_upload(job_id, reply.body, report)
        credit = int(reply.body.get("credit", 4))
        return self._follow(job_id, version_dir, result_name, str(status.get("compression", "zip")), have,
                            credit, int(status.get("total", 0)), report, cancel_event)

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
                     cancel_event: Optional[threading.Event]) -> None:
        """Upload what a receiving job lacks and COMMIT it; frames lost in a server restart are sent again."""
        need, credit = status.get("need") or [], int(status.get("credit", 4))
        for _ in range(MAX_COMMITS):
            self._upload(job_id, shot, need, credit, report, cancel_event)
            try:
                self.request(COMMIT, job_id)
                return
            except VoidError as exc:
                if exc.code != "missing_inputs":
                    raise
                need = exc.detail.get("need") or []
        self.request(COMMIT, job_id)

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

    def _follow(self, job_id: str, version_dir: str, result_name: Callable[[int], str], compression: str,
                have: List[int], credits: int, total: int, report: ProgressCallback,
                cancel_event: Optional[threading.Event], shot: Optional[Shot] = None) -> RunResult:
        """Receive PROGRESS and RESULT messages until DONE; write each result atomically.

        Heartbeat answers carry the server's instance id: when it changes, the server restarted
        and forgot this client, so the client re-attaches (re-uploading what a job still
        receiving lacks, when it has the ``shot``) and carries on.
        """
        self.send(CREDIT, job_id, {"n": credits})
        written = set(have)
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
                path = os.path.join(version_dir, result_name(frame))
                if not os.path.exists(path):
                    write_image(path, image_from_message(msg), compression=compression)
                written.add(frame)
                self.send(CREDIT, job_id, {"n": 1, "ack": frame})
                report(Progress(job_id, "download", frame, len(written), total,
                                len(written) / max(1, total), None, f"wrote {os.path.basename(path)}"))
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
                return RunResult(job_id, version_dir, sorted(msg.body.get("frames", [])), state,
                                 warnings=list(msg.body.get("warnings") or []))
