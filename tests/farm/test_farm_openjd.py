"""Open Job Description bundles: valid templates, the right tasks, and a real ``openjd run``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from void_nuke.cli import main
from void_nuke.exrio import read_image
from void_nuke.farm.openjd import build_template, validate_template
from void_nuke.farm.plan import FarmError, FarmOptions, Timeouts, plan_shots
from void_nuke.farm.submitter import submit_shots
from void_nuke.shot import Shot

from farmshots import shot_list_toml

openjd_model = pytest.importorskip("openjd.model")
REPO = Path(__file__).resolve().parents[2]
OPENJD = shutil.which("openjd", path=os.path.dirname(sys.executable)) or shutil.which("openjd")
VOID_NUKE = shutil.which("void-nuke", path=os.path.dirname(sys.executable)) or shutil.which("void-nuke")


def _shot(name: str, frames: str, out: Path, engine: str = "classic") -> Shot:
    return Shot.from_dict({"name": name, "plate": f"/plates/{name}.####.exr", "frames": frames,
                           "remove": f"/plates/{name}_m.####.exr", "output": str(out), "engine": engine})


def _step(template: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(s for s in template["steps"] if s["name"] == name)


def _tasks(template: Dict[str, Any], step: str, bundle: Path) -> List[Dict[str, str]]:
    """The step's tasks as openjd-model expands them."""
    decoded = openjd_model.decode_job_template(template=template, supported_extensions=[])
    params = openjd_model.preprocess_job_parameters(job_template=decoded, job_parameter_values={},
                                                    job_template_dir=bundle.absolute(),
                                                    current_working_dir=Path.cwd().absolute())
    job = openjd_model.create_job(job_template=decoded, job_parameter_values=params)
    space = next(s for s in job.steps if s.name == step).parameterSpace
    return [{k: v.value for k, v in t.items()} for t in openjd_model.StepParameterSpaceIterator(space=space)]


def test_batch_template_lists_every_segment_of_every_shot(tmp_path: Path) -> None:
    shots = [_shot("a", "1001-1400", tmp_path / "o"), _shot("b", "1-10", tmp_path / "o", engine="void")]
    farm_shots = plan_shots(shots, FarmOptions(version="v003"))
    template = build_template(farm_shots, FarmOptions(version="v003"), "void")
    validate_template(template, str(tmp_path))
    render = _tasks(template, "Render", tmp_path)
    assert render == [
        {"Shot": "a", "Segment": "1001", "Frames": "1001-1134", "Version": "v003"},
        {"Shot": "a", "Segment": "1135", "Frames": "1135-1268", "Version": "v003"},
        {"Shot": "a", "Segment": "1269", "Frames": "1269-1400", "Version": "v003"},
        {"Shot": "b", "Segment": "1", "Frames": "1-10", "Version": "v003"},
    ]
    assert _tasks(template, "Prepare", tmp_path) == [{"Shot": "a", "Version": "v003"},
                                                    {"Shot": "b", "Version": "v003"}]
    assert _step(template, "Render")["dependencies"] == [{"dependsOn": "Prepare"}]
    assert _step(template, "Publish")["dependencies"] == [{"dependsOn": "Render"}]


def test_every_action_has_a_timeout_and_the_gpu_requirement_is_optional(tmp_path: Path) -> None:
    farm_shots = plan_shots([_shot("a", "1-4", tmp_path)], FarmOptions(version="v001"))
    options = FarmOptions(version="v001", timeouts=Timeouts(5, 90, 2))
    template = build_template(farm_shots, options, "void")
    timeouts = {s["name"]: [a["timeout"] for a in s["script"]["actions"].values()] for s in template["steps"]}
    assert timeouts == {"Prepare": [300], "Render": [5400], "Publish": [120]}
    assert _step(template, "Render")["hostRequirements"]["amounts"] == [{"name": "amount.worker.gpu", "min": 1}]
    assert all("hostRequirements" not in s for s in template["steps"] if s["name"] != "Render")
    cpu = build_template(farm_shots, FarmOptions(version="v001", gpu=False), "void")
    assert all("hostRequirements" not in s for s in cpu["steps"])
    validate_template(template, str(tmp_path))
    validate_template(cpu, str(tmp_path))


def test_render_command_matches_the_run_contract(tmp_path: Path) -> None:
    farm_shots = plan_shots([_shot("a", "1-4", tmp_path)], FarmOptions(version="v001"))
    template = build_template(farm_shots, FarmOptions(version="v001", executable="/opt/void/bin/void-nuke",
                                                      quadmask_preview=True), "void")
    run = _step(template, "Render")["script"]["actions"]["onRun"]
    assert run["args"] == ["run", "--shot", "{{Param.ShotsDir}}/{{Task.Param.Shot}}.toml",
                           "--frames", "{{Task.Param.Frames}}",
                           "--job-id", "{{Task.Param.Shot}}-{{Task.Param.Version}}-{{Task.Param.Segment}}",
                           "--version", "{{Task.Param.Version}}"]
    assert run["cancelation"]["mode"] == "NOTIFY_THEN_TERMINATE"
    assert "--preview" in _step(template, "Prepare")["script"]["actions"]["onRun"]["args"]
    default = next(p for p in template["parameterDefinitions"] if p["name"] == "VoidNuke")["default"]
    assert default == "/opt/void/bin/void-nuke"
    shots_dir = next(p for p in template["parameterDefinitions"] if p["name"] == "ShotsDir")
    assert shots_dir["default"] == "shots"  # relative: OpenJD joins it to the bundle folder


def test_invalid_templates_are_reported(tmp_path: Path) -> None:
    farm_shots = plan_shots([_shot("a", "1-4", tmp_path)], FarmOptions(version="v001"))
    template = build_template(farm_shots, FarmOptions(version="v001"), "void")
    _step(template, "Render")["parameterSpace"]["taskParameterDefinitions"][1]["range"].append("extra")
    with pytest.raises(FarmError, match="not valid Open Job Description"):
        validate_template(template, str(tmp_path))


def test_per_shot_bundles_and_a_batch_bundle(tiny_shots: Path, tmp_path: Path) -> None:
    from void_nuke.batch import load_shot_list
    shots = load_shot_list(str(tiny_shots))
    written = submit_shots(shots, "openjd", str(tmp_path / "jobs"), per_shot=True, version="v001")
    rel = sorted(str(Path(p).relative_to(tmp_path / "jobs")) for p in written)
    assert rel == ["sh010/parameter_values.yaml", "sh010/shots/sh010.toml", "sh010/template.yaml",
                   "sh020/parameter_values.yaml", "sh020/shots/sh020.toml", "sh020/template.yaml"]
    template = yaml.safe_load((tmp_path / "jobs" / "sh020" / "template.yaml").read_text())
    assert template["name"] == "void-sh020"
    assert _tasks(template, "Prepare", tmp_path / "jobs" / "sh020") == [{"Shot": "sh020", "Version": "v001"}]
    values = yaml.safe_load((tmp_path / "jobs" / "sh010" / "parameter_values.yaml").read_text())
    assert {"name": "VoidNuke", "value": "void-nuke"} in values["parameterValues"]
    farm_shot = Shot.load(str(tmp_path / "jobs" / "sh010" / "shots" / "sh010.toml"))
    assert farm_shot.plate == shots[0].plate and farm_shot.handles == (0, 0)

    with pytest.raises(FarmError, match="not empty"):
        submit_shots(shots, "openjd", str(tmp_path / "jobs"), version="v001")


@pytest.mark.skipif(OPENJD is None, reason="openjd-cli is not installed")
def test_docs_example_gives_a_template_openjd_check_accepts(tmp_path: Path) -> None:
    example = REPO / "docs" / "examples" / "shots.toml"
    shutil.copy(example, tmp_path / "shots.toml")  # claiming versions must not touch the repository
    assert main(["farm", "openjd", str(tmp_path / "shots.toml"), "-o", str(tmp_path / "bundle")]) == 0
    check = subprocess.run([OPENJD, "check", str(tmp_path / "bundle" / "template.yaml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "passes validation" in check.stdout
    assert (tmp_path / "renders" / "ball" / "v001").is_dir()


@pytest.mark.server
@pytest.mark.skipif(OPENJD is None or VOID_NUKE is None, reason="openjd-cli or the void-nuke command is missing")
def test_openjd_run_renders_a_tiny_shot_in_segments(tiny_shots: Path, tmp_path: Path) -> None:
    """prepare → two render segments → publish, run by OpenJD's own local runner."""
    shots_file = tmp_path / "one.toml"
    shots_file.write_text(shot_list_toml(["sh010"]))
    bundle = tmp_path / "bundle"
    assert main(["farm", "openjd", str(shots_file), "-o", str(bundle), "--no-gpu", "--segment-frames", "8"]) == 0
    env = dict(os.environ, PATH=os.path.dirname(VOID_NUKE) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([OPENJD, "run", str(bundle / "template.yaml"), "-p", f"VoidNuke={VOID_NUKE}"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Frames(STRING) = 1006-1010" in proc.stdout  # the second segment ran as its own task
    version = tmp_path / "renders" / "v001"
    frames = sorted(p.name for p in version.glob("sh010.*.exr"))
    assert frames == [f"sh010.{f}.exr" for f in range(1001, 1011)]
    result = read_image(str(version / "sh010.1006.exr"))
    plate = read_image(str(tmp_path / "plates" / "sh010.1006.exr"))
    assert result.pixels.shape == plate.pixels.shape
    assert result.spec.attributes.get("void:job_id") == "sh010-v001-1006"
    square = (slice(5, 10), slice(8, 13))  # where the red square sits in frame 1006
    assert plate.pixels[square][..., 0].astype(float).mean() > 0.8
    assert result.pixels[square][..., 0].astype(float).mean() < 0.6  # the square was removed
    manifest = yaml.safe_load((version / "sh010.publish.json").read_text())
    assert manifest["count"] == 10 and manifest["frames"] == "1001-1010"
