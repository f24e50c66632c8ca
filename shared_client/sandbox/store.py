"""SQLite persistence. Every method is synchronous and runs on the app's database thread.

WAL mode, a busy timeout and `BEGIN IMMEDIATE` for writes let several processes (the MCP server,
the Slack bot, a CLI) share one file. Filters, counting, sorting and paging run in SQL on
indexed columns; the whole task lives beside them as a JSON document.
"""

from __future__ import annotations

import json
import mimetypes
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import seed
from .tasks import SERVER_FIELDS, describe_changes, merge_notes
from .wire import (
    MERCHANT_ID,
    OBJECT_TYPES,
    PRIORITIES,
    STATUSES,
    ApiError,
    bad_request,
    task_context_for,
    utc_iso,
)

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE COLLATE NOCASE,
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

_TASK_COLUMNS = (
    "uuid, gtn, object_type, object_id, object_email, status, priority, user_id, group_id, assignee, "
    "task_name, due_ts, created_ts, updated_ts, delay_ts, created_by_id, created_by_name, synthetic"
)
_INSERT_TASK = f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({', '.join('?' * 18)})"
_INSERT_DOC = "INSERT INTO task_docs (gtn, doc) VALUES (?, ?)"
_INSERT_TAG = "INSERT OR IGNORE INTO task_tags (tag, gtn) VALUES (?, ?)"

SORT_COLUMNS: dict[str, tuple[str, bool]] = {
    # field -> (SQL expression, nullable)
    "due_dts": ("due_ts", True),
    "created_dts": ("created_ts", False),
    "last_update_dts": ("updated_ts", False),
    "delay_until_dts": ("delay_ts", True),
    "priority": ("priority", True),
    "status": ("status", True),
    "task_name": ("task_name", True),
    "global_task_number": ("gtn", False),
    "object_type": ("object_type", True),
    "assigned_to_user_or_group": ("assignee", True),
}


@dataclass
class SearchQuery:
    """A validated WorkflowTasksRequest as SQL conditions, plus sort and page."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=lambda: [("global_task_number", False)])
    limit: int = 100
    offset: int = 0
    assigned_to_me: bool = False


def _ts(value: Any) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(str(value)).timestamp())


def _row(doc: dict[str, Any], synthetic: int = 0) -> tuple[Any, ...]:
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


def _doc_row(doc: dict[str, Any]) -> tuple[int, str]:
    return doc["global_task_number"], json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    # --- connection and transactions ----------------------------------------------------------------

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

    # --- schema and seed ----------------------------------------------------------------------------

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
                self._seed(conn, time.time())
            have = conn.execute("SELECT COUNT(*) FROM tasks WHERE synthetic = 1").fetchone()[0]
            if seed_tasks > have:
                self._seed_synthetic(conn, seed_tasks - have, time.time())

    def _seed(self, conn: sqlite3.Connection, now: float) -> None:
        conn.executemany(
            "INSERT INTO users (user_id, name, email, icon_url, assignable) VALUES (?, ?, ?, ?, ?)",
            [(u.user_id, u.name, u.email, seed.icon_url(u.email), int(u.assignable)) for u in seed.USERS],
        )
        conn.executemany("INSERT INTO groups (group_id, name) VALUES (?, ?)", seed.GROUPS)
        conn.executemany("INSERT INTO group_members (group_id, user_id) VALUES (?, ?)", seed.MEMBERSHIPS)
        docs = seed.demo_tasks(now)
        conn.executemany(_INSERT_TASK, [_row(d) for d in docs])
        conn.executemany(_INSERT_DOC, [_doc_row(d) for d in docs])
        conn.executemany(_INSERT_TAG, [(t, d["global_task_number"]) for d in docs for t in d.get("tags", [])])
        conn.executemany(
            "INSERT INTO files (file_uuid, file_name, mime_type, data, created_ts) VALUES (?, ?, ?, ?, ?)",
            [(f[0], f[1], f[2], f[3], int(now)) for f in seed.demo_files()],
        )
        conn.execute("INSERT INTO meta (key, value) VALUES ('seeded', ?)", (SCHEMA_VERSION,))

    def _seed_synthetic(self, conn: sqlite3.Connection, count: int, now: float) -> None:
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
        conn.executemany(_INSERT_TASK, rows)
        conn.executemany(_INSERT_DOC, doc_rows)
        conn.executemany(_INSERT_TAG, tag_rows)
        if bulk:
            for statement in _BULK_INDEXES:
                conn.execute(statement)

    # --- people -------------------------------------------------------------------------------------

    def _user_dict(self, row: sqlite3.Row) -> dict[str, Any]:
        return {"user_id": row["user_id"], "user": row["name"], "user_icon_url": row["icon_url"]}

    def user_for_credential(self, email: str | None) -> dict[str, Any] | None:
        """`email` None means the account owner."""
        if email is None:
            row = self.conn.execute("SELECT * FROM users WHERE user_id = ?", (seed.OWNER.user_id,)).fetchone()
        else:
            row = self.conn.execute("SELECT * FROM users WHERE email = ?", (email.strip(),)).fetchone()
        if row is None:
            return None
        return {**self._user_dict(row), "email": row["email"]}

    def list_users(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        total = self.conn.execute("SELECT COUNT(*) FROM users WHERE assignable = 1").fetchone()[0]
        rows = self.conn.execute(
            "SELECT * FROM users WHERE assignable = 1 ORDER BY user_id LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [{**self._user_dict(r), "email": r["email"]} for r in rows], total

    def list_groups(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        total = self.conn.execute("SELECT COUNT(*) FROM groups").fetchone()[0]
        rows = self.conn.execute(
            "SELECT * FROM groups ORDER BY group_id LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [{"group_id": r["group_id"], "group": r["name"]} for r in rows], total

    # --- reading tasks ------------------------------------------------------------------------------

    def get_task(self, task_uuid: str) -> dict[str, Any]:
        return self._load(self.conn, task_uuid)

    def _load(self, conn: sqlite3.Connection, task_uuid: str) -> dict[str, Any]:
        row = conn.execute(
            "SELECT doc FROM task_docs WHERE gtn = (SELECT gtn FROM tasks WHERE uuid = ?)", (task_uuid,)
        ).fetchone()
        if row is None:
            raise bad_request("Workflow task not found", object_id=task_uuid)
        doc: dict[str, Any] = json.loads(row["doc"])
        return doc

    def _docs(self, numbers: list[int]) -> list[dict[str, Any]]:
        """Documents for task numbers, in the order given."""
        if not numbers:
            return []
        marks = ",".join("?" * len(numbers))
        found = {
            r[0]: r[1]
            for r in self.conn.execute(f"SELECT gtn, doc FROM task_docs WHERE gtn IN ({marks})", numbers)
        }
        return [json.loads(found[n]) for n in numbers if n in found]

    def tasks_by_object(self, object_type: str, object_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT gtn FROM tasks WHERE object_type = ? AND object_id = ? ORDER BY gtn",
            (object_type, object_id),
        ).fetchall()
        return self._docs([r[0] for r in rows])

    def search(self, query: SearchQuery, me_id: int) -> tuple[list[dict[str, Any]], int]:
        where = list(query.where)
        params = list(query.params)
        if query.assigned_to_me:
            where.append(
                "(user_id = ? OR group_id IN (SELECT group_id FROM group_members WHERE user_id = ?))"
            )
            params += [me_id, me_id]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order: list[str] = []
        for name, descending in query.sort:
            column, nullable = SORT_COLUMNS[name]
            if nullable:
                order.append(f"({column} IS NULL)")
            order.append(f"{column} {'DESC' if descending else 'ASC'}")
        if not any(name == "global_task_number" for name, _ in query.sort):
            order.append("gtn DESC")
        total = self.conn.execute(f"SELECT COUNT(*) FROM tasks{clause}", params).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT gtn FROM tasks{clause} ORDER BY {', '.join(order)} LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        return self._docs([r[0] for r in rows]), total

    def open_count(self) -> int:
        count: int = self.conn.execute(
            "SELECT COUNT(*) FROM tasks "
            "WHERE status IS NULL OR (status != 'closed' AND status NOT LIKE 'closed -%')"
        ).fetchone()[0]
        return count

    def tags(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT tag FROM task_tags ORDER BY tag")]

    # --- writing tasks ------------------------------------------------------------------------------

    def _assignees(self, conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
        """Names derive from ids; both a user and a group may be assigned at once."""
        user_id, group_id = doc.get("assigned_to_user_id"), doc.get("assigned_to_group_id")
        for key in ("assigned_to_user", "assigned_to_group", "assigned_to_user_or_group"):
            doc.pop(key, None)
        if user_id is not None:
            row = conn.execute(
                "SELECT name FROM users WHERE user_id = ? AND assignable = 1", (user_id,)
            ).fetchone()
            if row is None:
                raise bad_request(f"assigned_to_user_id {user_id} is not a user tasks can be assigned to")
            doc["assigned_to_user"] = row["name"]
        if group_id is not None:
            row = conn.execute("SELECT name FROM groups WHERE group_id = ?", (group_id,)).fetchone()
            if row is None:
                raise bad_request(f"assigned_to_group_id {group_id} is not a group")
            doc["assigned_to_group"] = row["name"]
        label = doc.get("assigned_to_user") or doc.get("assigned_to_group")
        if label:
            doc["assigned_to_user_or_group"] = label

    def _dependency(self, conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
        dep = doc.get("dependant_workflow_task_uuid")
        if not dep:
            return
        if dep == doc.get("workflow_task_uuid"):
            raise bad_request("A task cannot depend on itself", object_id=dep)
        row = conn.execute("SELECT status FROM tasks WHERE uuid = ?", (dep,)).fetchone()
        if row is None:
            raise bad_request("Dependant workflow task not found", object_id=dep)
        if str(doc.get("status", "")).startswith("closed") and not str(row["status"] or "").startswith(
            "closed"
        ):
            raise bad_request(
                "This task cannot be closed until its dependant workflow task is completed", object_id=dep
            )

    def _resolve_attachments(
        self, conn: sqlite3.Connection, attachments: list[dict[str, Any]], now: int
    ) -> list[dict[str, Any]]:
        resolved: list[dict[str, Any]] = []
        for attachment in attachments:
            item = dict(attachment)
            key = item.get("upload_key")
            if key and not item.get("file_uuid"):
                existing = conn.execute("SELECT file_uuid FROM files WHERE upload_key = ?", (key,)).fetchone()
                if existing is not None:  # a retried PUT resolves to the same file
                    file_uuid = existing["file_uuid"]
                else:
                    upload = conn.execute(
                        "SELECT data IS NOT NULL AS ready FROM uploads WHERE upload_key = ?", (key,)
                    ).fetchone()
                    if upload is None or not upload["ready"]:
                        raise bad_request(
                            "Attachment upload_key has not been uploaded: "
                            "PUT the bytes to the upload url first",
                            object_id=key,
                        )
                    file_uuid = str(uuid.uuid4())
                    extension = key.rsplit(".", 1)[-1] if "." in key else "bin"
                    name = item.get("file_name") or f"attachment.{extension}"
                    mime = (
                        item.get("mime_type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
                    )
                    conn.execute(
                        "INSERT INTO files (file_uuid, upload_key, file_name, mime_type, data, created_ts) "
                        "SELECT ?, ?, ?, ?, data, ? FROM uploads WHERE upload_key = ?",
                        (file_uuid, key, name, mime, now, key),
                    )
                item["file_uuid"] = file_uuid
                item.setdefault("file_name", f"attachment.{key.rsplit('.', 1)[-1]}")
                item.setdefault(
                    "mime_type", mimetypes.guess_type(item["file_name"])[0] or "application/octet-stream"
                )
                item.pop("upload_key", None)
            item.pop("download_key", None)  # filled in freshly on every answer
            resolved.append(item)
        return resolved

    def _file_names(self, doc: dict[str, Any]) -> dict[str, str]:
        found: dict[str, str] = {}
        for att in doc.get("attachments") or []:
            if att.get("file_uuid"):
                found[att["file_uuid"]] = att.get("file_name", att["file_uuid"])
        for note in doc.get("notes") or []:
            for att in note.get("attachments") or []:
                if att.get("file_uuid"):
                    found[att["file_uuid"]] = att.get("file_name", att["file_uuid"])
        return found

    def _save(self, conn: sqlite3.Connection, doc: dict[str, Any], replace: bool) -> None:
        number = doc["global_task_number"]
        if replace:
            for table in ("tasks", "task_docs", "task_tags"):
                conn.execute(f"DELETE FROM {table} WHERE gtn = ?", (number,))
        conn.execute(_INSERT_TASK, _row(doc))
        conn.execute(_INSERT_DOC, _doc_row(doc))
        conn.executemany(_INSERT_TAG, [(t, number) for t in doc.get("tags") or []])

    def insert_task(self, body: dict[str, Any], caller: dict[str, Any], ip: str | None) -> dict[str, Any]:
        if not body.get("task_name"):
            raise bad_request("task_name is required")
        now = int(time.time())
        now_iso = utc_iso(now)
        who: dict[str, Any] = {k: caller[k] for k in ("user_id", "user", "user_icon_url") if k in caller}
        with self.write() as conn:
            doc = dict(body)
            doc.setdefault("status", "open")
            doc.setdefault("priority", "2 - medium")
            self._assignees(conn, doc)
            self._dependency(conn, doc)
            gtn = conn.execute("SELECT COALESCE(MAX(gtn), 0) + 1 FROM tasks").fetchone()[0]
            doc.update(
                workflow_task_uuid=str(uuid.uuid4()),
                global_task_number=gtn,
                merchant_id=MERCHANT_ID,
                created_by=who,
                created_dts=now_iso,
                last_update_dts=now_iso,
            )
            if doc.get("object_type") and doc.get("object_id"):
                doc["object_task_number"] = conn.execute(
                    "SELECT COUNT(*) + 1 FROM tasks WHERE object_type = ? AND object_id = ?",
                    (doc["object_type"], doc["object_id"]),
                ).fetchone()[0]
            if "task_context" not in doc:
                context = task_context_for(
                    doc.get("object_type"), doc.get("object_id"), doc.get("object_email")
                )
                if context:
                    doc["task_context"] = context
            if "attachments" in doc:
                doc["attachments"] = self._resolve_attachments(conn, doc["attachments"], now)
            notes = []
            for note in doc.get("notes") or []:
                note = dict(note)
                note.setdefault("note_dts", now_iso)
                note.setdefault("user", who)
                if "attachments" in note:
                    note["attachments"] = self._resolve_attachments(conn, note["attachments"], now)
                notes.append(note)
            if notes:
                doc["notes"] = notes
            doc["histories"] = [
                {"activity_dts": now_iso, "description": "Task created", "ip_address": ip, "user": who}
            ]
            self._save(conn, doc, replace=False)
        return doc

    def update_task(
        self, task_uuid: str, body: dict[str, Any], caller: dict[str, Any], ip: str | None
    ) -> dict[str, Any]:
        now = int(time.time())
        now_iso = utc_iso(now)
        who: dict[str, Any] = {k: caller[k] for k in ("user_id", "user", "user_icon_url") if k in caller}
        with self.write() as conn:
            old = self._load(conn, task_uuid)
            doc = dict(body)
            if not doc.get("task_name"):
                raise bad_request("task_name is required (an update sends the whole task)")
            for key in SERVER_FIELDS - {"last_update_dts"}:  # the server keeps its own; last_update is new
                if key in old:
                    doc[key] = old[key]
            doc.setdefault("status", "open")
            doc.setdefault("priority", "2 - medium")
            self._assignees(conn, doc)
            self._dependency(conn, doc)
            if "task_context" not in doc:
                context = task_context_for(
                    doc.get("object_type"), doc.get("object_id"), doc.get("object_email")
                )
                if context:
                    doc["task_context"] = context
            if doc.get("attachments"):
                doc["attachments"] = self._resolve_attachments(conn, doc["attachments"], now)
            notes, note_events = merge_notes(old.get("notes") or [], doc.get("notes") or [], who, now_iso)
            for note in notes:
                if note.get("attachments"):
                    note["attachments"] = self._resolve_attachments(conn, note["attachments"], now)
            doc.pop("notes", None)
            if notes:
                doc["notes"] = notes
            events = describe_changes(old, doc) + note_events
            before_files = self._file_names(old)
            events += [
                f"Attachment added: {name}"
                for fid, name in self._file_names(doc).items()
                if fid not in before_files
            ]
            histories = list(old.get("histories") or [])
            histories += [
                {"activity_dts": now_iso, "description": e, "ip_address": ip, "user": who} for e in events
            ]
            doc["histories"] = histories
            doc["last_update_dts"] = now_iso
            self._save(conn, doc, replace=True)
        return doc

    # --- attachments --------------------------------------------------------------------------------

    def create_upload(self, extension: str) -> str:
        key = f"workflow/{MERCHANT_ID}/{uuid.uuid4()}.{extension.lower()}"
        with self.write() as conn:
            conn.execute(
                "INSERT INTO uploads (upload_key, created_ts) VALUES (?, ?)", (key, int(time.time()))
            )
        return key

    def store_upload(self, key: str, data: bytes) -> bool:
        with self.write() as conn:
            cursor = conn.execute("UPDATE uploads SET data = ? WHERE upload_key = ?", (data, key))
            return cursor.rowcount == 1

    def get_file(self, file_uuid: str) -> tuple[bytes, str, str] | None:
        row = self.conn.execute(
            "SELECT data, mime_type, file_name FROM files WHERE file_uuid = ?", (file_uuid,)
        ).fetchone()
        if row is None:
            return None
        return (
            bytes(row["data"]),
            row["mime_type"] or "application/octet-stream",
            row["file_name"] or file_uuid,
        )


def not_found(message: str) -> ApiError:
    return ApiError(404, message)
