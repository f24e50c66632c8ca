"""Users and groups: who a credential is, who tasks can go to, and the assignee names of a task."""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import seed
from ..wire import bad_request
from .database import Database


def _user_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A ``WorkflowUser`` exactly as UltraCart's schema has it: no e-mail (the login stays inside)."""
    return {"user_id": row["user_id"], "user": row["name"], "user_icon_url": row["icon_url"]}


class PeopleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def user_for_credential(self, login: str | None) -> dict[str, Any] | None:
        """The demo user of a sandbox login (``user:LOGIN``); ``login`` None means the account owner."""
        conn = self._db.conn
        if login is None:
            row = conn.execute("SELECT * FROM users WHERE user_id = ?", (seed.OWNER.user_id,)).fetchone()
        else:
            row = conn.execute("SELECT * FROM users WHERE login = ?", (login.strip(),)).fetchone()
        return None if row is None else _user_dict(row)

    def list_users(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows, total = self._page("users WHERE assignable = 1", "user_id", limit, offset)
        return [_user_dict(r) for r in rows], total

    def list_groups(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows, total = self._page("groups", "group_id", limit, offset)
        return [{"group_id": r["group_id"], "group": r["name"]} for r in rows], total

    def _page(self, source: str, order: str, limit: int, offset: int) -> tuple[list[sqlite3.Row], int]:
        """One page of rows from `source` (a table, maybe with a WHERE; never input) and the total."""
        conn = self._db.conn
        total: int = conn.execute(f"SELECT COUNT(*) FROM {source}").fetchone()[0]
        rows = conn.execute(
            f"SELECT * FROM {source} ORDER BY {order} LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return rows, total


def fill_assignees(conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
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
