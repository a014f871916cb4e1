"""What a farm job does for each shot: its segments, its version folder, its paths.

Every farm writer (Open Job Description, Deadline 10, OpenCue) turns the same
``FarmShot`` list into its own files, so the three farms split shots the same
way and deliver into the same folders.

Segments. VOID is temporal: a task that sees only its own frames cannot
cross-fade with its neighbour. One task per shot lets the engine split long
shots itself (windows of at most 197 frames that overlap and cross-fade); that
is the default for the ``void`` engine. Segment tasks spread a shot over
several GPUs: the shot's frames are cut into contiguous, equal *core* ranges of
at most ``segment_frames - 16`` frames (so a later ``--context-frames`` of
half the engine's overlap on each side still fits the model's 197-frame
budget), and each task delivers exactly its core frames into the shot's one
version folder. The cost is a possible seam at each core boundary.
Segment tasks are the default for the ``classic`` engine, whose results depend
on nearby frames only.
"""
from __future__ import annotations

import math
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..engine_settings import MEMORY_MODES
from ..errors import ShotError, VoidError
from ..pathmap import PathMap, is_foreign, path_format
from ..sequences import FrameRange
from ..shot import Shot
from ..versions import claim_version

MAX_SEGMENT_FRAMES = 197
"""VOID's frame budget for one clip (the reference's ``max_video_length``)."""
SEGMENT_OVERLAP = 16
"""Frames two neighbouring engine segments share for their cross-fade."""
TASKS_PER_SHOT = ("auto", "1", "segments")
OS_FAMILIES = ("linux", "windows", "any")
GPU_MEMORY_GB = {"full": 40, "fp8": 32, "model_offload": 24, "group_offload": 16, "sequential_offload": 16}
"""GPU memory a render task asks for in each memory mode, in GB. Estimates for 197 frames at 384x672
(the reference asks for 40 GB+ in full; the bf16 models alone are about 21 GB) until the GPU benchmark
(bench/bench_void_gpu.py) measures them; ``--gpu-memory`` overrides."""
_VERSION = re.compile(r"^v\d{3,}$")
_CLAIM_ON_FARM = re.compile(r"^next-[0-9a-f]{8}$")


class FarmError(VoidError):
    """A farm job cannot be written as asked."""

    code = "farm"


def check_version(version: str) -> str:
    """A version: a folder name (``v`` and at least three digits) or ``next-<8 hex>``.

    ``next-<token>`` means "the next free version folder, claimed by this job's Prepare
    task": what ``--dry-run`` writes, since it leaves the output storage alone.
    """
    if not (_VERSION.match(version) or _CLAIM_ON_FARM.match(version)):
        raise FarmError(f"version {version!r} must look like v001 (or next-<8 hex digits>, claimed on the farm)")
    return version


def claimed_on_farm(version: str) -> bool:
    """True for ``next-<token>`` versions, whose folder the Prepare task claims."""
    return bool(_CLAIM_ON_FARM.match(version))


def version_owner(shot_name: str, version: str) -> str:
    """Who owns a version folder claimed on the farm: the shot and the job's token."""
    return f"{shot_name}-{version}"


@dataclass(frozen=True)
class Segment:
    """The frames one render task delivers."""

    first: int
    last: int

    @property
    def frames(self) -> FrameRange:
        return FrameRange(self.first, self.last)

    @property
    def label(self) -> str:
        """The segment's name in job ids: its first frame, which every farm can substitute."""
        return str(self.first)

    def __len__(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Timeouts:
    """Minutes each kind of task may run before the farm stops it."""

    prepare: int = 30
    render: int = 480
    publish: int = 15

    def __post_init__(self) -> None:
        for name in ("prepare", "render", "publish"):
            if getattr(self, name) < 1:
                raise FarmError(f"the {name} timeout must be at least one minute")


@dataclass(frozen=True)
class FarmOptions:
    """How shots become farm jobs; shared by every farm writer."""

    per_shot: bool = False
    """One job per shot (independent retries) instead of one job for the batch."""
    tasks_per_shot: str = "auto"
    """``1``, ``segments``, or ``auto`` (``1`` for the void engine, segments for classic)."""
    segment_frames: int = MAX_SEGMENT_FRAMES
    gpu: bool = True
    """Ask for a GPU worker for the render tasks (turn off to run a job on a CPU machine)."""
    version: Optional[str] = None
    """Deliver into this version folder (``v003``) instead of claiming the next free one."""
    path_map: PathMap = field(default_factory=PathMap)
    """Rules from the submitting machine's paths to the farm's."""
    executable: str = "void-nuke"
    """The void-nuke command on the farm's workers."""
    name: str = "void"
    """Name of the batch job (and prefix of per-shot job names)."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    quadmask_preview: bool = False
    """The prepare task also writes a quadmask preview (``OUT/quadmask/vNNN``)."""
    priority: int = 50
    """0-100; Deadline and OpenCue scale it to their own ranges."""
    pool: str = ""
    """Deadline pool / OpenCue show's allocation tag for CPU tasks."""
    group: str = ""
    """Deadline group for the render tasks (e.g. the GPU machines)."""
    show: str = "void"
    """OpenCue show."""
    user: str = ""
    """OpenCue user; the submitting user when empty."""
    gpu_memory_gb: Optional[int] = None
    """GPU memory a render task asks for; by default the memory mode's (``GPU_MEMORY_GB``)."""
    dry_run: bool = False
    """Write the job without touching the output storage; each Prepare task claims its version."""
    model_dir: str = ""
    """The VOID model folder as the workers see it; empty: the workers' own ``VOID_MODEL_DIR``."""
    memory_mode: str = ""
    """The workers' GPU memory mode; empty: their own ``VOID_MEMORY_MODE`` (sized for ``full``)."""
    cache_dir: str = ""
    """Shared folder for resumable job state (``VOID_CACHE_DIR`` on the workers), so a retried task
    continues where another worker stopped; empty: the workers' own."""
    os_family: str = "linux"
    """Operating system of the workers: ``linux``, ``windows`` or ``any``."""
    suspended: bool = False
    """Submit the jobs suspended (paused): nothing starts until someone resumes them."""
    cpu_group: str = ""
    """Deadline group for the prepare and publish jobs (CPU machines)."""
    worker_server: bool = True
    """OpenJD: render tasks share one void-server per worker (one model load) instead of each
    loading the engine in its own process."""

    def __post_init__(self) -> None:
        if self.tasks_per_shot not in TASKS_PER_SHOT:
            raise FarmError(f"tasks per shot must be one of {', '.join(TASKS_PER_SHOT)}, "
                            f"got {self.tasks_per_shot!r}")
        if not 2 <= self.segment_frames <= MAX_SEGMENT_FRAMES:
            raise FarmError(f"segment frames must be 2-{MAX_SEGMENT_FRAMES}, got {self.segment_frames}")
        if self.version is not None:
            check_version(self.version)
        if not 0 <= self.priority <= 100:
            raise FarmError(f"priority must be 0-100, got {self.priority}")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", self.name):
            raise FarmError(f"job name {self.name!r} may hold letters, digits, '.', '_' and '-' only")
        if self.memory_mode and self.memory_mode not in MEMORY_MODES:
            raise FarmError(f"memory mode {self.memory_mode!r} is not one of {', '.join(MEMORY_MODES)}")
        if self.os_family not in OS_FAMILIES:
            raise FarmError(f"worker OS {self.os_family!r} must be one of {', '.join(OS_FAMILIES)}")
        if self.gpu_memory_gb is not None and self.gpu_memory_gb < 1:
            raise FarmError(f"GPU memory must be at least 1 GB, got {self.gpu_memory_gb}")

    @property
    def render_gpu_memory_gb(self) -> int:
        """GPU memory a render task needs: given, or the memory mode's figure."""
        return self.gpu_memory_gb or GPU_MEMORY_GB[self.memory_mode or "full"]

    def worker_environment(self) -> Dict[str, str]:
        """Environment variables every task gets (only the settings the job names)."""
        env = {"VOID_MODEL_DIR": self.model_dir, "VOID_MEMORY_MODE": self.memory_mode,
               "VOID_CACHE_DIR": self.cache_dir}
        return {k: v for k, v in env.items() if v}


@dataclass(frozen=True)
class FarmShot:
    """One shot as the farm runs it."""

    shot: Shot
    """The shot with the farm's paths, its handles folded into its frame range."""
    version: str
    segments: Tuple[Segment, ...]
    submitted: Optional[Shot] = None
    """The shot with the submitting machine's own paths (what job attachments upload)."""

    @property
    def local(self) -> Shot:
        """The shot as the submitting machine sees it, handles folded like ``shot``'s."""
        return self.submitted or self.shot

    @property
    def name(self) -> str:
        return self.shot.name

    @property
    def shot_file(self) -> str:
        """File name of the shot inside the job's ``shots`` folder."""
        return f"{self.name}.toml"

    @property
    def chunk_size(self) -> int:
        """Frames per render task; all tasks but the last have exactly this many."""
        return len(self.segments[0])

    @property
    def job_id_prefix(self) -> str:
        """Render task job ids are ``<shot>-<version>-<segment>``: unique per delivery folder,
        so a new submission never resumes an older one's finished work."""
        return f"{self.name}-{self.version}"


def result_pattern(shot: Shot) -> str:
    """The file name of the shot's result frames in Nuke's notation: ``sh010.####.exr``."""
    return f"{shot.output_name}.{'#' * shot.result_padding}.exr"


def segment_overlap(segment_frames: int) -> int:
    """Context kept free around a core: the engine's overlap, or a quarter of a short segment."""
    return min(SEGMENT_OVERLAP, segment_frames // 4)


def plan_segments(frames: FrameRange, segment_frames: int = MAX_SEGMENT_FRAMES) -> List[Segment]:
    """Cut ``frames`` into equal contiguous core ranges (the last may be shorter).

    A range that fits one segment stays whole; a longer one is cut into the
    fewest cores of at most ``segment_frames - segment_overlap(segment_frames)``
    frames, sized as evenly as uniform chunks allow (every farm expresses these
    as a chunk size).
    """
    n = len(frames)
    if n <= segment_frames:
        return [Segment(frames.first, frames.last)]
    count = math.ceil(n / (segment_frames - segment_overlap(segment_frames)))
    size = math.ceil(n / count)
    return [Segment(first, min(first + size - 1, frames.last))
            for first in range(frames.first, frames.last + 1, size)]


def tasks_mode(shot: Shot, options: FarmOptions) -> str:
    if options.tasks_per_shot != "auto":
        return options.tasks_per_shot
    return "1" if shot.engine.name == "void" else "segments"


def farm_shot_view(shot: Shot, path_map: PathMap, os_family: str = "linux") -> Shot:
    """The shot as a farm task reads it: mapped paths, handles folded into the range.

    Without rules the paths stay as written: the farm maps them when a task runs
    (OpenJD's session rules, Deadline's Mapped Paths, ``VOID_PATH_MAPPING_RULES``).
    With rules, a path they leave in the wrong format for the workers' OS is refused
    now rather than on the farm.
    """
    if path_map:
        shot = shot.with_paths(lambda p: _mapped_for(p, path_map, os_family))
    return shot.with_changes(frames=shot.process_frames, handles=(0, 0))


def _mapped_for(path: str, path_map: PathMap, os_family: str) -> str:
    mapped = path_map.map(path)
    wanted = {"linux": "POSIX", "windows": "WINDOWS"}.get(os_family)
    if wanted and mapped and "://" not in mapped and path_format(mapped) != wanted:
        raise FarmError(f"no path-mapping rule covers {path!r}, and {os_family} workers cannot open it; add "
                        "a rule mapping its drive, share or folder to the farm's mount (--path-map rules.toml)")
    return mapped


def plan_shots(shots: Sequence[Shot], options: FarmOptions) -> List[FarmShot]:
    """Plan each shot's segments and version folder.

    Without a fixed ``options.version``, the next free version folder of each
    shot's output directory is claimed now (as the submitting machine sees it),
    so two submissions never deliver into the same folder. With ``dry_run`` no
    folder is touched: each shot's Prepare task claims the next free one.
    """
    if not shots:
        raise FarmError("no shots to submit")
    check_shot_names(shots)
    names = [s.name for s in shots]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FarmError(f"shot names must be unique in one submission; repeated: {', '.join(dupes)}")
    token = uuid.uuid4().hex[:8]
    planned = []
    for shot in shots:
        view = farm_shot_view(shot, options.path_map, options.os_family)
        if tasks_mode(shot, options) == "1":
            segments = [Segment(view.frames.first, view.frames.last)]
        else:
            segments = plan_segments(view.frames, options.segment_frames)
        local = shot.with_changes(frames=shot.process_frames, handles=(0, 0))
        planned.append(FarmShot(view, _version_for(shot, view, options, token), tuple(segments), local))
    return planned


def _version_for(shot: Shot, view: Shot, options: FarmOptions, token: str) -> str:
    if options.version:
        return options.version
    if options.dry_run:
        return f"next-{token}"
    # Claim where this machine sees the output: as written, or as the rules map it. A path for
    # another OS would be created literally (a folder named 'Z:\shows\...'), so it is refused.
    out = next((d for d in (shot.output.directory, view.output.directory) if not is_foreign(d)), None)
    if out is None:
        raise FarmError(f"{shot.name}: cannot claim a version folder in {shot.output.directory}, a path for "
                        "another operating system; write the job with --dry-run (its Prepare task claims the "
                        "version on the farm) or name one with --version vNNN")
    try:
        return os.path.basename(claim_version(out, f"{shot.name}-farm-{token}"))
    except OSError as exc:
        raise FarmError(f"{shot.name}: cannot claim a version folder in {out} ({exc.strerror or exc}); "
                        "write the job with --dry-run or --version vNNN to let the farm create it") from None


def write_shot_files(farm_shots: Sequence[FarmShot], shots_dir: str) -> Dict[str, str]:
    """Write each farm shot as ``shots_dir/<name>.toml``; refuse to replace a file."""
    from ..atomic import atomic_write_bytes
    import tomli_w
    os.makedirs(shots_dir, exist_ok=True)
    written = {}
    for fs in farm_shots:
        path = os.path.join(shots_dir, fs.shot_file)
        try:
            atomic_write_bytes(path, tomli_w.dumps(fs.shot.to_dict()).encode("utf-8"))
        except FileExistsError:
            raise FarmError(f"{path} already exists; write the job into an empty folder") from None
        written[fs.name] = path
    return written


def check_shot_names(shots: Sequence[Shot]) -> None:
    """Shot names become file, task and job names: keep them to safe characters."""
    for shot in shots:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", shot.name):
            raise ShotError("name", f"shot name {shot.name!r} cannot name farm tasks; use up to 40 "
                                    "letters, digits, '.', '_' or '-'")
