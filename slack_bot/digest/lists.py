"""What a digest lists: a member's open tasks split into overdue, due today (in their time zone) and newly
assigned (assigned to them since the previous digest, or in the last 24 hours).

"Theirs" means assigned to their UltraCart user, or to one of the groups known for them and to no one in it
yet (a group task someone already took is that person's, not a reminder for the whole group). Each task is
in one list: overdue, else due today, else newly assigned.

Two sources: the change feed's snapshot and its ``assigned`` changes (:func:`from_feed`, for the DM: no
UltraCart call), or App Home's own search results plus the feed's changes (:func:`split`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select

from shared_client.database import Database
from shared_client.feed.events import ChangeKind
from shared_client.feed.store import FeedStore, feed_changes
from shared_client.models import WorkflowTask
from shared_client.tools.outputs import TaskSummary, summarize
from slack_bot.blocks.common import parse_iso
from slack_bot.digest.store import DigestSetting

__all__ = [
    "DEFAULT_WINDOW",
    "MAX_WINDOW",
    "Assignment",
    "DigestLists",
    "assignments",
    "from_feed",
    "newly_assigned",
    "split",
    "window_start",
]

DEFAULT_WINDOW = timedelta(hours=24)  # "newly assigned" for a first digest, and on App Home without one
MAX_WINDOW = timedelta(days=7)  # after a digest was off for weeks: not every assignment since


@dataclass(frozen=True)
class DigestLists:
    overdue: list[TaskSummary]
    due_today: list[TaskSummary]
    new: list[TaskSummary] | None  # None: not known (no change feed in this deployment)

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.due_today or self.new)

    def count(self) -> str:
        """``2 overdue, 1 due today, 3 newly assigned`` (the lists that have any)."""
        parts = [
            f"{len(tasks)} {label}"
            for tasks, label in (
                (self.overdue, "overdue"),
                (self.due_today, "due today"),
                (self.new or [], "newly assigned"),
            )
            if tasks
        ]
        return ", ".join(parts) or "nothing due"


@dataclass(frozen=True)
class Assignment:
    """An ``assigned`` change the feed recorded: to a user, or to a group (``user_id`` None)."""

    task_uuid: str
    user_id: int | None
    group_id: int | None
    seen_at: float


def _due_today(summary: TaskSummary, zone: tzinfo, now: datetime) -> bool:
    due = parse_iso(summary.due)
    return due is not None and due.astimezone(zone).date() == now.astimezone(zone).date()


def split(
    tasks: Iterable[TaskSummary], *, new: Sequence[str] | None, zone: tzinfo, now: datetime
) -> DigestLists:
    """``tasks`` (the member's open tasks) as the three lists; ``new``: the uuids newly assigned to them,
    most recent first (None: not known)."""
    mine = {s.uuid: s for s in tasks if not s.closed}
    overdue = [s for s in mine.values() if s.overdue]
    due_today = [s for s in mine.values() if not s.overdue and _due_today(s, zone, now)]
    listed = {s.uuid for s in (*overdue, *due_today)}
    fresh = None
    if new is not None:
        fresh = [mine[u] for u in dict.fromkeys(new) if u in mine and u not in listed]
    return DigestLists(overdue, due_today, fresh)


def window_start(setting: DigestSetting | None, now: datetime) -> datetime:
    """Where "newly assigned" starts: where the last digest sent stopped looking (at most a week back),
    else 24 hours ago."""
    if setting is None or setting.covered_until is None:
        return now - DEFAULT_WINDOW
    covered = datetime.fromtimestamp(setting.covered_until, now.tzinfo)
    return max(covered, now - MAX_WINDOW)


async def assignments(db: Database, fingerprint: str, since: datetime, until: datetime) -> list[Assignment]:
    """The ``assigned`` changes the feed found after ``since`` and up to ``until`` (its own clock: when it
    found them, so a change is in exactly one digest's window), most recent first."""
    f = feed_changes.c
    query = (
        select(f.task_uuid, f.detail, f.seen_at)
        .where(
            f.fingerprint == fingerprint,
            f.kind == ChangeKind.ASSIGNED.value,
            f.seen_at > since.timestamp(),
            f.seen_at <= until.timestamp(),
        )
        .order_by(f.id.desc())
    )
    async with db.connect() as connection:
        rows = (await connection.execute(query)).all()
    found = []
    for row in rows:
        detail = json.loads(row.detail)
        user, group = detail.get("user_id"), detail.get("group_id")
        found.append(
            Assignment(
                str(row.task_uuid),
                int(user) if user is not None else None,
                int(group) if group is not None else None,
                float(row.seen_at),
            )
        )
    return found


def newly_assigned(
    found: Iterable[Assignment],
    *,
    user_id: int,
    group_ids: Iterable[int] = (),
    group_tasks: Iterable[str] = (),
) -> list[str]:
    """The tasks of ``found`` assigned to this user, or to one of these groups with no one in it (or, for
    App Home, to a group at all when the task is among ``group_tasks``: UltraCart's own group tasks for
    the member), most recent first."""
    groups, in_groups = set(group_ids), set(group_tasks)

    def to_them(a: Assignment) -> bool:
        if a.user_id is not None:
            return a.user_id == user_id
        return a.group_id is not None and (a.group_id in groups or a.task_uuid in in_groups)

    return list(dict.fromkeys(a.task_uuid for a in found if to_them(a)))


def _theirs(task: WorkflowTask, user_id: int, group_ids: set[int]) -> bool:
    if task.assigned_to_user_id is not None:
        return task.assigned_to_user_id == user_id
    return task.assigned_to_group_id is not None and task.assigned_to_group_id in group_ids


async def from_feed(
    store: FeedStore,
    fingerprint: str,
    *,
    user_id: int,
    group_ids: Sequence[int],
    zone: tzinfo,
    now: datetime,
    since: datetime,
) -> DigestLists:
    """The member's lists from the feed's snapshot and its ``assigned`` changes since ``since``."""
    groups = set(group_ids)
    tasks = await store.assigned_tasks(fingerprint, user_id=user_id, group_ids=sorted(groups))
    summaries = [summarize(task, now) for task in tasks if _theirs(task, user_id, groups)]
    found = await assignments(store.db, fingerprint, since, now)
    new = newly_assigned(found, user_id=user_id, group_ids=groups)
    return split(summaries, new=new, zone=zone, now=now)
