"""Rate-limited logging: a flood of hostile messages must not become a flood of log lines.

Each kind of event (a key such as ``"malformed"``) may log ``burst`` lines per
``window`` seconds; the rest are counted and summed up in one line when the
window ends, so a log stays readable and bounded in size whatever a client sends.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Tuple


class LogLimiter:
    def __init__(self, logger: logging.Logger, burst: int = 10, window: float = 60.0) -> None:
        self.logger = logger
        self.burst = burst
        self.window = window
        self._state: Dict[str, Tuple[float, int, int]] = {}
        """key → (window start, lines logged, lines suppressed)."""

    def log(self, level: int, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        start, logged, dropped = self._state.get(key, (now, 0, 0))
        if now - start >= self.window:
            if dropped:
                self.logger.log(level, "%d more %r events in the last %.0f s were not logged", dropped, key,
                                now - start)
            start, logged, dropped = now, 0, 0
        if logged < self.burst:
            self.logger.log(level, message, *args)
            logged += 1
        else:
            dropped += 1
        self._state[key] = (start, logged, dropped)

    def info(self, key: str, message: str, *args: Any) -> None:
        self.log(logging.INFO, key, message, *args)

    def warning(self, key: str, message: str, *args: Any) -> None:
        self.log(logging.WARNING, key, message, *args)

    def error(self, key: str, message: str, *args: Any) -> None:
        self.log(logging.ERROR, key, message, *args)
