"""The SQLite schema of the job store, its migrations, and the connection settings every
connection gets.

Jobs and executions are keyed by an integer ``seq`` given in creation order; the tables that hang
off a job (labels, versions, executions, history) refer to it by that ``seq``. IDs are random
UUIDs, so an index on them takes each new row at a random page: keyed by ``seq``, new rows land at
the end of every child index, and a commit writes a few pages instead of one per index and job
(schema 2; schema 1 keyed the children by the job's ID, and a busy store slowed as it grew).
"""

from __future__ import annotations

import logging
import sqlite3

from bacalao.errors import Conflict, IntegrityError
from bacalao.models.job_state import ExecutionStateType

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

#: What an execution that has not ended satisfies, written out (a partial index is used only by
#: queries whose WHERE clause repeats its own, literals included).
EXECUTION_LIVE = "compute_state NOT IN ({})".format(
    ", ".join(f"'{s.value}'" for s in ExecutionStateType if s.is_terminal)
)

DDL = f"""
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq         INTEGER PRIMARY KEY,     -- creation order; what the other tables refer to
    id          TEXT NOT NULL UNIQUE,
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
    job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (job_seq, key)
);
CREATE INDEX IF NOT EXISTS job_labels_kv ON job_labels (key, value);

CREATE TABLE IF NOT EXISTS job_versions (
    job_seq     INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    PRIMARY KEY (job_seq, version)
);

CREATE TABLE IF NOT EXISTS executions (
    seq           INTEGER PRIMARY KEY,   -- creation order
    id            TEXT NOT NULL UNIQUE,
    job_seq       INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    job_id        TEXT NOT NULL,
    shard_index   INTEGER NOT NULL,
    node_id       TEXT NOT NULL,
    desired_state TEXT NOT NULL,
    compute_state TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    modify_time   INTEGER NOT NULL,
    data          TEXT NOT NULL          -- the whole Execution, bacalao wire JSON
);
CREATE INDEX IF NOT EXISTS executions_job ON executions (job_seq, shard_index, create_time);
-- only the executions that have not ended: a small index, cheap to keep up to date
CREATE INDEX IF NOT EXISTS executions_live ON executions (node_id) WHERE {EXECUTION_LIVE};

CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_seq      INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    execution_id TEXT,                   -- NULL for job-level entries
    time         INTEGER NOT NULL,
    type         TEXT NOT NULL,          -- JobLevel | ExecutionLevel
    topic        TEXT NOT NULL,
    message      TEXT NOT NULL,
    details      TEXT NOT NULL           -- the whole JobHistory entry (its JobID included)
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_seq, seq);
"""

#: The job's ``seq`` from its ID, for a statement's parameter list (NULL for an unknown job,
#: which the NOT NULL columns then refuse).
JOB_SEQ = "(SELECT seq FROM jobs WHERE id = ?)"

_JOB_COLUMNS = "id, namespace, name, type, state, version, revision, create_time, modify_time, spec"
_EXECUTION_COLUMNS = (
    "id, job_id, shard_index, node_id, desired_state, compute_state, revision, create_time,"
    " modify_time, data"
)
_E_EXECUTION_COLUMNS = ", ".join("e." + c.strip() for c in _EXECUTION_COLUMNS.split(","))

#: Schema 1 -> 2: every table rebuilt under its new keys, history ``seq``s kept (followers
#: resume from them), in one transaction. Jobs and executions take their ``seq`` in creation order.
_MIGRATE_1_TO_2 = f"""
ALTER TABLE jobs RENAME TO jobs_v1;
ALTER TABLE job_labels RENAME TO job_labels_v1;
ALTER TABLE job_versions RENAME TO job_versions_v1;
ALTER TABLE executions RENAME TO executions_v1;
ALTER TABLE events RENAME TO events_v1;
DROP INDEX IF EXISTS jobs_state;
DROP INDEX IF EXISTS jobs_created;
DROP INDEX IF EXISTS jobs_modified;
DROP INDEX IF EXISTS jobs_namespace;
DROP INDEX IF EXISTS job_labels_kv;
DROP INDEX IF EXISTS executions_job;
DROP INDEX IF EXISTS executions_node;
DROP INDEX IF EXISTS executions_state;
DROP INDEX IF EXISTS events_job;
{DDL}
INSERT INTO jobs ({_JOB_COLUMNS})
    SELECT {_JOB_COLUMNS} FROM jobs_v1 ORDER BY create_time, id;
INSERT INTO job_labels (job_seq, key, value)
    SELECT j.seq, l.key, l.value FROM job_labels_v1 l JOIN jobs j ON j.id = l.job_id;
INSERT INTO job_versions (job_seq, version, create_time, spec)
    SELECT j.seq, v.version, v.create_time, v.spec FROM job_versions_v1 v
    JOIN jobs j ON j.id = v.job_id;
INSERT INTO executions (job_seq, {_EXECUTION_COLUMNS})
    SELECT j.seq, {_E_EXECUTION_COLUMNS}
    FROM executions_v1 e JOIN jobs j ON j.id = e.job_id ORDER BY e.create_time, e.id;
INSERT INTO events (seq, job_seq, execution_id, time, type, topic, message, details)
    SELECT e.seq, j.seq, e.execution_id, e.time, e.type, e.topic, e.message, e.details
    FROM events_v1 e JOIN jobs j ON j.id = e.job_id ORDER BY e.seq;
DROP TABLE events_v1;
DROP TABLE executions_v1;
DROP TABLE job_versions_v1;
DROP TABLE job_labels_v1;
DROP TABLE jobs_v1;
UPDATE store_meta SET value = '2' WHERE key = 'schema_version';
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
    """Create the tables if missing, or bring an older schema up to date (one transaction
    either way), and refuse a newer one."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)
        if version is not None and version > SCHEMA_VERSION:
            raise Conflict(
                f"the job store is schema {version}, newer than this bacalao reads"
                f" ({SCHEMA_VERSION})",
                hint="upgrade bacalao, or give this node a data directory of its own",
            )
        if version == 1:
            _migrate(conn, _MIGRATE_1_TO_2)
        for statement in _statements(DDL):
            conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
        if version is not None and version < SCHEMA_VERSION:
            log.info("job store migrated from schema %d to %d", version, SCHEMA_VERSION)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection) -> int | None:
    """The stored schema version; None for an empty file."""
    known = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'"
    ).fetchone()
    if known is None:
        return None
    row = conn.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def _migrate(conn: sqlite3.Connection, script: str) -> None:
    """Run a migration inside the open transaction. Foreign keys cannot be switched off inside
    a transaction, so they are deferred to the commit, and checked before it."""
    conn.execute("PRAGMA defer_foreign_keys = ON")
    conn.execute("PRAGMA legacy_alter_table = ON")  # renames must not rewrite other tables
    try:
        for statement in _statements(script):
            conn.execute(statement)
    finally:
        conn.execute("PRAGMA legacy_alter_table = OFF")
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise IntegrityError(
            f"the job store's migration left {len(broken)} dangling references; nothing changed",
            hint="check the file with `sqlite3 jobs.db 'PRAGMA foreign_key_check'`",
        )


def _statements(script: str) -> list[str]:
    """The statements of a script of plain DDL and DML (no ``;`` inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
