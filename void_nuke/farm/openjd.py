"""Open Job Description job bundles (what AWS Deadline Cloud and ``openjd run`` take).

The template is package data (``templates/void_job.yaml``), changed here: task
lists per shot, names, a timeout on every action, and a GPU host requirement on
the render step. A bundle folder holds ``template.yaml``, ``parameter_values.yaml``
and ``shots/<shot>.toml``; the template's ``ShotsDir`` parameter defaults to the
relative ``shots`` (OpenJD joins relative PATH defaults to the template's folder).
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence

import yaml

from ..atomic import atomic_write_bytes
from .plan import FarmError, FarmOptions, FarmShot, write_shot_files

log = logging.getLogger(__name__)

TEMPLATE_RESOURCE = "void_job.yaml"
TEMPLATE_FILE = "template.yaml"
PARAMETERS_FILE = "parameter_values.yaml"
SHOTS_DIR = "shots"
GPU_REQUIREMENT = {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}


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


def build_template(farm_shots: Sequence[FarmShot], options: FarmOptions, name: str) -> Dict[str, Any]:
    """The job template for ``farm_shots`` (one job; one or many shots)."""
    template = copy.deepcopy(load_base_template())
    template["name"] = name
    names = [fs.name for fs in farm_shots]
    template["description"] = f"VOID object removal: {', '.join(names)} (void-nuke)."
    for param in template["parameterDefinitions"]:
        if param["name"] == "VoidNuke":
            param["default"] = options.executable

    per_shot = {"Shot": names, "Version": [fs.version for fs in farm_shots]}
    render: Dict[str, List[str]] = {"Shot": [], "Segment": [], "Frames": [], "Version": []}
    for fs in farm_shots:
        for seg in fs.segments:
            render["Shot"].append(fs.name)
            render["Segment"].append(seg.label)
            render["Frames"].append(str(seg.frames))
            render["Version"].append(fs.version)

    prepare = _step(template, "Prepare")
    _set_ranges(prepare, per_shot)
    if options.quadmask_preview:
        prepare["script"]["actions"]["onRun"]["args"].append("--preview")
    _set_ranges(_step(template, "Render"), render)
    _set_ranges(_step(template, "Publish"), per_shot)

    minutes = {"Prepare": options.timeouts.prepare, "Render": options.timeouts.render,
               "Publish": options.timeouts.publish}
    for step in template["steps"]:
        for action in step["script"]["actions"].values():
            action["timeout"] = minutes[step["name"]] * 60
    if options.gpu:
        _step(template, "Render")["hostRequirements"] = copy.deepcopy(GPU_REQUIREMENT)
    return template


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
    """``parameter_values.yaml`` as Deadline Cloud's ``deadline bundle submit`` reads it."""
    return {"parameterValues": [
        {"name": "VoidNuke", "value": options.executable},
        {"name": "deadline:priority", "value": options.priority},
    ]}


def _dump(data: Dict[str, Any]) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, width=1000, allow_unicode=True).encode("utf-8")


def write_bundle(farm_shots: Sequence[FarmShot], options: FarmOptions, bundle_dir: str,
                 name: str) -> List[str]:
    """Write one job bundle for ``farm_shots``; return the files written."""
    template = build_template(farm_shots, options, name)
    validate_template(template, bundle_dir)
    os.makedirs(bundle_dir, exist_ok=True)
    written = list(write_shot_files(farm_shots, os.path.join(bundle_dir, SHOTS_DIR)).values())
    for file_name, data in ((TEMPLATE_FILE, template), (PARAMETERS_FILE, parameter_values(options))):
        path = os.path.join(bundle_dir, file_name)
        try:
            atomic_write_bytes(path, _dump(data))
        except FileExistsError:
            raise FarmError(f"{path} already exists; write the job into an empty folder") from None
        written.append(path)
    return written


def write_openjd(farm_shots: Sequence[FarmShot], options: FarmOptions, out_dir: str) -> List[str]:
    """One bundle for the batch in ``out_dir``, or one per shot in ``out_dir/<shot>``."""
    if not options.per_shot:
        return write_bundle(farm_shots, options, out_dir, options.name)
    written: List[str] = []
    for fs in farm_shots:
        written += write_bundle([fs], options, os.path.join(out_dir, fs.name), f"{options.name}-{fs.name}")
    return written
