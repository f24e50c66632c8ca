"""Which Slack member made which version of a task from Slack, so that the change feed tells nobody about
their own change; and the immediate DM to a task's new assignee sent through the outbox's identity, so that
the feed's DM for the same assignment is not a second one."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from shared_client.database import Database, DatabaseUnavailable
from slack_bot.notify.tables import notify_slack_writes

log = logging.getLogger("slack_bot.notify")

__all__ = ["made_by", "record_slack_write", "version_seconds"]


def version_seconds(version: str | None) -> int | None:
    """A task version (its ``last_update_dts``, ISO) as Unix seconds: the feed keeps milliseconds when
    UltraCart sends them, the tools' views whole seconds; both name the same version this way."""
    if not version:
        return None
    try:
        return int(datetime.fromisoformat(version).timestamp())
    except ValueError:
        return None


async def record_slack_write(db: Database, task_uuid: str, version: str | None, slack_user_id: str) -> None:
    """``slack_user_id`` made ``version`` of the task from Slack. Never fails the member's change: the
    change is made already; at worst they hear about it once."""
    seconds = version_seconds(version)
    if not task_uuid or seconds is None:
        return
    statement = (
        db.insert(notify_slack_writes)
        .values(task_uuid=task_uuid, version=seconds, slack_user_id=slack_user_id, written_at=time.time())
        .on_conflict_do_nothing()
    )
    try:
        async with db.begin() as conn:
            await conn.execute(statement)
    except DatabaseUnavailable as exc:
        log.warning("could not record a change made from Slack (%s); its author may hear of it", exc.cause)


async def made_by(db: Database, task_uuid: str, versions: Sequence[str]) -> set[str]:
    """The Slack members who made any of these versions of the task from Slack."""
    seconds = {s for s in (version_seconds(v) for v in versions) if s is not None}
    if not seconds:
        return set()
    w = notify_slack_writes.c
    query = select(w.slack_user_id).where(w.task_uuid == task_uuid, w.version.in_(sorted(seconds)))
    async with db.connect() as conn:
        return {str(s) for s in await conn.scalars(query)}
