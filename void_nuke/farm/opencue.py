"""OpenCue jobs, built with opencue-pyoutline and written as job-spec XML.

Each shot gets three layers (prepare → render → publish, layer-on-layer
dependencies). Render frames are chunked by the shot's segment size and the
command receives ``#FRAME_START#-#FRAME_END#``. The XML is serialised without
a Cuebot and without pycuerun wrappers (the commands run as written);
``void-nuke farm opencue-submit`` (and the ``submit.sh`` beside the XML)
launches it through pycue's ``launchSpecAndWait``, the call pyoutline's own
launcher makes, once per job file.

Names are written as Cuebot will store them (``JobSpec.conformName``: at least
three characters, lower case, ``-`` turned into ``_``), so two shots that Cuebot
would merge (``sh-010`` and ``sh_010``) or a name it would reject are reported
here, not at launch.

pyoutline writes a session folder as a side effect of serialising; it is kept
in a temporary folder here and removed, so nothing lands in ``~/.opencue``.
"""
from __future__ import annotations

import os
import re
import shlex
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

from ..atomic import atomic_write_bytes
from ..errors import ServerUnreachable, VoidError
from .plan import FarmError, FarmOptions, FarmShot, write_shot_files

SHOTS_DIR = "shots"
SUBMITTED_SUFFIX = ".submitted"
"""``<job>.xml.submitted``: the job names Cuebot returned; ``opencue-submit`` skips such files."""
CUE_OS = {"linux": "Linux", "windows": "Windows"}
"""The OS names RQD reports (Python's ``platform.system()``), which a job's ``<os>`` must match."""
_CUE_NAME = re.compile(r"^[\w.]{3,}$")


def conform_name(kind: str, name: str) -> str:
    """A name as Cuebot stores it (``JobSpec.conformName``), or ``FarmError`` where Cuebot would refuse it."""
    if len(name) < 3:
        raise FarmError(f"OpenCue needs {kind} names of at least 3 characters; {name!r} is too short: rename it")
    conformed = name.replace("-", "_").lower()
    if not _CUE_NAME.match(conformed):
        raise FarmError(f"OpenCue {kind} names hold letters, digits, '_' and '.' only; {name!r} becomes "
                        f"{conformed!r}: rename it")
    return conformed


def conform_job_name(name: str) -> str:
    """The job-name suffix Cuebot keeps (``JobSpec.conformJobName``)."""
    return conform_name("job", re.sub("_{2,}", "_", name.lower()).replace("-", "_"))


def check_cue_names(farm_shots: Sequence[FarmShot]) -> Dict[str, str]:
    """Each shot's conformed name; ``FarmError`` naming the shots Cuebot would merge into one."""
    names: Dict[str, str] = {}
    by_conformed: Dict[str, List[str]] = {}
    for fs in farm_shots:
        names[fs.name] = conform_name("layer", f"{fs.name}_render").rsplit("_render", 1)[0]
        by_conformed.setdefault(names[fs.name], []).append(fs.name)
    clashes = ["/".join(group) + f" (as {conformed})" for conformed, group in by_conformed.items() if len(group) > 1]
    if clashes:
        raise FarmError("OpenCue lowercases names and turns '-' into '_', so these shots would get the same "
                        f"layers: {'; '.join(clashes)}; rename them apart")
    return names


def _without_grpc_fork_handlers() -> None:
    """Keep gRPC (under pycue and pyoutline) from installing its fork handlers, unless set otherwise.

    With them, now and then a child that a Python 3.9 process forks (as Nuke 14 does for every
    subprocess) aborts between fork and exec, in gRPC's poller ("epoll_wait error: Bad file
    descriptor"); Python 3.10+ spawns without them. The setting is read when gRPC is first imported.
    """
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def _outline():
    _without_grpc_fork_handlers()
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


def add_shot_layers(job, fs: FarmShot, shot_file: str, options: FarmOptions, cue_name: str) -> None:
    """Add the shot's prepare, render and publish layers to outline ``job``.

    Every task maps the shot's paths with ``VOID_PATH_MAPPING_RULES`` if the host sets it
    (OpenCue has no path mapping of its own).
    """
    ol = _outline()
    Shell = ol.modules.shell.Shell
    prepare_args = ["farm", "prepare", "--shot", shot_file, "--version", fs.version]
    if options.quadmask_preview:
        prepare_args.append("--preview")
    single = str(fs.shot.frames.first)
    prepare = Shell(f"{cue_name}_prepare", command=_command(options, prepare_args), range=single, chunk=1,
                    timeout=options.timeouts.prepare)
    render_args = ["run", "--shot", shot_file, "--frames", "#FRAME_START#-#FRAME_END#",
                   "--job-id", f"{fs.job_id_prefix}-#FRAME_START#", "--version", fs.version]
    gpu = {"gpus": 1, "gpu_memory": f"{options.render_gpu_memory_gb}g", "tags": ["gpu"]} if options.gpu else {}
    render = Shell(f"{cue_name}_render", command=_command(options, render_args), range=str(fs.shot.frames),
                   chunk=fs.chunk_size, timeout=options.timeouts.render, **gpu)
    publish = Shell(f"{cue_name}_publish",
                    command=_command(options, ["farm", "publish", "--shot", shot_file, "--version", fs.version]),
                    range=single, chunk=1, timeout=options.timeouts.publish)
    render.depend_on(prepare, ol.depend.DependType.LayerOnLayer)
    publish.depend_on(render, ol.depend.DependType.LayerOnLayer)
    for layer in (prepare, render, publish):
        job.add_layer(layer)


def job_xml(farm_shots: Sequence[FarmShot], shot_files: Sequence[str], options: FarmOptions, name: str) -> str:
    """The OpenCue job spec for ``farm_shots`` as XML text, its names as Cuebot will keep them."""
    ol = _outline()
    cue_names = check_cue_names(farm_shots)
    user = options.user or None
    shot = cue_names[farm_shots[0].name] if len(farm_shots) == 1 else "batch"
    kwargs = {"show": options.show, "shot": conform_name("shot", shot)}
    if user:
        kwargs["user"] = user
    job = ol.Outline(conform_job_name(name), **kwargs)
    for key, value in sorted(options.worker_environment().items()):
        job.set_env(key, value, True)
    for fs, shot_file in zip(farm_shots, shot_files):
        add_shot_layers(job, fs, shot_file, options, cue_names[fs.name])
    flags = {"os": CUE_OS[options.os_family]} if options.os_family in CUE_OS else {}
    with _session_dir():
        launcher = ol.cuerun.OutlineLauncher(job, pause=options.suspended, nomail=True, priority=options.priority,
                                             **flags)
        return launcher.serialize(use_pycuerun=False)


def write_opencue(farm_shots: Sequence[FarmShot], options: FarmOptions, out_dir: str) -> List[str]:
    """One job spec for the batch (``<name>.xml``) or one per shot (``<name>-<shot>.xml``), and
    ``submit.sh``/``submit.bat`` that launch them."""
    cue_names = check_cue_names(farm_shots)
    if options.per_shot:  # each job's <shot> is its shot's name
        for fs in farm_shots:
            conform_name("shot", cue_names[fs.name])
    groups = [[fs] for fs in farm_shots] if options.per_shot else [list(farm_shots)]
    names = [f"{options.name}-{group[0].name}" if options.per_shot else options.name for group in groups]
    jobs: Dict[str, List[str]] = {}
    for name in names:
        jobs.setdefault(conform_job_name(name), []).append(name)
    clashes = [" / ".join(group) for group in jobs.values() if len(group) > 1]
    if clashes:
        raise FarmError(f"OpenCue would give these jobs one name: {'; '.join(clashes)}; rename the shots apart")
    local = write_shot_files(farm_shots, os.path.join(out_dir, SHOTS_DIR))
    written = list(local.values())
    farm_files = {n: options.path_map.map(os.path.abspath(p), strict=True) for n, p in local.items()}
    specs = []
    for group, name in zip(groups, names):
        xml = job_xml(group, [farm_files[fs.name] for fs in group], options, name)
        specs.append(f"{name}.xml")
        written.append(_write(os.path.join(out_dir, specs[-1]), xml.encode("utf-8")))
    quoted = " ".join(specs)
    written.append(_write(os.path.join(out_dir, "submit.sh"), (
        "#!/bin/sh\n# Launch the job specs on OpenCue (CUEBOT_HOSTS names the Cuebot), each once.\n"
        'cd "$(dirname "$0")" || exit 1\n'
        f'exec "${{VOID_NUKE:-void-nuke}}" farm opencue-submit {quoted}\n').encode("utf-8")))
    os.chmod(written[-1], 0o755)
    written.append(_write(os.path.join(out_dir, "submit.bat"), (
        "@echo off\r\nrem Launch the job specs on OpenCue (CUEBOT_HOSTS names the Cuebot), each once.\r\n"
        'cd /d "%~dp0"\r\nif "%VOID_NUKE%"=="" set VOID_NUKE=void-nuke\r\n'
        f'"%VOID_NUKE%" farm opencue-submit {quoted}\r\n').encode("utf-8")))
    return written


def _write(path: str, data: bytes) -> str:
    try:
        atomic_write_bytes(path, data)
    except FileExistsError:
        raise FarmError(f"{path} already exists; write the job into an empty folder") from None
    return path


def submit_specs(paths: Sequence[str], cuebot: Optional[str] = None) -> List[str]:
    """Launch each job spec on OpenCue once; return the job names Cuebot created.

    Uses ``opencue.api.launchSpecAndWait``, as pyoutline's launcher does. A spec launched
    before (its ``.submitted`` file exists) is skipped, so a rerun after a failure sends
    only what is missing. ``cuebot`` (host or host:port) overrides ``CUEBOT_HOSTS``.
    """
    _without_grpc_fork_handlers()
    try:
        import opencue
    except ImportError:
        raise VoidError("launching OpenCue jobs needs opencue-pycue: pip install 'void-nuke[farm]'") from None
    launched: List[str] = []
    for path in paths:
        marker = path + SUBMITTED_SUFFIX
        if os.path.exists(marker):
            print(f"{path}: already launched (delete {marker} to launch it again)")
            continue
        with open(path, encoding="utf-8") as fh:
            spec = fh.read()
        try:
            if cuebot:
                opencue.Cuebot.setHosts([cuebot])
            jobs = opencue.api.launchSpecAndWait(spec)
        except Exception as exc:  # pycue raises its own exception types, and gRPC's
            hosts = cuebot or os.environ.get("CUEBOT_HOSTS") or "the pycue config's default facility"
            raise ServerUnreachable(f"could not launch {path} on OpenCue ({hosts}): {exc}. Check that Cuebot runs "
                                    "there, and set CUEBOT_HOSTS (or --cuebot) to its host") from None
        names = [job.name() for job in jobs]
        atomic_write_bytes(marker, ("\n".join(names) + "\n").encode("utf-8"))
        launched += names
    return launched
