"""Server settings: where data lives, how to bind, which models to load."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from void_nuke.engine_settings import MEMORY_MODES  # noqa: F401  (the engine imports it from here)

DEFAULT_BIND = "tcp://127.0.0.1:5557"


@dataclass
class ServerSettings:
    data_dir: str
    bind: str = DEFAULT_BIND
    insecure: bool = False
    """Allow binding a non-loopback address without CURVE keys."""
    curve_dir: Optional[str] = None
    """Folder with the server's CURVE key pair and the allowed clients' public keys."""
    result_ttl_hours: float = 72.0
    """Finished jobs (and their results) are kept this long, then purged."""
    credits: int = 4
    """Frames in flight per direction per client (credit-based flow control)."""
    heartbeat_s: float = 2.0
    receive_timeout_hours: float = 12.0
    """A job whose upload stalls this long fails (``upload_timeout``) and its uploaded frames are deleted."""
    allow_roots: List[str] = field(default_factory=list)
    """Folders paths-mode jobs may read and write, besides path-mapping targets and the data folder."""
    worker_channel: str = "auto"
    """How the server talks to its worker: ``ipc`` (a socket in a 0700 folder), ``curve`` (loopback TCP
    with keys made at start) or ``auto`` (ipc where the platform has it)."""
    # VOID engine
    model_dir: Optional[str] = None
    """Base folder laid out like CogVideoX-Fun-V1.5-5b-InP."""
    pass1: Optional[str] = None
    pass2: Optional[str] = None
    memory_mode: str = "full"
    device: str = "auto"
    raft_checkpoint: Optional[str] = None
    """Local torchvision RAFT-large weights for Pass 2's warped noise."""
    # SAM2
    sam2_checkpoint: Optional[str] = None
    sam2_config: str = "configs/sam2.1/sam2.1_hiera_l.yaml"
    sam2_image_size: int = 1024
    # colour and paths
    ocio_config: str = "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4"
    path_map: List[Tuple[str, str]] = field(default_factory=list)
    """(client prefix, server prefix) rules for shared-storage paths."""

    def engine_settings(self) -> Dict[str, Any]:
        """The subset engines read (plain data, passed to the worker process)."""
        return asdict(self)
