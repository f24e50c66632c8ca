"""The change feed's state in the deployment's database (:mod:`shared_client.database`): per credential
fingerprint, where the feed is (its baseline, its watermark), the last version of every task it has seen
(the snapshot), and every change it found, in order.

A poll is committed in one transaction (:meth:`FeedStore.commit`): the snapshot rows, the changes and the
new watermark together, or none of them. The transaction is fenced: it names the state version it started
from, and a leader that lost its lease while it polled (another leader committed since) commits nothing.
A change already recorded (same :attr:`Change.key`) is not recorded again.

Readers: consumers walk :meth:`changes_after` by id (each keeps its own cursor), ``list_recent_changes``
asks :meth:`changes_since` (the :class:`~shared_client.feed.events.ChangeLog` protocol), the digest asks
:meth:`assigned_tasks`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    or_,
    select,
    update,
)

from shared_client.database import ID, Database, metadata
from shared_client.feed.events import Change, ChangeKind, RecentChanges, content_of, version_of
from shared_client.models import WorkflowTask

__all__ = [
    "FeedState",
    "FeedStore",
    "Snapshot",
    "feed_changes",
    "feed_state",
    "feed_tasks",
]

FP = 64  # a credential fingerprint (pacing.credential_fingerprint)
UUID = 64
# A feed whose last poll is older than this many intervals is not running. More than the runner's MAX_STRETCH
# (8): a feed backing off for a tight budget is still running between its polls.
KEEP_CHANGES = 30 * 86400.0  # seconds a found change is kept
STALE_INTERVALS = 10
BATCH = 1000  # snapshot rows a statement

feed_state = Table(
    "feed_state",
    metadata,
    Column("fingerprint", String(FP), primary_key=True),
    Column("version", Integer, nullable=False),  # +1 per committed poll: the fence
    Column("baseline_at", Float, nullable=False),  # Unix time: changes before it are not known
    Column("watermark", Float, nullable=True),  # the newest last_update_dts seen (UltraCart's clock)
    Column("polled_at", Float, nullable=False),  # Unix time of the last committed poll (our clock)
    Column("interval", Float, nullable=False),  # the interval it runs at (for "is it running?")
    Column("leader", String(ID), nullable=True),  # who committed last (for logs and operators)
)

feed_tasks = Table(
    "feed_tasks",
    metadata,
    Column("fingerprint", String(FP), primary_key=True),
    Column("task_uuid", String(UUID), primary_key=True),
    Column("number", BigInteger, nullable=True),
    Column("version", String(40), nullable=False),  # last_update_dts (ISO)
    Column("doc", Text, nullable=False),  # the task as UltraCart sent it, without histories (JSON)
    Column("user_id", BigInteger, nullable=True),  # assigned_to_user_id
    Column("group_id", BigInteger, nullable=True),  # assigned_to_group_id
    Column("due_at", Float, nullable=True),  # Unix time
    Column("closed", Boolean, nullable=False),
    Column("overdue_for", String(40), nullable=True),  # the due date it was last reported overdue for
    Index("feed_tasks_user", "fingerprint", "user_id"),
    Index("feed_tasks_group", "fingerprint", "group_id"),
    Index("feed_tasks_due", "fingerprint", "closed", "due_at"),
)

feed_changes = Table(
    "feed_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(FP), nullable=False),
    Column("task_uuid", String(UUID), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("version", String(40), nullable=False),
    Column("part", String(16), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Column("at", Float, nullable=False),  # Unix time of the version (when it changed, UltraCart's clock)
    Column("seen_at", Float, nullable=False),  # Unix time the feed found it (our clock)
    UniqueConstraint("fingerprint", "task_uuid", "kind", "version", "part", name="feed_changes_once"),
    Index("feed_changes_task", "fingerprint", "task_uuid", "at"),
    Index("feed_changes_seen", "fingerprint", "seen_at"),  # the digest's "newly assigned"; pruning
)


@dataclass(frozen=True)
class FeedState:
    fingerprint: str
    version: int
    baseline_at: float
    watermark: float | None
    polled_at: float
    interval: float
    leader: str | None

    @property
    def baseline(self) -> datetime:
        return datetime.fromtimestamp(self.baseline_at, UTC)

    def running(self, now: float) -> bool:
        return now - self.polled_at <= max(self.interval, 1.0) * STALE_INTERVALS


@dataclass(frozen=True)
class Snapshot:
    """A task as the feed last saw it (``content``: :func:`~shared_client.feed.events.content_of`), and the
    due date it was last reported overdue for."""

    task: WorkflowTask
    overdue_for: str | None
    content: str = ""


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _task(doc: str) -> WorkflowTask:
    return WorkflowTask.model_validate(json.loads(doc))


def _change(row: Any) -> Change:
    return Change(
        task_uuid=row.task_uuid,
        kind=ChangeKind(row.kind),
        version=row.version,
        detail=json.loads(row.detail),
        part=row.part,
    )


class FeedStore:
    """The change feed's tables on the process's :class:`Database` (whoever opened it closes it)."""

    def __init__(self, db: Database, *, clock: Any = time.time) -> None:
        self.db = db
        self.clock = clock

    async def state(self, fingerprint: str) -> FeedState | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(feed_state).where(feed_state.c.fingerprint == fingerprint))
            ).first()
        if row is None:
            return None
        return FeedState(
            row.fingerprint,
            row.version,
            row.baseline_at,
            row.watermark,
            row.polled_at,
            row.interval,
            row.leader,
        )

    async def snapshot(self, fingerprint: str, uuids: Sequence[str]) -> dict[str, Snapshot]:
        """The stored version of each of these tasks that the feed has seen."""
        found: dict[str, Snapshot] = {}
        wanted = list(dict.fromkeys(uuids))
        async with self.db.connect() as conn:
            for start in range(0, len(wanted), 500):  # bounded IN lists
                chunk = wanted[start : start + 500]
                rows = await conn.execute(
                    select(feed_tasks.c.task_uuid, feed_tasks.c.doc, feed_tasks.c.overdue_for).where(
                        feed_tasks.c.fingerprint == fingerprint, feed_tasks.c.task_uuid.in_(chunk)
                    )
                )
                for row in rows:
                    found[row.task_uuid] = Snapshot(_task(row.doc), row.overdue_for, row.doc)
        return found

    async def task(self, fingerprint: str, uuid: str) -> WorkflowTask | None:
        snap = (await self.snapshot(fingerprint, [uuid])).get(uuid)
        return snap.task if snap else None

    async def overdue_candidates(self, fingerprint: str, now: float) -> list[Snapshot]:
        """Open tasks due at or before ``now``: those not yet reported overdue for their due date are
        :func:`~shared_client.feed.events.became_overdue` (the caller decides)."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(feed_tasks.c.doc, feed_tasks.c.overdue_for).where(
                    feed_tasks.c.fingerprint == fingerprint,
                    feed_tasks.c.closed.is_(False),
                    feed_tasks.c.due_at.is_not(None),
                    feed_tasks.c.due_at <= now,
                )
            )
            return [Snapshot(_task(r.doc), r.overdue_for) for r in rows]

    async def assigned_tasks(
        self, fingerprint: str, *, user_id: int | None, group_ids: Sequence[int] = (), open_only: bool = True
    ) -> list[WorkflowTask]:
        """The tasks in the snapshot assigned to this user or to one of these groups (open ones only,
        unless told otherwise), by due date."""
        who = []
        if user_id is not None:
            who.append(feed_tasks.c.user_id == user_id)
        if group_ids:
            who.append(feed_tasks.c.group_id.in_(list(group_ids)))
        if not who:
            return []
        query = select(feed_tasks.c.doc).where(feed_tasks.c.fingerprint == fingerprint, or_(*who))
        if open_only:
            query = query.where(feed_tasks.c.closed.is_(False))
        async with self.db.connect() as conn:
            rows = await conn.execute(query.order_by(feed_tasks.c.due_at, feed_tasks.c.number))
            return [_task(r.doc) for r in rows]

    async def commit(
        self,
        fingerprint: str,
        *,
        expected_version: int | None,
        tasks: Sequence[WorkflowTask],
        changes: Sequence[Change],
        overdue_marks: Mapping[str, str] | None = None,
        watermark: float | None,
        baseline_at: float,
        interval: float,
        leader: str,
    ) -> bool:
        """One poll, all or nothing: the tasks' new versions, the changes (each once), the watermark, and
        ``overdue_marks`` (task → due date reported overdue, without a change: the baseline's).
        ``expected_version``: the state version the poll started from (None: the feed's first poll, the
        baseline). False, with nothing written, when another poll was committed since (a lost lease)."""
        now = self.clock()
        async with self.db.begin() as conn:
            if expected_version is None:
                inserted = await conn.execute(
                    self.db.insert(feed_state)
                    .values(
                        fingerprint=fingerprint,
                        version=1,
                        baseline_at=baseline_at,
                        watermark=watermark,
                        polled_at=now,
                        interval=interval,
                        leader=leader,
                    )
                    .on_conflict_do_nothing(index_elements=["fingerprint"])
                )
                if inserted.rowcount != 1:
                    await conn.rollback()
                    return False
            else:
                values: dict[str, Any] = {
                    "version": expected_version + 1,
                    "polled_at": now,
                    "interval": interval,
                    "leader": leader,
                }
                if watermark is not None:
                    values["watermark"] = watermark
                fenced = await conn.execute(
                    update(feed_state)
                    .where(feed_state.c.fingerprint == fingerprint)
                    .where(feed_state.c.version == expected_version)
                    .values(**values)
                )
                if fenced.rowcount != 1:
                    await conn.rollback()
                    return False
            overdue = {c.task_uuid: c.version for c in changes if c.kind == ChangeKind.OVERDUE}
            overdue.update(overdue_marks or {})
            rows = [
                {
                    "fingerprint": fingerprint,
                    "task_uuid": task.workflow_task_uuid,
                    "number": task.global_task_number,
                    "version": version_of(task),
                    "doc": content_of(task),
                    "user_id": task.assigned_to_user_id,
                    "group_id": task.assigned_to_group_id,
                    "due_at": _ts(task.due_dts),
                    "closed": bool(task.status is not None and task.status.is_closed),
                }
                for task in tasks
            ]
            upsert = self.db.insert(feed_tasks)
            kept = ("number", "version", "doc", "user_id", "group_id", "due_at", "closed")
            upsert = upsert.on_conflict_do_update(
                index_elements=["fingerprint", "task_uuid"],
                set_={name: upsert.excluded[name] for name in kept},
            )
            # One statement for all the rows (executemany, in batches): a baseline of 10,000 tasks is one
            # transaction, and row-by-row it held SQLite's write lock for seconds.
            for start in range(0, len(rows), BATCH):
                await conn.execute(upsert, rows[start : start + BATCH])
            marks = [{"mark_uuid": uuid, "mark_due": due} for uuid, due in overdue.items()]
            mark = (
                update(feed_tasks)
                .where(
                    feed_tasks.c.fingerprint == fingerprint, feed_tasks.c.task_uuid == bindparam("mark_uuid")
                )
                .values(overdue_for=bindparam("mark_due"))
            )
            for start in range(0, len(marks), BATCH):  # a baseline marks every task overdue already
                await conn.execute(mark, marks[start : start + BATCH])
            for change in changes:
                at = _version_time(change, now)
                await conn.execute(
                    self.db.insert(feed_changes)
                    .values(
                        fingerprint=fingerprint,
                        task_uuid=change.task_uuid,
                        kind=change.kind.value,
                        version=change.version,
                        part=change.part,
                        detail=json.dumps(change.detail, separators=(",", ":"), sort_keys=True),
                        at=at,
                        seen_at=now,
                    )
                    .on_conflict_do_nothing(
                        index_elements=["fingerprint", "task_uuid", "kind", "version", "part"]
                    )
                )
        return True

    async def prune(self, fingerprint: str, *, keep: float = KEEP_CHANGES) -> int:
        """Forget the changes found more than ``keep`` seconds ago (consumers are long past them; the
        digest looks back a week at most, ``list_recent_changes`` then answers from the tasks' history)."""
        async with self.db.begin() as conn:
            gone = await conn.execute(
                delete(feed_changes).where(
                    feed_changes.c.fingerprint == fingerprint, feed_changes.c.seen_at < self.clock() - keep
                )
            )
        return int(gone.rowcount or 0)

    async def changes_after(
        self, fingerprint: str, after_id: int, *, limit: int = 1000
    ) -> list[tuple[int, Change]]:
        """The changes recorded after id ``after_id``, oldest first (a consumer's cursor is the last id)."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(feed_changes)
                .where(feed_changes.c.fingerprint == fingerprint, feed_changes.c.id > after_id)
                .order_by(feed_changes.c.id)
                .limit(limit)
            )
            return [(row.id, _change(row)) for row in rows]

    async def last_change_id(self, fingerprint: str) -> int:
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(feed_changes.c.id)
                .where(feed_changes.c.fingerprint == fingerprint)
                .order_by(feed_changes.c.id.desc())
                .limit(1)
            )
            row = rows.first()
            return int(row.id) if row else 0

    async def changes_since(
        self, fingerprint: str, task_uuids: Sequence[str], since: datetime
    ) -> RecentChanges | None:
        state = await self.state(fingerprint)
        if state is None or not state.running(self.clock()):
            return None
        found: dict[str, list[Change]] = {}
        wanted = list(dict.fromkeys(task_uuids))
        async with self.db.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = await conn.execute(
                    select(feed_changes)
                    .where(
                        feed_changes.c.fingerprint == fingerprint,
                        feed_changes.c.task_uuid.in_(wanted[start : start + 500]),
                        feed_changes.c.at >= since.timestamp(),
                    )
                    .order_by(feed_changes.c.id)
                )
                for row in rows:
                    found.setdefault(row.task_uuid, []).append(_change(row))
        return RecentChanges(found, state.baseline, datetime.fromtimestamp(state.polled_at, UTC))


def _version_time(change: Change, now: float) -> float:
    try:
        return datetime.fromisoformat(change.version).timestamp()
    except ValueError:
        return now
