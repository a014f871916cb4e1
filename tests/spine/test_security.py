"""The server listens beyond loopback only with CURVE keys, or when told --insecure."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from void_nuke.client import Client
from void_nuke.errors import ServerUnreachable, VoidError
from void_server.app import check_bind
from void_server.settings import ServerSettings


@pytest.mark.parametrize("bind, ok", [("tcp://127.0.0.1:5557", True), ("tcp://localhost:1", True),
                                      ("tcp://[::1]:5557", True), ("ipc:///tmp/void.sock", True),
                                      ("tcp://0.0.0.0:5557", False), ("tcp://*:5557", False),
                                      ("tcp://10.1.2.3:5557", False)])
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


def test_curve_keys_let_known_clients_in_and_keep_others_out(server_factory, tmp_path, monkeypatch):
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
    with Client.from_env(srv.address, timeout=2) as stranger:
        with pytest.raises(ServerUnreachable):
            stranger.hello()
    monkeypatch.delenv("VOID_SERVER_KEY")
    with Client.from_env(srv.address, timeout=2) as plain:
        with pytest.raises(ServerUnreachable):
            plain.hello()
    assert os.path.isfile(keys / "clients" / "artist.key")
