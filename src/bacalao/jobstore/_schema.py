"""The SQLite schema of the job store, and the connection settings every connection gets."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    modify_time INTEGER NOT NULL,
    spec        TEXT NOT NULL            -- the whole Job, bacalao wire JSON
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (create_time, id);
CREATE INDEX IF NOT EXISTS jobs_modified ON jobs (modify_time, id);
CREATE INDEX IF NOT EXISTS jobs_namespace ON jobs (namespace, create_time, id);

CREATE TABLE IF NOT EXISTS job_labels (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
CREATE INDEX IF NOT EXISTS job_labels_kv ON job_labels (key, value);

CREATE TABLE IF NOT EXISTS job_versions (
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    PRIMARY KEY (job_id, version)
);

CREATE TABLE IF NOT EXISTS executions (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    shard_index   INTEGER NOT NULL,
    node_id       TEXT NOT NULL,
    desired_state TEXT NOT NULL,
    compute_state TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    modify_time   INTEGER NOT NULL,
    data          TEXT NOT NULL          -- the whole Execution, bacalao wire JSON
);
CREATE INDEX IF NOT EXISTS executions_job ON executions (job_id, shard_index, create_time);
CREATE INDEX IF NOT EXISTS executions_node ON executions (node_id, compute_state);
CREATE INDEX IF NOT EXISTS executions_state ON executions (compute_state);

CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    execution_id TEXT,                   -- NULL for job-level entries
    time         INTEGER NOT NULL,
    type         TEXT NOT NULL,          -- JobLevel | ExecutionLevel
    topic        TEXT NOT NULL,
    message      TEXT NOT NULL,
    details      TEXT NOT NULL           -- the whole JobHistory entry, bacalao wire JSON
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
"""


def configure(conn: sqlite3.Connection, *, synchronous: str, busy_timeout_ms: int) -> None:
    """Per-connection settings: WAL, the requested fsync level, foreign keys, busy wait.

    ``synchronous=FULL`` in WAL mode fsyncs the log on every commit, so an acknowledged write
    survives an OS crash or power loss, not only a killed process.
    """
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise RuntimeError(f"could not switch the job store to WAL (got {mode})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables if missing (one transaction) and check the schema version."""
    conn.executescript(
        "BEGIN IMMEDIATE;"
        + DDL
        + "INSERT OR IGNORE INTO store_meta (key, value) "
        + f"VALUES ('schema_version', '{SCHEMA_VERSION}');"
        + "COMMIT;"
    )
    row = conn.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    if int(row[0]) > SCHEMA_VERSION:
        raise RuntimeError(
            f"job store schema {row[0]} is newer than this bacalao ({SCHEMA_VERSION}); upgrade"
        )
