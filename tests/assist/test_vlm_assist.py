"""The affected-region assist against a local chat-completions server speaking canned answers."""
from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from void_nuke import cli
from void_nuke.exrio import Image, make_spec, write_image
from void_nuke.sequences import FrameRange, SequencePattern
from void_nuke.shapes import ControlPoint, Shape, ShapeKey
from void_nuke.shot import MatteSource, OutputSettings, Shot
from void_nuke.vlm_assist import Grid, Proposal, VlmConfig, VlmError, parse_proposal, propose, sample_frames

W, H = 112, 64  # a 7:4 frame → an 8 x 14 grid of 8-pixel cells
FRAMES = list(range(1001, 1013))


class FakeVlm:
    """Records each request; answers with the next queued reply."""

    def __init__(self) -> None:
        self.requests = []
        self.replies = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": json.loads(body)})
                kind, value = fake.replies.pop(0)
                if kind == "sleep":
                    time.sleep(value)
                    kind, value = "content", "{}"
                if kind == "status":
                    self.send_response(value)
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "boom"}}')
                    return
                payload = value if kind == "raw" else json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": value}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, content) -> None:
        self.replies.append(("content", content if isinstance(content, str) else json.dumps(content)))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def vlm():
    server = FakeVlm()
    yield server
    server.close()


def _frame(frame: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([xx * 2, yy * 3, np.full_like(xx, frame % 256)], 2).astype(np.uint8)


def _mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[16:32, 40:64] = True
    return mask


ANSWER = {
    "integral_belongings": [{"noun": "Bike", "why": "ridden"}],
    "affected_objects": [
        {"noun": "Shadow", "category": "visual_artifact", "why": "cast on the road", "will_move": False,
         "first_appears_frame": 1001,
         "grid_localizations": [
             {"frame": 1001, "grid_regions": [{"row": 5, "col": 3}, {"row": 6, "col": 4}]},
             {"frame": "1012", "grid_regions": [{"row": 5, "col": 6}, {"row": 99, "col": 1}]}]},
        {"noun": "cup", "category": "physical", "will_move": True, "first_appears_frame": 1003,
         "object_size_grids": {"rows": 2, "cols": 2},
         "trajectory_path": [{"frame": 1003, "grid_row": 2, "grid_col": 4},
                             {"frame": 1010, "grid_row": 6, "grid_col": 4}]},
        {"noun": "ball", "category": "physical", "currently_moving": True, "should_have_stayed": True,
         "original_position_grid": {"row": 7, "col": 10}},
        {"noun": "chair", "category": "physical", "will_move": False},
    ],
    "scene_description": "An empty road at dusk.",
    "confidence": 0.7,
}


def test_request_carries_model_instruction_and_captioned_jpeg_frames(vlm, monkeypatch):
    monkeypatch.setenv("TEST_VLM_KEY", "secret")
    vlm.answer(ANSWER)
    config = VlmConfig(url=vlm.url, model="vlm-test", key_env="TEST_VLM_KEY", sample_count=5)
    propose(config, FRAMES, _frame, 1002, _mask(), "remove the cyclist")

    (request,) = vlm.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer secret"
    body = request["body"]
    assert body["model"] == "vlm-test"
    system, user = body["messages"]
    assert system["role"] == "system" and "JSON" in system["content"]
    parts = user["content"]
    assert parts[0]["type"] == "text"
    assert "remove the cyclist" in parts[0]["text"] and "8 rows x 14 columns" in parts[0]["text"]
    captions = [p["text"] for p in parts[1::2]]
    images = [p["image_url"]["url"] for p in parts[2::2]]
    shown = sample_frames(FRAMES, 5)
    assert captions == ["Frame 1002: the object to remove is tinted red."] + [f"Frame {f}:" for f in shown]
    for url in images:
        assert url.startswith("data:image/jpeg;base64,")
        assert base64.b64decode(url.split(",", 1)[1])[:2] == b"\xff\xd8"
    # The tinted frame really is tinted where the mask is.
    tinted = _decode(images[0])
    plain = _decode(images[1 + shown.index(1001)])
    assert tinted[20:28, 44:60, 0].mean() > plain[20:28, 44:60, 0].mean() + 40


def _decode(url: str) -> np.ndarray:
    import OpenImageIO as oiio
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jpg") as fh:
        fh.write(base64.b64decode(url.split(",", 1)[1]))
        fh.flush()
        return oiio.ImageBuf(fh.name).get_pixels(oiio.UINT8)


def test_answer_becomes_affected_rectangles_and_a_prompt(vlm):
    vlm.answer("Here you go:\n```json\n" + json.dumps(ANSWER) + "\n```")
    proposal = propose(VlmConfig(url=vlm.url, key_env="UNSET_KEY_ENV"), FRAMES, _frame, 1001, _mask(), "x")
    assert "Authorization" not in vlm.requests[0]["headers"]
    assert proposal.scene_description == "An empty road at dusk."
    assert proposal.confidence == 0.7
    assert proposal.integral_belongings == (("bike", "ridden"),)
    by_name = {s.name: s for s in proposal.shapes}
    assert sorted(by_name) == ["affected ball at rest", "affected cup path", "affected shadow"]
    assert all(s.role == "affected" for s in proposal.shapes)

    shadow = by_name["affected shadow"]  # bounding box of the cells, 8-pixel cells
    assert [k.frame for k in shadow.keys] == [1001, 1012]
    assert _box(shadow.keys[0]) == (24.0, 40.0, 40.0, 56.0)
    assert _box(shadow.keys[1]) == (48.0, 40.0, 56.0, 48.0)
    assert shadow.lifetime == (1001, 1012)

    cup = by_name["affected cup path"]  # 2x2 cells centred on the trajectory cell
    assert [k.frame for k in cup.keys] == [1003, 1010]
    assert _box(cup.keys[0]) == (28.0, 12.0, 44.0, 28.0)
    assert cup.lifetime == (1003, 1012)

    ball = by_name["affected ball at rest"]
    assert _box(ball.keys[0]) == (80.0, 56.0, 88.0, 64.0) and ball.lifetime == (1001, 1012)

    assert any("99" in w and "dropped" in w for w in proposal.warnings)
    assert any(w.startswith("chair:") and "draw" in w for w in proposal.warnings)


def _box(key: ShapeKey):
    xs = [p.x for p in key.points]
    ys = [p.y for p in key.points]
    return (min(xs), min(ys), max(xs), max(ys))


def test_frames_counted_from_zero_are_moved_onto_the_plate_frames():
    grid = Grid.for_size(W, H)
    answer = {"affected_objects": [{"noun": "shadow", "category": "visual_artifact",
                                    "grid_localizations": [{"frame": 0, "grid_regions": [{"row": 1, "col": 1}]},
                                                           {"frame": 11, "grid_regions": [{"row": 2, "col": 2}]}]}]}
    proposal = parse_proposal(json.dumps(answer), grid, FRAMES, FRAMES)
    assert [k.frame for k in proposal.shapes[0].keys] == [1001, 1012]
    assert any("numbered frames from 0" in w for w in proposal.warnings)


@pytest.mark.parametrize("text", ["I think the shadow moves.", "{\"affected_objects\": [", "[1, 2]"])
def test_malformed_answers_raise_and_keep_the_raw_text(vlm, text):
    vlm.answer(text)
    with pytest.raises(VlmError, match="not a JSON object") as err:
        propose(VlmConfig(url=vlm.url), FRAMES, _frame, 1001, _mask(), "x")
    assert err.value.code == "vlm_bad_answer" and err.value.detail["raw"] == text


@pytest.mark.parametrize("status,hint", [(500, "try again"), (401, "TEST_VLM_KEY"), (404, "URL and model")])
def test_http_errors_name_the_status_and_what_to_check(vlm, status, hint):
    vlm.replies.append(("status", status))
    with pytest.raises(VlmError, match=f"HTTP {status}.*{hint}") as err:
        propose(VlmConfig(url=vlm.url, key_env="TEST_VLM_KEY"), FRAMES, _frame, 1001, _mask(), "x")
    assert err.value.code == "vlm_http"


def test_a_silent_service_times_out(vlm):
    vlm.replies.append(("sleep", 1.5))
    with pytest.raises(VlmError, match="did not answer within 0.3 s") as err:
        propose(VlmConfig(url=vlm.url, timeout_s=0.3), FRAMES, _frame, 1001, _mask(), "x")
    assert err.value.code == "vlm_timeout"


def test_unreachable_and_non_chat_services(vlm):
    vlm.replies.append(("raw", b'{"hello": "world"}'))
    with pytest.raises(VlmError, match="chat-completions") as err:
        propose(VlmConfig(url=vlm.url), FRAMES, _frame, 1001, _mask(), "x")
    assert err.value.code == "vlm_protocol"
    dead = FakeVlm()
    url = dead.url
    dead.close()
    with pytest.raises(VlmError, match="cannot reach") as err:
        propose(VlmConfig(url=url, timeout_s=2), FRAMES, _frame, 1001, _mask(), "x")
    assert err.value.code == "vlm_unreachable"


def test_config_endpoint_accepts_a_base_url_or_the_full_path():
    assert VlmConfig(url="http://host/v1/").endpoint == "http://host/v1/chat/completions"
    assert VlmConfig(url="http://host/v1/chat/completions").endpoint == "http://host/v1/chat/completions"


def _shot(tmp_path: Path) -> Path:
    plate = SequencePattern(str(tmp_path / "plate" / "sh.####.exr"))
    remove = SequencePattern(str(tmp_path / "mask" / "rm.####.exr"))
    for frame in FRAMES:
        write_image(plate.path(frame), Image(np.full((H, W, 3), 0.2, np.float16), make_spec(W, H, ("R", "G", "B"))))
        matte = np.zeros((H, W, 1), np.float16)
        if frame >= 1003:  # the object enters on 1003: that frame gets the red tint
            matte[16:32, 40:64] = 1.0
        write_image(remove.path(frame), Image(matte, make_spec(W, H, ("A",))))
    existing = Shape("affected shadow", "affected", (ShapeKey(1001, tuple(
        ControlPoint.corner(x, y) for x, y in ((0, 0), (4, 0), (4, 4)))),))
    shot = Shot(plate=plate.pattern, frames=FrameRange(1001, 1012), output=OutputSettings(str(tmp_path / "out")),
                remove=(MatteSource(remove.pattern),), shapes=(existing,), prompt="old prompt")
    path = tmp_path / "shot.toml"
    shot.save(str(path))
    return path


def test_command_line_writes_a_proposal_and_accepts_it_only_on_request(vlm, tmp_path, capsys):
    shot_path = _shot(tmp_path)
    before = shot_path.read_bytes()
    vlm.answer(ANSWER)
    proposal_path = tmp_path / "proposal.json"
    assert cli.main(["assist", str(shot_path), "--vlm-url", vlm.url, "--model", "m", "--samples", "4",
                     "-o", str(proposal_path)]) == 0
    assert shot_path.read_bytes() == before, "assist never changes the shot"
    captions = [p["text"] for p in vlm.requests[0]["body"]["messages"][1]["content"][1::2]]
    assert captions[0].startswith("Frame 1003:")  # first frame with something to remove
    saved = json.loads(proposal_path.read_text())
    assert saved["scene_description"] == "An empty road at dusk." and len(saved["shapes"]) == 3

    assert cli.main(["assist", str(shot_path), "--vlm-url", vlm.url, "-o", str(proposal_path)]) != 0
    assert "already exists" in capsys.readouterr().err

    accepted_path = tmp_path / "accepted.toml"
    assert cli.main(["assist-accept", str(shot_path), str(proposal_path), "-o", str(accepted_path),
                     "--only", "affected shadow", "--only", "affected cup path"]) == 0
    accepted = Shot.load(str(accepted_path))
    assert [s.name for s in accepted.shapes] == ["affected shadow", "affected shadow 2", "affected cup path"]
    assert accepted.prompt == "An empty road at dusk."
    assert cli.main(["assist-accept", str(shot_path), str(proposal_path), "-o", str(accepted_path)]) != 0


def test_saved_proposal_round_trips_and_rejects_unknown_shapes(vlm, tmp_path):
    vlm.answer(ANSWER)
    proposal = propose(VlmConfig(url=vlm.url), FRAMES, _frame, 1001, _mask(), "x")
    proposal.save(str(tmp_path / "p.json"))
    loaded = Proposal.load(str(tmp_path / "p.json"))
    assert loaded.shapes == proposal.shapes and loaded.grid == proposal.grid
    assert loaded.frames == proposal.frames and loaded.warnings == proposal.warnings
    shot = Shot.load(str(_shot(tmp_path)))
    with pytest.raises(VlmError, match="no shape named nope"):
        loaded.accept(shot, shapes=["nope"])
    kept = loaded.accept(shot, use_prompt=False)
    assert kept.prompt == "old prompt" and len(kept.shapes) == 4
