"""The void-nuke command line: its flags are a contract, its exit codes say what happened."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from void_nuke import __version__, cli
from void_nuke.cli import build_parser
from void_nuke.client import Client, normalise_address
from void_nuke.demo import make_synthetic_shot
from void_nuke.errors import VoidError
from void_nuke.exrio import read_image

VOID_NUKE = [sys.executable, "-m", "void_nuke.cli"]


def run(*args, timeout=180):
    return subprocess.run(VOID_NUKE + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def shot_flags(synthetic, out):
    folder = os.path.dirname(synthetic.shot.plate)
    return ["--plate", os.path.join(folder, "plate.####.exr"), "--frames", "1001-1008",
            "--remove", os.path.join(folder, "remove.####.exr"),
            "--affected", os.path.join(folder, "affected.%04d.exr"), "--prompt", "an empty deck",
            "--seed", 3, "--out", out]


def test_submit_writes_the_next_free_version_and_prints_the_job_id(server, synthetic, tmp_path):
    out = tmp_path / "out"
    first = run("submit", *shot_flags(synthetic, out), "--server", server.address, "--job-id", "cli-job")
    assert first.returncode == 0, first.stderr
    assert "job cli-job" in first.stdout and "wrote 8 frames" in first.stdout
    assert sorted(os.listdir(out / "v001"))[1:] == [f"plate.{f}.exr" for f in range(1001, 1009)]
    attrs = read_image(str(out / "v001" / "plate.1004.exr")).spec.attributes
    assert attrs["void:engine"] == "classic" and "void:seed" not in attrs  # only what the engine used
    second = run("submit", *shot_flags(synthetic, out), "--server", server.address)
    assert second.returncode == 0 and (out / "v002").is_dir()

    status = run("status", "cli-job", "--server", server.address)
    assert status.returncode == 0 and "cli-job: done" in status.stdout
    health = run("status", "--server", server.address)
    assert "engine classic: available" in health.stdout
    cancel = run("cancel", "no-such-job", "--server", server.address)
    assert cancel.returncode == 1 and "no job 'no-such-job'" in cancel.stderr


@pytest.mark.server  # runs shots in-process
def test_shot_file_and_run_in_process(synthetic, tmp_path):
    shot_file = tmp_path / "shot.toml"
    synthetic.shot.save(str(shot_file))
    result = run("run", "--shot", shot_file, "--out", tmp_path / "local", "--version", "v007")
    assert result.returncode == 0, result.stderr
    files = sorted(os.listdir(tmp_path / "local" / "v007"))
    assert files == [synthetic.shot.result_name(f) for f in synthetic.shot.process_frames]
    again = run("run", "--shot", shot_file, "--out", tmp_path / "local", "--frames", "1001-1002")
    assert again.returncode == 0 and len(os.listdir(tmp_path / "local" / "v008")) == 3  # next free version


@pytest.mark.server  # runs shots in-process
def test_bad_input_and_unreachable_servers_exit_with_clear_messages(synthetic, tmp_path):
    bad = run("submit", "--plate", "plate.exr", "--frames", "1-3", "--remove", "m.####.exr", "--out", tmp_path)
    assert bad.returncode == 2 and "plate" in bad.stderr and "####" in bad.stderr
    nothing = run("run", "--plate", tmp_path / "p.####.exr", "--frames", "1-3", "--out", tmp_path)
    assert nothing.returncode == 2 and "nothing to remove" in nothing.stderr
    missing = run("run", *shot_flags(synthetic, tmp_path / "o")[:-2], "--frames", "1001-1020", "--out", tmp_path / "o")
    assert missing.returncode == 2 and "missing" in missing.stderr and "1009" in missing.stderr
    gone = run("submit", *shot_flags(synthetic, tmp_path / "o2"), "--server", "tcp://127.0.0.1:9", "--timeout", 1)
    assert gone.returncode == 3 and "is void-server running" in gone.stderr


@pytest.mark.server  # runs shots in-process
def test_demo_runs_end_to_end_over_zeromq(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--out", out, "--frames", 6, "--width", 128, "--height", 72, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contact sheet" in result.stdout
    sheet = read_image(str(out / "contact_sheet.png"))
    assert sheet.spec.width == 3 * 128 + 2 * 4 and sheet.spec.height == 3 * 72 + 2 * 4
    assert np.ptp(sheet.pixels) > 0
    results = sorted(p for p in os.listdir(out / "results" / "v001") if p.endswith(".exr"))
    assert len(results) == 6


# -- checks before sending, and no wasted versions ------------------------------------------------

def server_jobs(address):
    with Client(address) as client:
        return client.status()["jobs"]


def test_submit_checks_inputs_before_it_contacts_the_server(server, synthetic, tmp_path):
    folder = os.path.dirname(synthetic.shot.plate)
    flags = shot_flags(synthetic, tmp_path / "out")
    cases = {
        "range": (flags + ["--frames", "1001-1020"], "plate: 12 frame(s) missing from "),
        "handles": (flags + ["--handles", "4"], "handles: the head and tail handles need plate frames 997-1000, "),
        "padding": (flags + ["--plate", os.path.join(folder, "plate.#####.exr")], "no file matches "),
        "printf": (flags + ["--plate", os.path.join(folder, "plate.%05d.exr")], "(or %04d)"),
    }
    for name, (args, expected) in cases.items():
        result = run("submit", *args, "--server", server.address)
        assert result.returncode == 2, (name, result.stderr)
        assert expected in result.stderr, (name, result.stderr)
        assert "job " not in result.stdout and "Could not open" not in result.stderr
    assert "1009-1020. Render them, or narrow the frame range (on disk: 1001-1008; --frames 1001-1008 fits)" \
        in run("submit", *cases["range"][0], "--server", server.address).stderr
    assert server_jobs(server.address) == []  # nothing left receiving on the server
    assert not (tmp_path / "out").exists()  # nor on disk


@pytest.mark.slow
def test_failed_attempts_leave_no_empty_version_folders(server, synthetic, tmp_path):
    out = tmp_path / "out"
    typo = tmp_path / "typo.toml"
    synthetic.shot.with_changes(engine=synthetic.shot.engine.__class__(options={"no_such_option": 3})).save(str(typo))
    attempts = [
        run("run", *shot_flags(synthetic, out), "--frames", "1001-1020"),  # missing frames
        run("run", "--shot", typo, "--out", out),  # an engine option typo
        run("run", *shot_flags(synthetic, out), "--engine", "void"),  # no weights here
        run("submit", "--shot", typo, "--out", out, "--server", server.address),  # fails on the server
    ]
    for result in attempts:
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    assert not out.exists() or os.listdir(out) == []
    good = run("run", *shot_flags(synthetic, out))
    assert good.returncode == 0 and f"wrote 8 frames to {out / 'v001'}" in good.stdout


# -- addresses -------------------------------------------------------------------------------------

def test_addresses_are_normalised_and_checked():
    assert normalise_address("gpu01") == "tcp://gpu01:5557"
    assert normalise_address("gpu01:6000") == "tcp://gpu01:6000"
    assert normalise_address("tcp://10.0.0.2") == "tcp://10.0.0.2:5557"
    assert normalise_address("[::1]:5557") == "tcp://[::1]:5557"
    assert normalise_address("ipc:///tmp/void.sock") == "ipc:///tmp/void.sock"
    for bad in ("gpu01:port", "gpu01:99999", "", "tcp://a:b:c"):
        with pytest.raises(VoidError, match="host:port") as err:
            normalise_address(bad)
        assert err.value.code == "bad_address"


def test_host_port_without_a_scheme_reaches_the_server_and_a_wrong_one_says_so_quickly(server, synthetic, tmp_path):
    host_port = server.address[len("tcp://"):]
    ok = run("status", "--server", host_port)
    assert ok.returncode == 0 and f"at {server.address}:" in ok.stdout and "ZMQError" not in ok.stderr
    wrong = run("status", "--server", "127.0.0.1:9", "--connect-timeout", 1)  # 1 s, not --timeout's 30
    assert wrong.returncode == 3 and "no answer from tcp://127.0.0.1:9 within 1 s" in wrong.stderr
    bad = run("status", "--server", "gpu01:port")
    assert bad.returncode == 2 and "'gpu01:port' is not a server address" in bad.stderr
    gone = run("submit", *shot_flags(synthetic, tmp_path / "o"), "--server", "127.0.0.1:9", "--connect-timeout", 1)
    assert gone.returncode == 3 and "job " not in gone.stdout
    assert "no answer from tcp://127.0.0.1:9 within 1 s; is void-server running there" in gone.stderr
    assert "--connect-timeout" in gone.stderr and not (tmp_path / "o").exists()


# -- status, exit codes, --json, closed pipes ------------------------------------------------------

@pytest.mark.slow
def test_status_exit_code_follows_the_job_and_never_prints_none(server, synthetic, tmp_path):
    with Client(server.address) as client:
        client.run(synthetic.shot, job_id="good")
        typo = synthetic.shot.with_changes(engine=synthetic.shot.engine.__class__(options={"no_such_option": 3}))
        with pytest.raises(VoidError):
            client.run(typo, job_id="bad")
    done, failed = run("status", "good", "--server", server.address), run("status", "bad", "--server", server.address)
    assert done.returncode == 0 and done.stdout.startswith("good: done  demo 1001-1008  8/8 frames")
    assert failed.returncode == 1 and failed.stdout.startswith("bad: failed") and "error: " in failed.stdout
    health = run("status", "--server", server.address)
    assert "running nothing" in health.stdout and "None" not in health.stdout + done.stdout + failed.stdout
    long_shot = make_synthetic_shot(str(tmp_path / "long" / "shot"), frames=40, size=(320, 180)).shot
    flags = ["--shot", tmp_path / "long.toml", "--server", server.address, "--detach"]
    long_shot.save(str(tmp_path / "long.toml"))
    assert run("submit", *flags, "--job-id", "first").returncode == 0
    assert run("submit", *flags, "--job-id", "second").returncode == 0
    waiting = run("status", "second", "--server", server.address)
    assert waiting.returncode == 4 and waiting.stdout.startswith(("second: queued", "second: running"))
    assert run("cancel", "second", "--server", server.address).returncode == 0
    assert run("status", "second", "--server", server.address).returncode == 130
    run("cancel", "first", "--server", server.address)


@pytest.mark.slow
def test_json_documents_on_stdout_and_progress_on_stderr(server, synthetic, tmp_path):
    submitted = run("submit", *shot_flags(synthetic, tmp_path / "a"), "--server", server.address, "--json",
                    "--job-id", "as-json")
    doc = json.loads(submitted.stdout)
    assert doc["job"] == "as-json" and doc["state"] == "done" and doc["frames"] == list(range(1001, 1009))
    assert doc["version_dir"] == str(tmp_path / "a" / "v001") and doc["pattern"].endswith("v001/plate.####.exr")
    assert "upload" in submitted.stderr  # progress went to stderr
    status = json.loads(run("status", "as-json", "--server", server.address, "--json").stdout)
    assert status["state"] == "done" and status["total"] == 8
    ran = json.loads(run("run", *shot_flags(synthetic, tmp_path / "b"), "--json").stdout)
    assert ran["frames"] == list(range(1001, 1009)) and ran["version_dir"] == str(tmp_path / "b" / "v001")
    failed = run("run", *shot_flags(synthetic, tmp_path / "c"), "--frames", "1001-1009", "--json")
    error = json.loads(failed.stdout)
    assert failed.returncode == 2 and error["exit_code"] == 2 and error["error"]["code"] == "image"
    assert error["error"]["detail"]["missing"] == [1009]


def test_a_closed_pipe_ends_quietly(server):
    proc = subprocess.Popen(VOID_NUKE + ["status", "--server", server.address], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # like `void-nuke status | head -0`
    err = proc.stderr.read()
    assert proc.wait(60) == 141 and "Traceback" not in err and "BrokenPipeError" not in err


# -- the parser ------------------------------------------------------------------------------------

def _parsers(parser, path=("void-nuke",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


def test_every_flag_has_help_with_its_default():
    for path, parser in _parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            where = f"{' '.join(path)} {action.option_strings[-1]}"
            assert action.help, f"{where} has no help"
            switches = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction,
                        argparse._VersionAction)
            if isinstance(action, switches) or action.required:
                continue
            text = formatter._get_help_string(action)
            assert "default" in text or "required" in text, f"{where} does not say its default"


def test_the_flag_reference_in_docs_is_current():
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "make_cli_reference.py")
    check = subprocess.run([sys.executable, docs, "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_version_and_unknown_flags_under_a_command():
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith(f"void-nuke {__version__} (protocol ")
    unknown = run("farm", "prepare", "--shot", "s.toml", "--version", "v001", "--quadmask-preview")
    assert unknown.returncode == 2 and unknown.stderr.startswith("usage: void-nuke farm prepare")
    assert "unrecognized arguments: --quadmask-preview" in unknown.stderr
    assert run("submit", "--bogus").stderr.startswith("usage: void-nuke submit")


# -- failures speak ------------------------------------------------------------------------------

def test_an_internal_error_is_one_line_and_a_saved_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VOID_CACHE_DIR", str(tmp_path))

    def broken(args):
        raise KeyError("frame")

    monkeypatch.setattr(cli, "cmd_status", broken)
    assert cli.main(["status"]) == 5
    err = capsys.readouterr().err
    (log,) = (tmp_path / "logs").iterdir()
    assert err == (f"void-nuke: internal error: KeyError: 'frame' (the traceback is in {log}; --debug prints "
                   "it). Please report it.\n")
    assert "Traceback (most recent call last)" in log.read_text() and "broken" in log.read_text()
    assert cli.main(["status", "--debug"]) == 5
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_failed_job_names_the_server_trace_id(monkeypatch, capsys):
    def failing(args):
        raise VoidError.from_dict({"code": "engine_failed", "message": "the classic engine failed on frame 1017",
                                   "detail": {"trace_id": "3f9a01c2", "frame": 1017}})

    monkeypatch.setattr(cli, "cmd_run", failing)
    assert cli.main(["run", "--plate", "p.####.exr", "--frames", "1-2", "--out", "o"]) == 1
    assert capsys.readouterr().err == ("void-nuke: error: the classic engine failed on frame 1017 (trace id "
                                       "3f9a01c2; the server log has the full traceback)\n")


# -- provenance ------------------------------------------------------------------------------------

@pytest.mark.server  # runs shots in-process
def test_run_records_the_real_plate_file_and_only_what_the_engine_used(synthetic, tmp_path):
    result = run("run", *shot_flags(synthetic, tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    attrs = read_image(str(tmp_path / "out" / "v001" / "plate.1003.exr")).spec.attributes
    assert attrs["void:source_file"] == "plate.1003.exr" and attrs["void:engine"] == "classic"
    assert not {"void:prompt", "void:steps", "void:seed", "void:guidance", "void:passes"} & set(attrs)
    preview = run("run", *shot_flags(synthetic, tmp_path / "out"), "--preview-mask")
    assert f"wrote 8 frames to {tmp_path / 'out' / 'quadmask' / 'v001'}" in preview.stdout
    assert (tmp_path / "out" / "quadmask" / "v001" / "plate_quadmask.1001.exr").is_file()
    assert not (tmp_path / "out" / "v002").exists()


def test_the_readme_session_is_what_submit_prints(server, synthetic, tmp_path):
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md"), encoding="utf-8").read()
    block = readme.split("## A shot from the command line", 1)[1].split("```", 2)[1]
    shown = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    shapes = [r"^job \S+$", r"^(upload|masks|engine|download|done) +\d+\.\d%\|.*\| \d\d:\d\d<\d\d:\d\d, .+$",
              r"^wrote \d+ frames to \S+/v\d{3}$"]
    assert len(shown) == 3 and all(re.match(shape, line) for shape, line in zip(shapes, shown)), shown
    real = run("submit", *shot_flags(synthetic, tmp_path / "out"), "--server", server.address[len("tcp://"):],
               "--progress", "bar")  # what a terminal shows
    assert real.returncode == 0, real.stderr
    out, bar = real.stdout.splitlines(), re.split(r"[\r\n]+", real.stderr)
    assert re.match(shapes[0], out[0]) and re.match(shapes[2], out[-1])
    assert any(re.match(shapes[1], line.strip()) for line in bar), bar


def test_a_batch_on_servers_names_missing_frames_as_in_process(server, synthetic, tmp_path):
    os.unlink(synthetic.shot.plate_sequence.path(1007))
    folder = os.path.dirname(synthetic.shot.plate)
    (tmp_path / "shots.toml").write_text(
        f'[[shots]]\nname = "sh010"\nplate = "{folder}/plate.####.exr"\nframes = "1001-1008"\n'
        f'remove = "{folder}/remove.####.exr"\noutput = "{tmp_path / "renders"}"\n')
    result = run("batch", tmp_path / "shots.toml", "--server", server.address, "--json")
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["exit_code"] == 1 and doc["done"] == 0
    assert doc["shots"][0]["error"].startswith("plate: 1 frame(s) missing from ")
    assert doc["shots"][0]["error"].endswith(": 1007. Render them, or narrow the frame range (on disk: 1001-1006, "
                                             "1008; --frames 1001-1006 fits).")
    assert server_jobs(server.address) == [] and not (tmp_path / "renders").exists()
