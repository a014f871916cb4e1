"""The server listens beyond loopback only with CURVE keys, or when told --insecure; keys, the
private worker channel and a busy port are handled safely and said clearly."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from void_nuke.client import Client
from void_nuke.errors import AuthenticationFailed, ServerUnreachable, VoidError
from void_server.app import check_bind
from void_server.settings import ServerSettings


@pytest.mark.parametrize("bind, ok", [("tcp://127.0.0.1:5557", True), ("tcp://localhost:1", True),
                                      ("tcp://[::1]:5557", True), ("ipc:///tmp/void.sock", True),
                                      ("tcp://0.0.0.0:5557", False), ("tcp://*:5557", False),
                                      ("tcp://10.1.2.3:5557", False), ("tcp://127.0.0.1.example.com:5557", False),
                                      ("tcp://127.attacker.net:5557", False), ("tcp://[::ffff:8.8.8.8]:1", False)])
def test_binding_beyond_loopback_needs_keys_or_insecure(bind, ok):
    if ok:
        check_bind(ServerSettings("/tmp", bind=bind))
    else:
        with pytest.raises(VoidError, match="--curve-dir") as err:
            check_bind(ServerSettings("/tmp", bind=bind))
        assert err.value.code == "insecure_bind"
        check_bind(ServerSettings("/tmp", bind=bind, insecure=True))
        check_bind(ServerSettings("/tmp", bind=bind, curve_dir="/keys"))


def test_the_server_refuses_to_start_on_a_public_address_without_keys(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "void_server.cli", "serve", "--bind", "tcp://0.0.0.0:0",
                           "--data", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "without authentication" in proc.stderr


def test_curve_keys_let_known_clients_in_and_tell_others_which_keys_to_check(server_factory, tmp_path,
                                                                              monkeypatch):
    keys = tmp_path / "keys"
    made = subprocess.run([sys.executable, "-m", "void_server.cli", "keys", str(keys), "--client", "artist"],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    srv = server_factory(extra=["--curve-dir", str(keys)])
    monkeypatch.setenv("VOID_SERVER_KEY", str(keys / "server.key"))
    monkeypatch.setenv("VOID_CLIENT_CERT", str(keys / "artist.key_secret"))
    with Client.from_env(srv.address, timeout=10) as client:
        assert client.hello()["server"] == "void-server"
    monkeypatch.setenv("VOID_CLIENT_CERT", "")  # a fresh, unknown key pair
    with Client.from_env(srv.address, timeout=10) as stranger:
        with pytest.raises(AuthenticationFailed, match="refused this client's CURVE key") as err:
            stranger.hello()
    assert "VOID_CLIENT_CERT" in err.value.message and "void-server keys" in err.value.message
    assert "is void-server running" not in err.value.message and isinstance(err.value, ServerUnreachable)
    monkeypatch.delenv("VOID_SERVER_KEY")
    with Client.from_env(srv.address, timeout=10) as plain:
        with pytest.raises(AuthenticationFailed, match="requires CURVE") as err:
            plain.hello()
    assert "VOID_SERVER_KEY" in err.value.message
    assert os.path.isfile(keys / "clients" / "artist.key")


def test_a_wrong_server_key_is_named(server_factory, tmp_path, monkeypatch):
    keys, other = tmp_path / "keys", tmp_path / "other"
    for folder in (keys, other):
        subprocess.run([sys.executable, "-m", "void_server.cli", "keys", str(folder), "--client", "artist"],
                       capture_output=True, timeout=60, check=True)
    srv = server_factory(extra=["--curve-dir", str(keys)])
    monkeypatch.setenv("VOID_SERVER_KEY", str(other / "server.key"))
    monkeypatch.setenv("VOID_CLIENT_CERT", str(keys / "artist.key_secret"))
    with Client.from_env(srv.address, timeout=10) as client:
        with pytest.raises(AuthenticationFailed, match="VOID_SERVER_KEY does not match"):
            client.hello()


@pytest.mark.parametrize("umask, public", [(0o022, 0o644), (0o027, 0o640)])
def test_secret_keys_are_readable_by_their_owner_alone(tmp_path, umask, public):
    keys = tmp_path / "keys"
    subprocess.run([sys.executable, "-m", "void_server.cli", "keys", str(keys), "--client", "artist"],
                   capture_output=True, timeout=60, check=True, preexec_fn=lambda: os.umask(umask))
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(keys / "server.key_secret") == 0o600 and mode(keys / "artist.key_secret") == 0o600
    assert mode(keys / "server.key") == public and mode(keys / "clients" / "artist.key") == public
    again = subprocess.run([sys.executable, "-m", "void_server.cli", "keys", str(keys), "--client", "artist"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr  # a key is never replaced silently


def test_a_busy_port_is_named_without_a_traceback(server, tmp_path):
    port = server.address.rsplit(":", 1)[1]
    proc = subprocess.run([sys.executable, "-m", "void_server.cli", "serve", "--bind", server.address,
                           "--data", str(tmp_path / "second")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "address already in use" in proc.stderr and port in proc.stderr and "--bind" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def wait_for_worker(srv) -> dict:
    """HELLO until the worker has reported (its GPU, or none)."""
    with Client(srv.address, timeout=10) as client:
        deadline = time.monotonic() + 60
        while not client.hello()["gpu"] and time.monotonic() < deadline:
            time.sleep(0.1)
        return client.hello()


def test_the_worker_channel_lives_in_a_private_folder(server_factory):
    base = tempfile.mkdtemp(prefix="void-", dir="/tmp")
    os.chmod(base, 0o755)  # a data folder others may look into: only its private parts must stay shut
    try:
        srv = server_factory(extra=["--worker-channel", "ipc"], data_dir=os.path.join(base, "data"))
        wait_for_worker(srv)
        private = os.path.join(srv.data_dir, "private")
        config = os.path.join(private, "worker.json")
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
        with open(config) as fh:
            endpoint = json.load(fh)["endpoint"]
        assert endpoint == "ipc://" + os.path.join(private, "worker.ipc")
        assert stat.S_IMODE(os.stat(os.path.join(srv.data_dir, "jobs")).st_mode) == 0o700
        system_python = "/usr/bin/python3"
        if os.geteuid() == 0 and os.access(system_python, os.X_OK):  # another user cannot reach the socket
            probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                     "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit(3)\n")
            denied = subprocess.run([system_python, "-c", probe, endpoint[len("ipc://"):]], user=65534,
                                    capture_output=True, timeout=60, cwd="/")
            assert denied.returncode == 3, denied.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
