"""The SQLite file: connection, transactions, the schema and the first-start seed.

WAL mode, a busy timeout and `BEGIN IMMEDIATE` for writes let several processes (the MCP server,
the Slack bot, a CLI) share one file. Filters, counting, sorting and paging run in SQL on
indexed columns; the whole task lives beside them as a JSON document.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import seed
from ..wire import MERCHANT_ID, OBJECT_TYPES, PRIORITIES, STATUSES, task_context_for, utc_iso

SCHEMA_VERSION = "2"  # 2: users carry no e-mail on the wire; Tom's user name is his e-mail

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY, name TEXT NOT NULL, login TEXT NOT NULL UNIQUE COLLATE NOCASE,
    icon_url TEXT, assignable INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS groups (group_id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS group_members (
    group_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (group_id, user_id));
CREATE INDEX IF NOT EXISTS group_members_user ON group_members (user_id, group_id);
CREATE TABLE IF NOT EXISTS tasks (
    gtn INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE,
    object_type TEXT, object_id TEXT, object_email TEXT COLLATE NOCASE,
    status TEXT, priority TEXT, user_id INTEGER, group_id INTEGER, assignee TEXT COLLATE NOCASE,
    task_name TEXT COLLATE NOCASE, due_ts INTEGER, created_ts INTEGER, updated_ts INTEGER,
    delay_ts INTEGER, created_by_id INTEGER, created_by_name TEXT COLLATE NOCASE,
    synthetic INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS task_docs (gtn INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, priority);
CREATE INDEX IF NOT EXISTS tasks_priority ON tasks (priority);
CREATE INDEX IF NOT EXISTS tasks_object ON tasks (object_type, object_id);
CREATE INDEX IF NOT EXISTS tasks_email ON tasks (object_email);
CREATE INDEX IF NOT EXISTS tasks_user ON tasks (user_id);
CREATE INDEX IF NOT EXISTS tasks_group ON tasks (group_id);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (due_ts);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_ts);
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (updated_ts);
CREATE INDEX IF NOT EXISTS tasks_delay ON tasks (delay_ts);
CREATE INDEX IF NOT EXISTS tasks_created_by ON tasks (created_by_id);
CREATE TABLE IF NOT EXISTS task_tags (
    tag TEXT NOT NULL, gtn INTEGER NOT NULL, PRIMARY KEY (tag, gtn)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_tags_gtn ON task_tags (gtn);
CREATE TABLE IF NOT EXISTS uploads (
    upload_key TEXT PRIMARY KEY, created_ts INTEGER NOT NULL, data BLOB);
CREATE TABLE IF NOT EXISTS files (
    file_uuid TEXT PRIMARY KEY, upload_key TEXT UNIQUE, file_name TEXT, mime_type TEXT,
    data BLOB NOT NULL, created_ts INTEGER NOT NULL);
"""
_TABLES = ("meta", "users", "groups", "group_members", "tasks", "task_docs", "task_tags", "uploads", "files")
_BULK_INDEXES = [
    statement.strip()
    for statement in _SCHEMA.split(";")
    if statement.strip().startswith("CREATE INDEX") and " ON task" in statement
]

# --- a task document as rows of tasks, task_docs and task_tags ----------------------------------------

_TASK_COLUMNS = (
    "uuid, gtn, object_type, object_id, object_email, status, priority, user_id, group_id, assignee, "
    "task_name, due_ts, created_ts, updated_ts, delay_ts, created_by_id, created_by_name, synthetic"
)
INSERT_TASK = f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({', '.join('?' * 18)})"
INSERT_DOC = "INSERT INTO task_docs (gtn, doc) VALUES (?, ?)"
INSERT_TAG = "INSERT OR IGNORE INTO task_tags (tag, gtn) VALUES (?, ?)"


def _ts(value: Any) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(str(value)).timestamp())


def task_row(doc: dict[str, Any], synthetic: int = 0) -> tuple[Any, ...]:
    created_by = doc.get("created_by") or {}
    return (
        doc["workflow_task_uuid"],
        doc["global_task_number"],
        doc.get("object_type"),
        doc.get("object_id"),
        doc.get("object_email"),
        doc.get("status"),
        doc.get("priority"),
        doc.get("assigned_to_user_id"),
        doc.get("assigned_to_group_id"),
        doc.get("assigned_to_user_or_group"),
        doc.get("task_name"),
        _ts(doc.get("due_dts")),
        _ts(doc.get("created_dts")),
        _ts(doc.get("last_update_dts")),
        _ts(doc.get("delay_until_dts")),
        created_by.get("user_id"),
        created_by.get("user"),
        synthetic,
    )


def doc_row(doc: dict[str, Any]) -> tuple[int, str]:
    return doc["global_task_number"], json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


# --- the file -----------------------------------------------------------------------------------------


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def initialise(self, reset: bool = False, seed_tasks: int = 0) -> None:
        with self.write() as conn:
            if reset:
                for table in _TABLES:
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            seeded = conn.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone()
            if seeded is None:
                _seed(conn, time.time())
            elif seeded[0] != SCHEMA_VERSION:
                _upgrade(conn)
            have = conn.execute("SELECT COUNT(*) FROM tasks WHERE synthetic = 1").fetchone()[0]
            if seed_tasks > have:
                _seed_synthetic(conn, seed_tasks - have, time.time())


# --- the seed -----------------------------------------------------------------------------------------


def _seed(conn: sqlite3.Connection, now: float) -> None:
    conn.executemany(
        "INSERT INTO users (user_id, name, login, icon_url, assignable) VALUES (?, ?, ?, ?, ?)",
        [(u.user_id, u.name, u.login, seed.icon_url(u.login), int(u.assignable)) for u in seed.USERS],
    )
    conn.executemany("INSERT INTO groups (group_id, name) VALUES (?, ?)", seed.GROUPS)
    conn.executemany("INSERT INTO group_members (group_id, user_id) VALUES (?, ?)", seed.MEMBERSHIPS)
    docs = seed.demo_tasks(now)
    conn.executemany(INSERT_TASK, [task_row(d) for d in docs])
    conn.executemany(INSERT_DOC, [doc_row(d) for d in docs])
    conn.executemany(INSERT_TAG, [(t, d["global_task_number"]) for d in docs for t in d.get("tags", [])])
    conn.executemany(
        "INSERT INTO files (file_uuid, file_name, mime_type, data, created_ts) VALUES (?, ?, ?, ?, ?)",
        [(f[0], f[1], f[2], f[3], int(now)) for f in seed.demo_files()],
    )
    conn.execute("INSERT INTO meta (key, value) VALUES ('seeded', ?)", (SCHEMA_VERSION,))


def _upgrade(conn: sqlite3.Connection) -> None:
    """A file seeded by an earlier sandbox: its users' ``email`` column is the login now, and the seeded
    users get today's names (tasks keep theirs)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
    if "email" in columns and "login" not in columns:
        conn.execute("ALTER TABLE users RENAME COLUMN email TO login")
    conn.executemany("UPDATE users SET name = ? WHERE user_id = ?", [(u.name, u.user_id) for u in seed.USERS])
    conn.execute("UPDATE meta SET value = ? WHERE key = 'seeded'", (SCHEMA_VERSION,))


def _seed_synthetic(conn: sqlite3.Connection, count: int, now: float) -> None:
    """Bulk tasks for scale tests: one executemany in the caller's transaction."""
    rng = random.Random(count)
    start = conn.execute("SELECT COALESCE(MAX(gtn), 0) FROM tasks").fetchone()[0] + 1
    users = [u for u in seed.USERS if u.assignable]
    groups = list(seed.GROUPS)
    tags_pool = ("bulk", "vip", "wholesale", "shipping", "refund", "follow-up")
    statuses = STATUSES[:4]
    rows: list[tuple[Any, ...]] = []
    doc_rows: list[tuple[int, str]] = []
    tag_rows: list[tuple[str, int]] = []
    for n in range(start, start + count):
        task_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        otype = OBJECT_TYPES[n % 5]
        oid = f"BULK-{n:08d}"
        status = statuses[rng.randrange(4)]
        priority = PRIORITIES[rng.randrange(4)]
        created = int(now - rng.randrange(1, 365 * 86400))
        updated = min(int(now), created + rng.randrange(0, 30 * 86400))
        due = created + rng.randrange(-5 * 86400, 60 * 86400) if n % 4 else None
        user = users[rng.randrange(len(users))] if n % 3 else None
        group = groups[rng.randrange(len(groups))] if n % 3 != 1 else None
        tags = ["bulk", tags_pool[1 + n % 5]]
        creator = users[n % len(users)]
        doc: dict[str, Any] = {
            "workflow_task_uuid": task_uuid,
            "global_task_number": n,
            "object_task_number": 1,
            "merchant_id": MERCHANT_ID,
            "task_name": f"Bulk task {n}",
            "object_type": otype,
            "object_id": oid,
            "task_context": task_context_for(otype, oid, None),
            "status": status,
            "priority": priority,
            "created_by": {"user_id": creator.user_id, "user": creator.name},
            "created_dts": utc_iso(created),
            "last_update_dts": utc_iso(updated),
            "tags": tags,
        }
        if due is not None:
            doc["due_dts"] = utc_iso(due)
        seed.assign(doc, user.user_id if user else None, group[0] if group else None)
        rows.append(
            (
                task_uuid,
                n,
                otype,
                oid,
                None,
                status,
                priority,
                doc.get("assigned_to_user_id"),
                doc.get("assigned_to_group_id"),
                doc.get("assigned_to_user_or_group"),
                doc["task_name"],
                due,
                created,
                updated,
                None,
                creator.user_id,
                creator.name,
                1,
            )
        )
        doc_rows.append((n, json.dumps(doc, separators=(",", ":"))))
        tag_rows.extend((t, n) for t in tags)
    bulk = count >= 20000  # building indexes afterwards is much faster than maintaining them
    if bulk:
        for statement in _BULK_INDEXES:
            conn.execute("DROP INDEX IF EXISTS " + statement.split("EXISTS", 1)[1].split()[0])
    conn.executemany(INSERT_TASK, rows)
    conn.executemany(INSERT_DOC, doc_rows)
    conn.executemany(INSERT_TAG, tag_rows)
    if bulk:
        for statement in _BULK_INDEXES:
            conn.execute(statement)
