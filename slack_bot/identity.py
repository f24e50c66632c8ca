"""Who a Slack user is in UltraCart: an override set with ``/task iam``, else the UltraCart user whose
e-mail is the Slack profile's e-mail. Also the groups a Slack user says they belong to (UltraCart tells
the API group membership only for the credential's own user).

SQLite runs in a worker thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    team_id TEXT NOT NULL, slack_user_id TEXT NOT NULL,
    uc_user_id INTEGER NOT NULL, source TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (team_id, slack_user_id)
);
CREATE INDEX IF NOT EXISTS identities_uc ON identities (uc_user_id);
CREATE TABLE IF NOT EXISTS group_memberships (
    team_id TEXT NOT NULL, slack_user_id TEXT NOT NULL, group_id INTEGER NOT NULL,
    PRIMARY KEY (team_id, slack_user_id, group_id)
);
"""

OVERRIDE = "override"
EMAIL = "email"


@dataclass(frozen=True)
class Mapping:
    slack_user_id: str
    uc_user_id: int
    source: str  # OVERRIDE or EMAIL
    updated_at: float


class IdentityStore:
    """A small SQLite file (``Settings.slack_db_path`` in production); one connection used from worker
    threads under a lock."""

    def __init__(self, path: Path | str, clock: Callable[[], float] | None = None) -> None:
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            if str(self.path) != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._connect().execute(sql, params).fetchall())

    async def _call(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return await asyncio.to_thread(self._run, sql, params)

    # ----------------------------------------------------------------- identities

    async def get(self, team_id: str, slack_user_id: str) -> Mapping | None:
        rows = await self._call(
            "SELECT slack_user_id, uc_user_id, source, updated_at FROM identities "
            "WHERE team_id = ? AND slack_user_id = ?",
            (team_id, slack_user_id),
        )
        if not rows:
            return None
        sid, uid, source, at = rows[0]
        return Mapping(str(sid), int(str(uid)), str(source), float(str(at)))

    async def set(self, team_id: str, slack_user_id: str, uc_user_id: int, source: str) -> None:
        await self._call(
            "INSERT INTO identities (team_id, slack_user_id, uc_user_id, source, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (team_id, slack_user_id) DO UPDATE SET "
            "uc_user_id = excluded.uc_user_id, source = excluded.source, updated_at = excluded.updated_at",
            (team_id, slack_user_id, uc_user_id, source, self._clock()),
        )

    async def forget(self, team_id: str, slack_user_id: str) -> None:
        await self._call(
            "DELETE FROM identities WHERE team_id = ? AND slack_user_id = ?", (team_id, slack_user_id)
        )

    async def slack_users_for(self, team_id: str, uc_user_id: int) -> list[str]:
        """Slack users mapped to this UltraCart user, overrides first."""
        rows = await self._call(
            "SELECT slack_user_id FROM identities WHERE team_id = ? AND uc_user_id = ? "
            "ORDER BY source = 'override' DESC, updated_at DESC",
            (team_id, uc_user_id),
        )
        return [str(r[0]) for r in rows]

    # ----------------------------------------------------------------- groups

    async def groups(self, team_id: str, slack_user_id: str) -> list[int]:
        rows = await self._call(
            "SELECT group_id FROM group_memberships WHERE team_id = ? AND slack_user_id = ? "
            "ORDER BY group_id",
            (team_id, slack_user_id),
        )
        return [int(str(r[0])) for r in rows]

    async def join(self, team_id: str, slack_user_id: str, group_id: int) -> None:
        await self._call(
            "INSERT OR IGNORE INTO group_memberships (team_id, slack_user_id, group_id) VALUES (?, ?, ?)",
            (team_id, slack_user_id, group_id),
        )

    async def leave(self, team_id: str, slack_user_id: str, group_id: int) -> None:
        await self._call(
            "DELETE FROM group_memberships WHERE team_id = ? AND slack_user_id = ? AND group_id = ?",
            (team_id, slack_user_id, group_id),
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
