"""Jobs in SQLite: one file in the data folder, no service to run.

The socket loop is the only writer. States::

    receiving → queued → running → done | failed | cancelled
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Dict, List, Optional

RECEIVING, QUEUED, RUNNING, DONE, FAILED, CANCELLED = (
    "receiving", "queued", "running", "done", "failed", "cancelled")
FINISHED = (DONE, FAILED, CANCELLED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    shot TEXT NOT NULL,
    transfer TEXT NOT NULL,
    preview INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    results_dir TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished REAL,
    error TEXT,
    progress TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created);
"""


@dataclass
class JobRecord:
    id: str
    fingerprint: str
    shot_json: str
    transfer: str
    preview: bool
    state: str
    results_dir: str
    created: float
    updated: float
    finished: Optional[float]
    error: Optional[Dict[str, Any]]
    progress: Optional[Dict[str, Any]]

    @cached_property
    def shot(self) -> Dict[str, Any]:
        """The shot as server paths see it; parsed only when asked (the loop polls records often)."""
        return json.loads(self.shot_json)

    def summary(self) -> Dict[str, Any]:
        return {"job": self.id, "state": self.state, "shot": self.shot.get("name"),
                "frames": self.shot.get("frames"), "engine": (self.shot.get("engine") or {}).get("name"),
                "created": self.created, "updated": self.updated, "finished": self.finished,
                "error": self.error, "progress": self.progress, "preview": self.preview}


class JobStore:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def create(self, job_id: str, fingerprint: str, shot: Dict[str, Any], transfer: str, preview: bool,
               state: str, results_dir: str) -> JobRecord:
        now = time.time()
        self.db.execute("INSERT INTO jobs (id, fingerprint, shot, transfer, preview, state, results_dir, "
                        "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (job_id, fingerprint, json.dumps(shot), transfer, int(preview), state, results_dir,
                         now, now))
        record = self.get(job_id)
        assert record is not None
        return record

    def get(self, job_id: str) -> Optional[JobRecord]:
        row = self.db.execute("SELECT id, fingerprint, shot, transfer, preview, state, results_dir, created, "
                              "updated, finished, error, progress FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._record(row) if row else None

    @staticmethod
    def _record(row: Any) -> JobRecord:
        return JobRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7],
                         row[8], row[9], json.loads(row[10]) if row[10] else None,
                         json.loads(row[11]) if row[11] else None)

    def set_state(self, job_id: str, state: str, error: Optional[Dict[str, Any]] = None) -> None:
        now = time.time()
        self.db.execute("UPDATE jobs SET state = ?, updated = ?, finished = ?, error = ? WHERE id = ?",
                        (state, now, now if state in FINISHED else None,
                         json.dumps(error) if error else None, job_id))

    def set_progress(self, job_id: str, progress: Dict[str, Any]) -> None:
        self.db.execute("UPDATE jobs SET progress = ?, updated = ? WHERE id = ?",
                        (json.dumps(progress), time.time(), job_id))

    def next_queued(self) -> Optional[JobRecord]:
        row = self.db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY created LIMIT 1", (QUEUED,)).fetchone()
        return self.get(row[0]) if row else None

    def count(self, *states: str) -> int:
        marks = ",".join("?" * len(states))
        return int(self.db.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})", states).fetchone()[0])

    def requeue_interrupted(self) -> List[str]:
        """After a crash, running jobs go back to the queue (their finished units stay finished)."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM jobs WHERE state = ?", (RUNNING,))]
        self.db.execute("UPDATE jobs SET state = ?, updated = ? WHERE state = ?", (QUEUED, time.time(), RUNNING))
        return ids

    def expired(self, ttl_seconds: float) -> List[JobRecord]:
        limit = time.time() - ttl_seconds
        rows = self.db.execute("SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?", (limit,))
        return [r for r in (self.get(row[0]) for row in rows.fetchall()) if r is not None]

    def delete(self, job_id: str) -> None:
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def recent(self, limit: int = 50) -> List[JobRecord]:
        rows = self.db.execute("SELECT id FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [r for r in (self.get(row[0]) for row in rows) if r is not None]
