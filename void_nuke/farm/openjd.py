"""Open Job Description job bundles (what AWS Deadline Cloud and ``openjd run`` take).

The template is package data (``templates/void_job.yaml``), changed here: task
lists per shot, names, a timeout on every action, host requirements, the
engine settings and shared cache the job names, and the render step's worker
server (a step environment; ``--no-worker-server`` drops it). A bundle folder
holds ``template.yaml``, ``parameter_values.yaml``, ``asset_references.yaml``
and ``shots/<shot>.toml``; the template's ``ShotsDir`` parameter defaults to
the relative ``shots`` (OpenJD joins relative PATH defaults to the template's
folder).

Limits of the specification (checked by openjd-model): a description holds at
most 2,048 characters (trimmed here), a task parameter at most 1,024 values
(a batch whose shots need more render tasks is split into several bundles;
one shot that needs more is refused).
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Set, Tuple

import yaml

from ..atomic import atomic_write_bytes
from ..pathmap import is_foreign
from ..shot import Shot
from .plan import FarmError, FarmOptions, FarmShot, claimed_on_farm, write_shot_files

log = logging.getLogger(__name__)

TEMPLATE_RESOURCE = "void_job.yaml"
TEMPLATE_FILE = "template.yaml"
PARAMETERS_FILE = "parameter_values.yaml"
ASSET_REFERENCES_FILE = "asset_references.yaml"
SHOTS_DIR = "shots"
MAX_DESCRIPTION = 2048
"""Characters in a job description (OpenJD 2023-09 ``Description``)."""
MAX_TASK_VALUES = 1024
"""Values in one task parameter's range list (OpenJD 2023-09 §3.4)."""
OS_FAMILY_ATTRIBUTE = "attr.worker.os.family"


def load_base_template() -> Dict[str, Any]:
    """The packaged template, as plain data."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", TEMPLATE_RESOURCE)
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _step(template: Dict[str, Any], name: str) -> Dict[str, Any]:
    for step in template["steps"]:
        if step["name"] == name:
            return step
    raise FarmError(f"the packaged job template has no step {name!r}; reinstall void-nuke")


def _set_ranges(step: Dict[str, Any], values: Dict[str, List[str]]) -> None:
    for definition in step["parameterSpace"]["taskParameterDefinitions"]:
        definition["range"] = list(values[definition["name"]])


def describe(names: Sequence[str]) -> str:
    """The job description, naming as many shots as fit in the specification's 2,048 characters."""
    text = f"VOID object removal: {', '.join(names)} (void-nuke)."
    if len(text) <= MAX_DESCRIPTION:
        return text
    shown: List[str] = []
    for name in names:
        rest = len(names) - len(shown) - 1
        candidate = f"VOID object removal, {len(names)} shots: {', '.join(shown + [name])} and {rest} more (void-nuke)."
        if len(candidate) > MAX_DESCRIPTION:
            break
        shown.append(name)
    return f"VOID object removal, {len(names)} shots: {', '.join(shown)} and {len(names) - len(shown)} more (void-nuke)."


def host_requirements(options: FarmOptions, render: bool) -> Dict[str, Any]:
    """What a worker must have: the OS family, and for render tasks a GPU with the memory mode's memory."""
    requirements: Dict[str, Any] = {}
    if options.os_family != "any":
        requirements["attributes"] = [{"name": OS_FAMILY_ATTRIBUTE, "anyOf": [options.os_family]}]
    if render and options.gpu:
        requirements["amounts"] = [{"name": "amount.worker.gpu", "min": 1},
                                   {"name": "amount.worker.gpu.memory", "min": options.render_gpu_memory_gb * 1024}]
    return requirements


def _engine_flags(options: FarmOptions) -> List[str]:
    return ["--memory-mode", options.memory_mode] if options.memory_mode else []


def _add_cache_dir(template: Dict[str, Any], options: FarmOptions) -> None:
    """``CacheDir`` (a PATH, so the session's rules map it) exported as ``VOID_CACHE_DIR`` to every task.

    Its value, like ``ModelDir``'s, is in ``parameter_values.yaml``: OpenJD allows only relative
    defaults for PATH parameters.
    """
    template["parameterDefinitions"].append({
        "name": "CacheDir", "type": "PATH", "objectType": "DIRECTORY", "default": "",
        "description": "Shared folder for resumable job state: a retried task continues another's work."})
    template.setdefault("jobEnvironments", []).append({
        "name": "VoidCache", "description": "Where render tasks keep resumable state (shared storage).",
        "variables": {"VOID_CACHE_DIR": "{{Param.CacheDir}}"}})


def build_template(farm_shots: Sequence[FarmShot], options: FarmOptions, name: str) -> Dict[str, Any]:
    """The job template for ``farm_shots`` (one job; one or many shots)."""
    template = copy.deepcopy(load_base_template())
    template["name"] = name
    names = [fs.name for fs in farm_shots]
    template["description"] = describe(names)
    for param in template["parameterDefinitions"]:
        if param["name"] == "VoidNuke":
            param["default"] = options.executable
    if options.cache_dir:
        _add_cache_dir(template, options)

    per_shot = {"Shot": names, "Version": [fs.version for fs in farm_shots]}
    render: Dict[str, List[str]] = {"Shot": [], "Segment": [], "Frames": [], "Version": []}
    for fs in farm_shots:
        for seg in fs.segments:
            render["Shot"].append(fs.name)
            render["Segment"].append(seg.label)
            render["Frames"].append(str(seg.frames))
            render["Version"].append(fs.version)
    check_task_counts(farm_shots)

    prepare = _step(template, "Prepare")
    _set_ranges(prepare, per_shot)
    if options.quadmask_preview:
        prepare["script"]["actions"]["onRun"]["args"].append("--preview")
    render_step = _step(template, "Render")
    _set_ranges(render_step, render)
    _set_ranges(_step(template, "Publish"), per_shot)
    if options.worker_server:
        render_step["stepEnvironments"][0]["script"]["actions"]["onEnter"]["args"] += _engine_flags(options)
    else:
        del render_step["stepEnvironments"]
        render_step["script"]["actions"]["onRun"]["args"] += ["--model-dir", "{{Param.ModelDir}}",
                                                              *_engine_flags(options)]

    minutes = {"Prepare": options.timeouts.prepare, "Render": options.timeouts.render,
               "Publish": options.timeouts.publish}
    for step in template["steps"]:
        for action in step["script"]["actions"].values():
            action["timeout"] = minutes[step["name"]] * 60
        requirements = host_requirements(options, render=step is render_step)
        if requirements:
            step["hostRequirements"] = requirements
    return template


def check_task_counts(farm_shots: Sequence[FarmShot]) -> None:
    """Refuse a job whose task parameters would hold more values than the specification allows."""
    for fs in farm_shots:
        if len(fs.segments) > MAX_TASK_VALUES:
            raise FarmError(f"{fs.name} needs {len(fs.segments)} render tasks, more than the {MAX_TASK_VALUES} "
                            "values an Open Job Description task parameter may hold; give --segment-frames a "
                            "larger value or use --tasks-per-shot 1")
    tasks = sum(len(fs.segments) for fs in farm_shots)
    if tasks > MAX_TASK_VALUES or len(farm_shots) > MAX_TASK_VALUES:
        raise FarmError(f"{len(farm_shots)} shots with {tasks} render tasks are more than the {MAX_TASK_VALUES} "
                        "task values one Open Job Description job may list; write them as several jobs")


def split_for_limits(farm_shots: Sequence[FarmShot]) -> List[List[FarmShot]]:
    """Consecutive groups of shots, each within the specification's task limits (one group when it fits)."""
    groups: List[List[FarmShot]] = [[]]
    tasks = 0
    for fs in farm_shots:
        check_task_counts([fs])
        if groups[-1] and (tasks + len(fs.segments) > MAX_TASK_VALUES or len(groups[-1]) >= MAX_TASK_VALUES):
            groups.append([])
            tasks = 0
        groups[-1].append(fs)
        tasks += len(fs.segments)
    return groups


def validate_template(template: Dict[str, Any], bundle_dir: str) -> None:
    """Decode the template and create its job with openjd-model; raise ``FarmError`` if invalid.

    Skipped (with a log line) where openjd-model is not installed, e.g. in Nuke's
    Python without the ``[farm]`` extra.
    """
    try:
        from openjd.model import (DecodeValidationError, create_job, decode_job_template,
                                  preprocess_job_parameters)
    except ImportError:
        log.info("openjd-model is not installed; the job template was not validated")
        return
    try:
        decoded = decode_job_template(template=template, supported_extensions=[])
        params = preprocess_job_parameters(job_template=decoded, job_parameter_values={},
                                           job_template_dir=Path(bundle_dir).absolute(),
                                           current_working_dir=Path.cwd().absolute())
        create_job(job_template=decoded, job_parameter_values=params)
    except (DecodeValidationError, ValueError, RuntimeError) as exc:
        raise FarmError(f"the generated job template is not valid Open Job Description: {exc}") from None


def parameter_values(options: FarmOptions) -> Dict[str, Any]:
    """``parameter_values.yaml`` as Deadline Cloud's ``deadline bundle submit`` reads it.

    ``openjd run`` does not read it: give the same values with ``-p ModelDir=...``.
    """
    values: List[Dict[str, Any]] = [{"name": "VoidNuke", "value": options.executable}]
    if options.model_dir:
        values.append({"name": "ModelDir", "value": options.model_dir})
    if options.cache_dir:
        values.append({"name": "CacheDir", "value": options.cache_dir})
    values.append({"name": "deadline:priority", "value": options.priority})
    if options.suspended:
        values.append({"name": "deadline:targetTaskRunStatus", "value": "SUSPENDED"})
    return {"parameterValues": values}


# -- job attachments --------------------------------------------------------------------------

def asset_references(farm_shots: Sequence[FarmShot]) -> Dict[str, Any]:
    """``asset_references.yaml``: what Deadline Cloud's job attachments upload and download.

    Inputs are every plate and matte frame the shots read and their OCIO configs (with
    the folders the configs search for LUTs); outputs are the version folders (the
    output folders when the version is claimed on the farm). Paths are the submitting
    machine's own; the shot files keep them, and each task maps them with the session's
    rules. Paths this machine cannot read (another OS's) are left to the farm's storage.
    """
    files: Set[str] = set()
    folders: Set[str] = set()
    outputs: Set[str] = set()
    for fs in farm_shots:
        shot = fs.local
        for _, seq in shot.inputs():
            files.update(seq.path(f) for f in shot.process_frames)
        config_files, config_dirs = _ocio_assets(shot)
        files.update(config_files)
        folders.update(config_dirs)
        out = shot.output.directory
        outputs.add(out if claimed_on_farm(fs.version) else os.path.join(out, fs.version))
    keep = lambda paths: sorted(p for p in paths if os.path.isabs(p) and not is_foreign(p))  # noqa: E731
    return {"assetReferences": {"inputs": {"filenames": keep(files), "directories": keep(folders)},
                                "outputs": {"directories": keep(outputs)}, "referencedPaths": []}}


def _ocio_assets(shot: Shot) -> Tuple[List[str], List[str]]:
    """A shot's OCIO config file and the folders it searches (LUTs), read with OCIO when installed."""
    config = shot.ocio_config
    if not config or "://" in config:
        return [], []
    folder = os.path.dirname(config)
    try:
        import PyOpenColorIO as OCIO
    except ImportError:
        return [config], [folder]  # without OCIO: the config's folder, which holds its LUTs by convention
    try:
        cfg = OCIO.Config.CreateFromFile(config)
    except Exception as exc:  # OCIO raises its own Exception type for unreadable configs
        raise FarmError(f"{shot.name}: cannot read the OCIO config {config}: {exc}") from None
    base = cfg.getWorkingDir() or folder
    searched = [os.path.normpath(os.path.join(base, path)) for path in cfg.getSearchPaths()]
    return [config], [p for p in searched if os.path.isdir(p)]


# -- writing ----------------------------------------------------------------------------------

def _dump(data: Dict[str, Any]) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, width=1000, allow_unicode=True).encode("utf-8")


def write_bundle(farm_shots: Sequence[FarmShot], options: FarmOptions, bundle_dir: str,
                 name: str) -> List[str]:
    """Write one job bundle for ``farm_shots``; return the files written."""
    template = build_template(farm_shots, options, name)
    validate_template(template, bundle_dir)
    os.makedirs(bundle_dir, exist_ok=True)
    written = list(write_shot_files(farm_shots, os.path.join(bundle_dir, SHOTS_DIR)).values())
    for file_name, data in ((TEMPLATE_FILE, template), (PARAMETERS_FILE, parameter_values(options)),
                            (ASSET_REFERENCES_FILE, asset_references(farm_shots))):
        path = os.path.join(bundle_dir, file_name)
        try:
            atomic_write_bytes(path, _dump(data))
        except FileExistsError:
            raise FarmError(f"{path} already exists; write the job into an empty folder") from None
        written.append(path)
    return written


def write_openjd(farm_shots: Sequence[FarmShot], options: FarmOptions, out_dir: str) -> List[str]:
    """One bundle for the batch in ``out_dir`` (``out_dir/part-NN`` when the limits split it),
    or one per shot in ``out_dir/<shot>``."""
    if options.per_shot:
        written: List[str] = []
        for fs in farm_shots:
            written += write_bundle([fs], options, os.path.join(out_dir, fs.name), f"{options.name}-{fs.name}")
        return written
    groups = split_for_limits(farm_shots)
    if len(groups) == 1:
        return write_bundle(groups[0], options, out_dir, options.name)
    log.warning("the batch needs %d Open Job Description jobs (at most %d render tasks each)",
                len(groups), MAX_TASK_VALUES)
    written = []
    for i, group in enumerate(groups, 1):
        part = f"part-{i:02d}"
        written += write_bundle(group, options, os.path.join(out_dir, part), f"{options.name}-{part}")
    return written
