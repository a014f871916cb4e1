"""OpenCue jobs, built with opencue-pyoutline and written as job-spec XML.

Each shot gets three layers (prepare → render → publish, layer-on-layer
dependencies). Render frames are chunked by the shot's segment size and the
command receives ``#FRAME_START#-#FRAME_END#``. The XML is serialised without
a Cuebot and without pycuerun wrappers (the commands run as written); launch
it with ``opencue.api.launchSpec(open(path).read())``.

pyoutline writes a session folder as a side effect of serialising; it is kept
in a temporary folder here and removed, so nothing lands in ``~/.opencue``.
"""
from __future__ import annotations

import os
import shlex
import tempfile
from contextlib import contextmanager
from typing import Iterator, List, Sequence

from ..atomic import atomic_write_bytes
from ..errors import VoidError
from .plan import FarmError, FarmOptions, FarmShot, write_shot_files

SHOTS_DIR = "shots"


def _outline():
    try:
        import outline
        import outline.cuerun
        import outline.depend
        import outline.modules.shell
    except ImportError:
        raise VoidError("OpenCue jobs need opencue-pyoutline: pip install 'void-nuke[farm]'") from None
    return outline


@contextmanager
def _session_dir() -> Iterator[None]:
    """Point pyoutline's session folder at a temporary folder for the duration."""
    ol = _outline()
    previous = ol.config.get("outline", "session_dir")
    with tempfile.TemporaryDirectory(prefix="void-outline-") as tmp:
        ol.config.set("outline", "session_dir", tmp)
        try:
            yield
        finally:
            ol.config.set("outline", "session_dir", previous)


def _command(options: FarmOptions, args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in [options.executable, *args])


def add_shot_layers(job, fs: FarmShot, shot_file: str, options: FarmOptions) -> None:
    """Add the shot's prepare, render and publish layers to outline ``job``."""
    ol = _outline()
    Shell = ol.modules.shell.Shell
    prepare_args = ["farm", "prepare", "--shot", shot_file, "--version", fs.version]
    if options.quadmask_preview:
        prepare_args.append("--preview")
    single = str(fs.shot.frames.first)
    prepare = Shell(f"{fs.name}_prepare", command=_command(options, prepare_args), range=single, chunk=1,
                    timeout=options.timeouts.prepare)
    render_args = ["run", "--shot", shot_file, "--frames", "#FRAME_START#-#FRAME_END#",
                   "--job-id", f"{fs.job_id_prefix}-#FRAME_START#", "--version", fs.version]
    gpu = {"gpus": 1, "gpu_memory": f"{options.render_gpu_memory_gb}g", "tags": ["gpu"]} if options.gpu else {}
    render = Shell(f"{fs.name}_render", command=_command(options, render_args), range=str(fs.shot.frames),
                   chunk=fs.chunk_size, timeout=options.timeouts.render, **gpu)
    publish = Shell(f"{fs.name}_publish",
                    command=_command(options, ["farm", "publish", "--shot", shot_file, "--version", fs.version]),
                    range=single, chunk=1, timeout=options.timeouts.publish)
    render.depend_on(prepare, ol.depend.DependType.LayerOnLayer)
    publish.depend_on(render, ol.depend.DependType.LayerOnLayer)
    for layer in (prepare, render, publish):
        job.add_layer(layer)


def job_xml(farm_shots: Sequence[FarmShot], shot_files: Sequence[str], options: FarmOptions, name: str) -> str:
    """The OpenCue job spec for ``farm_shots`` as XML text."""
    ol = _outline()
    user = options.user or None
    kwargs = {"show": options.show, "shot": farm_shots[0].name if len(farm_shots) == 1 else "batch"}
    if user:
        kwargs["user"] = user
    job = ol.Outline(name, **kwargs)
    for fs, shot_file in zip(farm_shots, shot_files):
        add_shot_layers(job, fs, shot_file, options)
    with _session_dir():
        launcher = ol.cuerun.OutlineLauncher(job, pause=False, nomail=True, priority=options.priority)
        return launcher.serialize(use_pycuerun=False)


def write_opencue(farm_shots: Sequence[FarmShot], options: FarmOptions, out_dir: str) -> List[str]:
    """One job spec for the batch (``<name>.xml``) or one per shot (``<name>-<shot>.xml``)."""
    local = write_shot_files(farm_shots, os.path.join(out_dir, SHOTS_DIR))
    written = list(local.values())
    farm_files = {n: options.path_map.map(os.path.abspath(p), strict=True) for n, p in local.items()}
    groups = [[fs] for fs in farm_shots] if options.per_shot else [list(farm_shots)]
    for group in groups:
        name = f"{options.name}-{group[0].name}" if options.per_shot else options.name
        xml = job_xml(group, [farm_files[fs.name] for fs in group], options, name)
        path = os.path.join(out_dir, f"{name}.xml")
        try:
            atomic_write_bytes(path, xml.encode("utf-8"))
        except FileExistsError:
            raise FarmError(f"{path} already exists; write the job into an empty folder") from None
        written.append(path)
    return written
