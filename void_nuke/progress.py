"""Progress events: what stage a job is in, how far along, and when it will finish."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

@dataclass(frozen=True)
class Progress:
    job_id: str
    stage: str
    frame: Optional[int] = None
    done: int = 0
    total: int = 0
    fraction: float = 0.0
    """Overall fraction of the job in [0, 1]."""
    eta_s: Optional[float] = None
    message: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Progress":
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in fields})


class EtaClock:
    """Estimates time left from the fraction done since ``start``."""

    def __init__(self, start_fraction: float = 0.0) -> None:
        self.t0 = time.monotonic()
        self.f0 = start_fraction

    def eta(self, fraction: float) -> Optional[float]:
        done = fraction - self.f0
        if done <= 1e-6:
            return None
        elapsed = time.monotonic() - self.t0
        return max(0.0, elapsed * (1.0 - fraction) / done)
