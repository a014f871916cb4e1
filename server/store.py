"""Jobs in SQLite: one file in the data folder, no service to run.

The socket loop is the only writer, and every statement is parameterised. States::

    receiving → queued → running → done | failed | cancelled

A job row keeps the shot as the server sees it (``shot``, JSON, read only when
the worker needs it) and a small ``meta`` map with what the socket loop needs
per message (frame range, result names, input patterns), so the loop never
parses a shot.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
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
ADDED_COLUMNS = {"meta": "TEXT", "warnings": "TEXT"}
"""Columns added after the first release; older databases gain them on open."""
COLUMNS = ("id, fingerprint, shot, transfer, preview, state, results_dir, created, updated, finished, error, "
           "progress, meta, warnings")
SUMMARY_COLUMNS = COLUMNS.replace("shot,", "'',")
"""Everything but the shot, which can be megabytes of Roto shapes."""


@dataclass
class JobRecord:
    id: str
    fingerprint: str
    shot_json: str
    """The shot as server paths see it; empty when the record was read for a summary."""
    transfer: str
    preview: bool
    state: str
    results_dir: str
    created: float
    updated: float
    finished: Optional[float]
    error: Optional[Dict[str, Any]]
    progress: Optional[Dict[str, Any]]
    meta: Dict[str, Any]
    warnings: List[Dict[str, Any]]

    def summary(self) -> Dict[str, Any]:
        return {"job": self.id, "state": self.state, "shot": self.meta.get("name"),
                "frames": self.meta.get("frames"), "engine": self.meta.get("engine"),
                "created": self.created, "updated": self.updated, "finished": self.finished,
                "error": self.error, "progress": self.progress, "preview": self.preview,
                "warnings": self.warnings}


class JobStore:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        present = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in present:
                self.db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self.db.close()

    def create(self, job_id: str, fingerprint: str, shot: Dict[str, Any], transfer: str, preview: bool,
               state: str, results_dir: str, meta: Dict[str, Any]) -> JobRecord:
        now = time.time()
        self.db.execute("INSERT INTO jobs (id, fingerprint, shot, transfer, preview, state, results_dir, "
                        "created, updated, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (job_id, fingerprint, json.dumps(shot), transfer, int(preview), state, results_dir,
                         now, now, json.dumps(meta)))
        record = self.get(job_id)
        assert record is not None
        return record

    def get(self, job_id: str, with_shot: bool = True) -> Optional[JobRecord]:
        columns = COLUMNS if with_shot else SUMMARY_COLUMNS
        row = self.db.execute(f"SELECT {columns} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._record(row) if row else None

    @staticmethod
    def _record(row: Any) -> JobRecord:
        return JobRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7],
                         row[8], row[9], json.loads(row[10]) if row[10] else None,
                         json.loads(row[11]) if row[11] else None, json.loads(row[12]) if row[12] else {},
                         json.loads(row[13]) if row[13] else [])

    def set_state(self, job_id: str, state: str, error: Optional[Dict[str, Any]] = None,
                  warnings: Optional[List[Dict[str, Any]]] = None) -> None:
        now = time.time()
        self.db.execute("UPDATE jobs SET state = ?, updated = ?, finished = ?, error = ?, warnings = ? "
                        "WHERE id = ?", (state, now, now if state in FINISHED else None,
                                         json.dumps(error) if error else None,
                                         json.dumps(warnings) if warnings else None, job_id))

    def set_results_dir(self, job_id: str, results_dir: str) -> None:
        self.db.execute("UPDATE jobs SET results_dir = ? WHERE id = ?", (results_dir, job_id))

    def set_meta(self, job_id: str, meta: Dict[str, Any]) -> None:
        self.db.execute("UPDATE jobs SET meta = ? WHERE id = ?", (json.dumps(meta), job_id))

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

    def unfinished(self) -> List[str]:
        marks = ",".join("?" * len(FINISHED))
        return [r[0] for r in self.db.execute(f"SELECT id FROM jobs WHERE state NOT IN ({marks})", FINISHED)]

    def expired(self, ttl_seconds: float) -> List[str]:
        limit = time.time() - ttl_seconds
        rows = self.db.execute("SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?", (limit,))
        return [row[0] for row in rows.fetchall()]

    def delete(self, job_id: str) -> None:
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def recent(self, limit: int = 50) -> List[JobRecord]:
        """The newest jobs, without their shots (a listing must stay cheap)."""
        rows = self.db.execute(f"SELECT {SUMMARY_COLUMNS} FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        return [self._record(row) for row in rows.fetchall()]
