"""Tasks: reads (one task, by object, the search, counts and tags) and writes (insert, whole-task update).

The search's filters come in as a `SearchQuery` (built and checked by `sandbox.search`); counting,
sorting and paging run in SQL.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..task_rules import SERVER_FIELDS, describe_changes, merge_notes
from ..wire import MERCHANT_ID, bad_request, task_context_for, utc_iso
from .attachments import file_names, resolve_attachments
from .database import INSERT_DOC, INSERT_TAG, INSERT_TASK, Database, doc_row, task_row
from .people import fill_assignees

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


def _actor(caller: dict[str, Any]) -> dict[str, Any]:
    """The caller as a task's `created_by`, a note's or a history entry's `user`."""
    return {k: caller[k] for k in ("user_id", "user", "user_icon_url") if k in caller}


class TaskStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- reading ------------------------------------------------------------------------------------

    def get_task(self, task_uuid: str) -> dict[str, Any]:
        return self._load(self._db.conn, task_uuid)

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
            for r in self._db.conn.execute(f"SELECT gtn, doc FROM task_docs WHERE gtn IN ({marks})", numbers)
        }
        return [json.loads(found[n]) for n in numbers if n in found]

    def tasks_by_object(self, object_type: str, object_id: str) -> list[dict[str, Any]]:
        rows = self._db.conn.execute(
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
        conn = self._db.conn
        total = conn.execute(f"SELECT COUNT(*) FROM tasks{clause}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT gtn FROM tasks{clause} ORDER BY {', '.join(order)} LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        return self._docs([r[0] for r in rows]), total

    def open_count(self) -> int:
        count: int = self._db.conn.execute(
            "SELECT COUNT(*) FROM tasks "
            "WHERE status IS NULL OR (status != 'closed' AND status NOT LIKE 'closed -%')"
        ).fetchone()[0]
        return count

    def tags(self) -> list[str]:
        return [r[0] for r in self._db.conn.execute("SELECT DISTINCT tag FROM task_tags ORDER BY tag")]

    # --- writing ------------------------------------------------------------------------------------

    def insert_task(self, body: dict[str, Any], caller: dict[str, Any], ip: str | None) -> dict[str, Any]:
        if not body.get("task_name"):
            raise bad_request("task_name is required")
        now = int(time.time())
        now_iso = utc_iso(now)
        who = _actor(caller)
        with self._db.write() as conn:
            doc = dict(body)
            _complete(conn, doc)
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
            if doc.get("attachments"):
                doc["attachments"] = resolve_attachments(conn, doc["attachments"], now)
            notes = []
            for note in doc.get("notes") or []:
                note = dict(note)
                note.setdefault("note_dts", now_iso)
                note.setdefault("user", who)
                if note.get("attachments"):
                    note["attachments"] = resolve_attachments(conn, note["attachments"], now)
                notes.append(note)
            if notes:
                doc["notes"] = notes
            doc["histories"] = [
                {"activity_dts": now_iso, "description": "Task created", "ip_address": ip, "user": who}
            ]
            _save(conn, doc, replace=False)
        return doc

    def update_task(
        self, task_uuid: str, body: dict[str, Any], caller: dict[str, Any], ip: str | None
    ) -> dict[str, Any]:
        now = int(time.time())
        now_iso = utc_iso(now)
        who = _actor(caller)
        with self._db.write() as conn:
            old = self._load(conn, task_uuid)
            doc = dict(body)
            if not doc.get("task_name"):
                raise bad_request("task_name is required (an update sends the whole task)")
            for key in SERVER_FIELDS - {"last_update_dts"}:  # the server keeps its own; last_update is new
                if key in old:
                    doc[key] = old[key]
            _complete(conn, doc)
            if doc.get("attachments"):
                doc["attachments"] = resolve_attachments(conn, doc["attachments"], now)
            notes, note_events = merge_notes(old.get("notes") or [], doc.get("notes") or [], who, now_iso)
            for note in notes:
                if note.get("attachments"):
                    note["attachments"] = resolve_attachments(conn, note["attachments"], now)
            doc.pop("notes", None)
            if notes:
                doc["notes"] = notes
            events = describe_changes(old, doc) + note_events
            before_files = file_names(old)
            events += [
                f"Attachment added: {name}"
                for fid, name in file_names(doc).items()
                if fid not in before_files
            ]
            histories = list(old.get("histories") or [])
            histories += [
                {"activity_dts": now_iso, "description": e, "ip_address": ip, "user": who} for e in events
            ]
            doc["histories"] = histories
            doc["last_update_dts"] = now_iso
            _save(conn, doc, replace=True)
        return doc


def _complete(conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
    """What insert and update both derive or check: defaults, assignee names, the dependency, the context."""
    doc.setdefault("status", "open")
    doc.setdefault("priority", "2 - medium")
    fill_assignees(conn, doc)
    _check_dependency(conn, doc)
    if "task_context" not in doc:
        context = task_context_for(doc.get("object_type"), doc.get("object_id"), doc.get("object_email"))
        if context:
            doc["task_context"] = context


def _check_dependency(conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
    dep = doc.get("dependant_workflow_task_uuid")
    if not dep:
        return
    if dep == doc.get("workflow_task_uuid"):
        raise bad_request("A task cannot depend on itself", object_id=dep)
    row = conn.execute("SELECT status FROM tasks WHERE uuid = ?", (dep,)).fetchone()
    if row is None:
        raise bad_request("Dependant workflow task not found", object_id=dep)
    if str(doc.get("status", "")).startswith("closed") and not str(row["status"] or "").startswith("closed"):
        raise bad_request(
            "This task cannot be closed until its dependant workflow task is completed", object_id=dep
        )


def _save(conn: sqlite3.Connection, doc: dict[str, Any], replace: bool) -> None:
    number = doc["global_task_number"]
    if replace:
        for table in ("tasks", "task_docs", "task_tags"):
            conn.execute(f"DELETE FROM {table} WHERE gtn = ?", (number,))
    conn.execute(INSERT_TASK, task_row(doc))
    conn.execute(INSERT_DOC, doc_row(doc))
    conn.executemany(INSERT_TAG, [(t, number) for t in doc.get("tags") or []])
