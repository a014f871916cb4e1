"""Open Job Description bundles: valid templates, the right tasks, and a real ``openjd run``."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from void_nuke.cli import main
from void_nuke.exrio import read_image
from void_nuke.farm.openjd import build_template, parameter_values, validate_template
from void_nuke.farm.plan import FarmError, FarmOptions, Timeouts, plan_shots
from void_nuke.farm.submitter import submit_shots
from void_nuke.shot import Shot

from farmshots import shot_list_toml, write_tiny_shot

openjd_model = pytest.importorskip("openjd.model")
REPO = Path(__file__).resolve().parents[2]
OPENJD = shutil.which("openjd", path=os.path.dirname(sys.executable)) or shutil.which("openjd")
VOID_NUKE = shutil.which("void-nuke", path=os.path.dirname(sys.executable)) or shutil.which("void-nuke")


def _shot(name: str, frames: str, out: Path, engine: str = "classic") -> Shot:
    return Shot.from_dict({"name": name, "plate": f"/plates/{name}.####.exr", "frames": frames,
                           "remove": f"/plates/{name}_m.####.exr", "output": str(out), "engine": engine})


def _openjd_run(bundle: Path, *extra: str, cwd: Path) -> subprocess.CompletedProcess:
    """``openjd run`` the bundle's every step with this checkout's void-nuke; fail with its log."""
    env = dict(os.environ, PATH=os.path.dirname(VOID_NUKE) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([OPENJD, "run", str(bundle / "template.yaml"), "-p", f"VoidNuke={VOID_NUKE}", *extra],
                          capture_output=True, text=True, timeout=600, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc


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


def test_every_action_has_a_timeout_and_host_requirements_follow_the_options(tmp_path: Path) -> None:
    farm_shots = plan_shots([_shot("a", "1-4", tmp_path)], FarmOptions(version="v001"))
    options = FarmOptions(version="v001", timeouts=Timeouts(5, 90, 2))
    template = build_template(farm_shots, options, "void")
    timeouts = {s["name"]: [a["timeout"] for a in s["script"]["actions"].values()] for s in template["steps"]}
    assert timeouts == {"Prepare": [300], "Render": [5400], "Publish": [120]}
    linux = [{"name": "attr.worker.os.family", "anyOf": ["linux"]}]
    assert _step(template, "Render")["hostRequirements"] == {
        "attributes": linux, "amounts": [{"name": "amount.worker.gpu", "min": 1},
                                         {"name": "amount.worker.gpu.memory", "min": 40 * 1024}]}
    assert all(s["hostRequirements"] == {"attributes": linux} for s in template["steps"] if s["name"] != "Render")
    offload = build_template(farm_shots, FarmOptions(version="v001", memory_mode="model_offload"), "void")
    assert _step(offload, "Render")["hostRequirements"]["amounts"][1]["min"] == 24 * 1024
    cpu = build_template(farm_shots, FarmOptions(version="v001", gpu=False, os_family="any"), "void")
    assert all("hostRequirements" not in s for s in cpu["steps"])
    for each in (template, offload, cpu):
        validate_template(each, str(tmp_path))


def test_render_command_matches_the_run_contract(tmp_path: Path) -> None:
    farm_shots = plan_shots([_shot("a", "1-4", tmp_path)], FarmOptions(version="v001"))
    template = build_template(farm_shots, FarmOptions(version="v001", executable="/opt/void/bin/void-nuke",
                                                      quadmask_preview=True), "void")
    run = _step(template, "Render")["script"]["actions"]["onRun"]
    assert run["args"] == ["run", "--shot", "{{Param.ShotsDir}}/{{Task.Param.Shot}}.toml",
                           "--frames", "{{Task.Param.Frames}}",
                           "--job-id", "{{Task.Param.Shot}}-{{Task.Param.Version}}-{{Task.Param.Segment}}",
                           "--version", "{{Task.Param.Version}}", "--progress", "openjd",
                           "--path-mapping-rules", "file://{{Session.PathMappingRulesFile}}"]
    for step in template["steps"]:  # every task maps the shot files' paths when it runs
        assert step["script"]["actions"]["onRun"]["args"][-2:] == [
            "--path-mapping-rules", "file://{{Session.PathMappingRulesFile}}"] or step["name"] == "Prepare"
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
    assert rel == ["sh010/asset_references.yaml", "sh010/parameter_values.yaml", "sh010/shots/sh010.toml",
                   "sh010/template.yaml", "sh020/asset_references.yaml", "sh020/parameter_values.yaml",
                   "sh020/shots/sh020.toml", "sh020/template.yaml"]
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
    proc = _openjd_run(bundle, cwd=tmp_path)
    assert "Frames(STRING) = 1006-1010" in proc.stdout  # the second segment ran as its own task
    assert "openjd_env: VOID_RUN_SERVER=tcp://127.0.0.1:" in proc.stdout  # on the worker's own server
    # the farm monitor's progress: OpenJD reads "openjd_progress: N" lines, rising to 100 per task
    shown = [float(v) for v in re.findall(r"openjd_progress: ([0-9.]+)", proc.stdout)]
    assert shown and max(shown) == 100.0
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


# -- limits of the specification ----------------------------------------------------------------

def test_a_long_description_is_trimmed_to_the_specification(tmp_path: Path) -> None:
    shots = [_shot(f"shot_with_a_rather_long_name_{i:04d}", "1-2", tmp_path / "o") for i in range(120)]
    farm_shots = plan_shots(shots, FarmOptions(version="v001"))
    template = build_template(farm_shots, FarmOptions(version="v001"), "void")
    assert len(template["description"]) <= 2048
    assert template["description"].startswith("VOID object removal, 120 shots: shot_with_a_rather_long_name_0000")
    assert "more (void-nuke)." in template["description"]
    validate_template(template, str(tmp_path))


def test_more_than_1024_render_tasks_split_into_jobs_or_are_refused(tmp_path: Path) -> None:
    shots = [_shot(f"s{i}", "1-400", tmp_path / "o") for i in range(6)]  # 200 two-frame tasks each
    written = submit_shots(shots, "openjd", str(tmp_path / "jobs"), version="v001", segment_frames=2)
    templates = sorted(p for p in written if p.endswith("template.yaml"))
    assert [str(Path(p).relative_to(tmp_path / "jobs")) for p in templates] == [
        "part-01/template.yaml", "part-02/template.yaml"]
    first = yaml.safe_load(Path(templates[0]).read_text())
    assert first["name"] == "void-part-01"
    assert len(_tasks(first, "Render", tmp_path / "jobs" / "part-01")) == 1000
    assert _tasks(yaml.safe_load(Path(templates[1]).read_text()), "Prepare", tmp_path / "jobs" / "part-02") == [
        {"Shot": "s5", "Version": "v001"}]
    with pytest.raises(FarmError, match="s0 needs 1050 render tasks, more than the 1024 values"):
        submit_shots([_shot("s0", "1-2100", tmp_path / "o")], "openjd", str(tmp_path / "jobs2"), version="v001",
                     segment_frames=2)


def test_suspended_jobs_and_engine_settings_reach_the_bundle(tmp_path: Path) -> None:
    farm_shots = plan_shots([_shot("a", "1-4", tmp_path, engine="void")], FarmOptions(version="v001"))
    options = FarmOptions(version="v001", suspended=True, model_dir="/opt/void/model", memory_mode="fp8",
                          cache_dir="/shows/cache")
    template = build_template(farm_shots, options, "void")
    params = {p["name"]: p for p in template["parameterDefinitions"]}
    assert (params["ModelDir"]["type"], params["CacheDir"]["type"]) == ("PATH", "PATH")
    assert template["jobEnvironments"][0]["variables"] == {"VOID_CACHE_DIR": "{{Param.CacheDir}}"}
    enter = _step(template, "Render")["stepEnvironments"][0]["script"]["actions"]["onEnter"]["args"]
    assert enter[-4:] == ["--model-dir", "{{Param.ModelDir}}", "--memory-mode", "fp8"]
    in_process = build_template(farm_shots, FarmOptions(version="v001", worker_server=False, memory_mode="fp8"),
                                "void")
    render = _step(in_process, "Render")
    assert "stepEnvironments" not in render
    assert render["script"]["actions"]["onRun"]["args"][-4:] == ["--model-dir", "{{Param.ModelDir}}",
                                                                 "--memory-mode", "fp8"]
    validate_template(template, str(tmp_path))
    validate_template(in_process, str(tmp_path))
    values = {v["name"]: v["value"] for v in parameter_values(options)["parameterValues"]}
    assert (values["ModelDir"], values["CacheDir"]) == ("/opt/void/model", "/shows/cache")
    assert values["deadline:targetTaskRunStatus"] == "SUSPENDED"
    deadline = pytest.importorskip("deadline.client.job_bundle.submission")
    app, _ = deadline.split_parameter_args([dict(v, type="STRING") for v in parameter_values(options)["parameterValues"]
                                            if v["name"].startswith("deadline:")], str(tmp_path))
    assert app == {"priority": 50, "targetTaskRunStatus": "SUSPENDED"}


# -- Deadline Cloud job attachments ---------------------------------------------------------------

def test_deadline_bundle_processing_sees_every_input_and_output(tiny_shots: Path, tmp_path: Path) -> None:
    """The deadline client's own bundle reading (as ``deadline bundle submit`` does it) finds every plate
    and matte frame, the OCIO config and its LUT folder, the shot files, and the version folders."""
    loader = pytest.importorskip("deadline.client.job_bundle.loader")
    from deadline.client.job_bundle.parameters import apply_job_parameters, read_job_bundle_parameters
    from deadline.client.job_bundle.submission import AssetReferences

    (tmp_path / "ocio" / "luts").mkdir(parents=True)
    (tmp_path / "ocio" / "luts" / "show.spi1d").write_text("Version 1\nFrom 0.0 1.0\nLength 2\nComponents 1\n"
                                                           "{\n0.0\n1.0\n}\n")
    (tmp_path / "ocio" / "config.ocio").write_text(
        "ocio_profile_version: 2\nsearch_path: luts\nroles:\n  default: raw\n  scene_linear: raw\n"
        "file_rules:\n  - !<Rule> {name: Default, colorspace: raw}\ndisplays:\n  sRGB:\n"
        "    - !<View> {name: Raw, colorspace: raw}\ncolorspaces:\n  - !<ColorSpace>\n    name: raw\n"
        "    isdata: true\n")
    text = tiny_shots.read_text().replace("[defaults]\n", "[defaults]\nocio_config = 'ocio/config.ocio'\n")
    tiny_shots.write_text(text)
    bundle = tmp_path / "bundle"
    assert main(["farm", "openjd", str(tiny_shots), "-o", str(bundle)]) == 0

    params = read_job_bundle_parameters(str(bundle))
    refs = AssetReferences.from_dict(loader.read_yaml_or_json_object(str(bundle), "asset_references", False))
    apply_job_parameters([], str(bundle), params, refs)
    frames = {str(tmp_path / "plates" / f"{name}{kind}.{f}.exr") for name in ("sh010", "sh020")
              for kind in ("", "_remove") for f in range(1001, 1011)}
    assert frames | {str(tmp_path / "ocio" / "config.ocio")} == refs.input_filenames
    try:  # with OCIO the folders the config searches; without it (a bare Nuke Python), the config's folder
        import PyOpenColorIO  # noqa: F401
        luts = tmp_path / "ocio" / "luts"
    except ImportError:
        luts = tmp_path / "ocio"
    assert refs.input_directories == {str(bundle / "shots"), str(luts)}
    assert refs.output_directories == {str(tmp_path / "renders" / "v001"), str(tmp_path / "renders" / "v002")}
    dry = tmp_path / "dry"
    assert main(["farm", "openjd", str(tiny_shots), "-o", str(dry), "--dry-run"]) == 0
    refs = AssetReferences.from_dict(loader.read_yaml_or_json_object(str(dry), "asset_references", False))
    assert refs.output_directories == {str(tmp_path / "renders")}  # its Prepare claims a version there


@pytest.mark.server
@pytest.mark.skipif(OPENJD is None or VOID_NUKE is None, reason="openjd-cli or the void-nuke command is missing")
def test_openjd_run_with_rules_that_relocate_the_plates(tmp_path: Path) -> None:
    """The shot files keep the submitting machine's paths; the session's rules file maps them."""
    studio = tmp_path / "studio"
    write_tiny_shot(studio / "plates", "sh010", 1001, 1004)
    (studio / "shots.toml").write_text(shot_list_toml(["sh010"], "1001-1004"))
    bundle = tmp_path / "bundle"
    assert main(["farm", "openjd", str(studio / "shots.toml"), "-o", str(bundle), "--no-gpu", "--dry-run"]) == 0
    assert "studio" in (bundle / "shots" / "sh010.toml").read_text()
    farm = tmp_path / "farm-mount"
    studio.rename(farm)  # the workers see the storage somewhere else
    rules = {"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": str(studio), "destination_path": str(farm)}]}
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    _openjd_run(bundle, "--path-mapping-rules", f"file://{tmp_path / 'rules.json'}", cwd=tmp_path)
    delivered = sorted(p.name for p in (farm / "renders" / "v001").glob("sh010.*.exr"))
    assert delivered == [f"sh010.{f}.exr" for f in range(1001, 1005)]
    assert (farm / "renders" / "v001" / "sh010.publish.json").is_file()
    assert not studio.exists()


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.skipif(OPENJD is None or VOID_NUKE is None, reason="openjd-cli or the void-nuke command is missing")
def test_void_shot_through_openjd_run_loads_the_model_once(tmp_path: Path) -> None:
    """The VOID engine on a farm node: a tiny random-weight model in the real layout, made available by the
    documented queue environment (void-nuke on the PATH, VOID_MODEL_DIR); three render tasks share the step's
    void-server, which creates the engine once."""
    torch_testing = pytest.importorskip("void_server.engines.void.testing")
    model_dir, _, _ = torch_testing.make_tiny_void_model(str(tmp_path / "weights"))  # checkpoints beside it
    write_tiny_shot(tmp_path / "plates", "sh010", 1001, 1009)
    shots = shot_list_toml(["sh010"], "1001-1009").replace(
        'engine = { name = "classic" }',
        f'engine = {{ name = "void", steps = 2, options = {{ resolution = "{torch_testing.TINY_RESOLUTION}" }} }}')
    (tmp_path / "shots.toml").write_text(shots)
    bundle = tmp_path / "bundle"
    assert main(["farm", "openjd", str(tmp_path / "shots.toml"), "-o", str(bundle), "--no-gpu",
                 "--tasks-per-shot", "segments", "--segment-frames", "4"]) == 0
    venv_bin = os.path.dirname(VOID_NUKE)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    proc = subprocess.run([OPENJD, "run", str(bundle / "template.yaml"),
                           "--environment", str(REPO / "docs" / "examples" / "void-queue-environment.yaml"),
                           "-p", f"VoidNukeEnv={os.path.dirname(venv_bin)}", "-p", f"VoidModelDir={model_dir}"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=dict(os.environ, PATH=path, OMP_NUM_THREADS="1"))  # toy convolutions: one thread
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.stdout.count("Frames(STRING) = ") == 3
    assert "engines loaded: void 1" in proc.stdout
    version = tmp_path / "renders" / "v001"
    assert sorted(p.name for p in version.glob("sh010.*.exr")) == [f"sh010.{f}.exr" for f in range(1001, 1010)]
    assert read_image(str(version / "sh010.1005.exr")).spec.attributes["void:engine"] == "void"
    assert (version / "sh010.publish.json").is_file()


@pytest.mark.skipif(OPENJD is None, reason="openjd-cli is not installed")
def test_the_documented_queue_environment_is_valid() -> None:
    check = subprocess.run([OPENJD, "check", str(REPO / "docs" / "examples" / "void-queue-environment.yaml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
