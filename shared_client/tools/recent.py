"""``list_recent_changes``: the tasks changed since a time, each with what changed when that is known.

One UltraCart search per page: the filters of ``search_tasks`` plus ``last_update_dts_begin`` (and ``_end``),
newest change first. What changed comes from this deployment's change feed when one runs for the caller's
key (``ToolContext.change_log``: typed changes, :meth:`Change.describe`), and otherwise from what the task
itself says, at no extra call (the search answers whole tasks): its ``histories`` entries, notes and creation
inside the window. The feed knows nothing before its baseline (``watching_since``) nor after its last poll:
those parts come from the history too (``changes_source`` ``feed+history``).

A cursor carries the window it was made for (``OFFSET.QUERY.SINCE[.UNTIL]``, in epoch seconds): "the last
24 hours" does not slide between pages. The window's end stays open unless ``until`` was given, so a task
changed while the caller pages moves to the first page (already read; a new call finds it) and may show
twice; none is skipped for it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field

from shared_client.feed.events import Change, RecentChanges, excerpt
from shared_client.models import WorkflowTask, WorkflowUser
from shared_client.tools.base import READ, OutputModel, tool
from shared_client.tools.context import ToolContext
from shared_client.tools.errors import ToolInputError
from shared_client.tools.inputs import SinceTime, UntilTime
from shared_client.tools.outputs import (
    TaskDetail,
    TaskSummary,
    UntrustedOutput,
    detail,
    summarize,
    summary_row,
    task_text,
)
from shared_client.tools.search import (
    Cursor,
    Detail,
    SearchFilters,
    build_search_request,
    decode_cursor,
    encode_cursor,
    page_limit,
    query_fingerprint,
    search_page,
)
from shared_client.tools.values import clean_text, parse_when_ago

LOG = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(hours=24)
# Ties (one second holds many changes) by number, so that pages never overlap or skip.
NEWEST_CHANGE_FIRST = "-last_update_dts,-global_task_number"
EXCERPT = 300  # characters of a note or a history entry in a change line

ChangesSource = Literal["feed", "history", "feed+history"]


class RecentChangesInput(SearchFilters):
    since: SinceTime | None = Field(
        default=None,
        description="Changed at or after this: a date, a date-time, today/yesterday, or a time ago "
        "('24 hours ago', '2d', '1 week'). Default: 24 hours ago.",
        examples=["yesterday", "24 hours ago", "2026-12-01T09:00:00Z"],
    )
    until: UntilTime | None = Field(
        default=None,
        description="Changed at or before this (same forms; a bare date: its end). Default: now.",
    )
    limit: int = page_limit(50)
    cursor: Cursor = None
    detail: Detail = False


class WhatChanged(OutputModel):
    changes: list[str] | None = Field(
        default=None,
        description="What changed inside the window, oldest first ('TIME what'); absent: not known",
    )
    changes_source: ChangesSource | None = Field(
        default=None,
        description="feed: this deployment's change feed saw the changes; history: the task's own history "
        "and notes; feed+history: the feed, and the history for what the feed did not watch",
    )


class RecentTask(TaskSummary, WhatChanged):
    updated: str | None = Field(default=None, description="When the task last changed")


class RecentTaskDetail(TaskDetail, WhatChanged):
    pass


class RecentChangesOutput(UntrustedOutput):
    since: str = Field(description="The window's start, as used")
    until: str | None = Field(default=None, description="The window's end, when one was given")
    tasks: list[RecentTask] | None = None
    tasks_detail: list[RecentTaskDetail] | None = None
    count: int
    total: int | None = None
    has_more: bool
    next_cursor: str | None = None
    watching_since: str | None = Field(
        default=None,
        description="The change feed's baseline (when the feed said what changed): it knows nothing before",
    )
    polled_at: str | None = Field(default=None, description="The change feed's last poll")
    complete: bool | None = Field(
        default=None,
        description="true: the change feed watched the window from its start (what changed after its last "
        "poll, polled_at, comes from the tasks' own history)",
    )

    def render(self) -> str:
        head = f"{self.count} task(s)" + (f" of {self.total}" if self.total is not None else "")
        head += f" changed since {self.since}" + (f" until {self.until}" if self.until else "")
        if self.watching_since:
            head += f"; what changed: the change feed (watching since {self.watching_since}"
            head += ")" if self.complete else "; before that, the tasks' history)"
        lines = [head]
        for summary in self.tasks or []:
            lines.append(summary_row(summary) + (f" updated {summary.updated}" if summary.updated else ""))
            lines.extend(f"  - {c}" for c in summary.changes or [])
        for full in self.tasks_detail or []:
            lines.append(task_text(full))
            lines.extend(["changed:", *(f"  - {c}" for c in full.changes or [])] if full.changes else [])
            lines.append("")
        if self.has_more:
            lines.append(f"more: cursor {self.next_cursor}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the window and its cursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WINDOW_CURSOR = re.compile(r"(\d{1,9}\.[0-9a-f]{1,64})\.(-?\d{1,12})(?:\.(-?\d{1,12}))?")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


def _seconds(value: datetime) -> str:
    return str(int((value - _EPOCH).total_seconds()))


def encode_window_cursor(offset: int, query: str, since: datetime, until: datetime | None) -> str:
    window = f".{_seconds(since)}" + (f".{_seconds(until)}" if until is not None else "")
    return encode_cursor(offset, query) + window


def decode_window_cursor(cursor: str, query: str) -> tuple[int, datetime, datetime | None]:
    """The offset and the window a cursor of this query (``query_fingerprint``) goes on with."""
    found = _WINDOW_CURSOR.fullmatch(cursor)
    if found is None:
        raise ToolInputError.about("cursor", "use the next_cursor value of a previous list_recent_changes")
    offset = decode_cursor(found.group(1), query)
    try:
        since = _EPOCH + timedelta(seconds=int(found.group(2)))
        until = _EPOCH + timedelta(seconds=int(found.group(3))) if found.group(3) else None
    except OverflowError:
        raise ToolInputError.about(
            "cursor", "use the next_cursor value of a previous list_recent_changes"
        ) from None
    return offset, since, until


def _bound(field: str, text: str, *, end_of_day: bool, now: datetime) -> datetime:
    try:
        return parse_when_ago(text, end_of_day=end_of_day, now=now)
    except ValueError as exc:
        raise ToolInputError.about(field, str(exc)) from None


def _window(params: RecentChangesInput, now: datetime) -> tuple[datetime, datetime | None]:
    since = (
        _bound("since", params.since, end_of_day=False, now=now)
        if params.since
        else (now - DEFAULT_WINDOW).replace(microsecond=0)
    )
    until = _bound("until", params.until, end_of_day=True, now=now) if params.until else None
    if until is not None and until < since:
        raise ToolInputError.about(
            "until", f"is before since ({_iso(since)}); give a later until or an earlier since"
        )
    return since, until


# --------------------------------------------------------------------------- what changed


def _who(user: WorkflowUser | None) -> str | None:
    if user is None:
        return None
    return clean_text(user.user) or (f"user {user.user_id}" if user.user_id is not None else None)


def _excerpt(text: str | None) -> str:
    return excerpt(clean_text(text), EXCERPT)


def _line(when: datetime | None, what: str) -> str:
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ ") if when is not None else ""
    return stamp + what


Found = list[tuple[datetime, str]]


def from_history(task: WorkflowTask, since: datetime, until: datetime | None) -> Found:
    """What the task itself says changed inside the window: its creation, its notes and its history
    entries (an entry that only repeats the creation or a note shown is left out), oldest first."""

    def inside(when: datetime | None) -> bool:
        return when is not None and when >= since and (until is None or when <= until)

    found: Found = []
    created = task.created_dts if inside(task.created_dts) else None
    if created is not None:
        by = _who(task.created_by)
        found.append((created, "created" + (f" by {by}" if by else "")))
    notes = [n for n in task.notes or [] if n.note_dts is not None and inside(n.note_dts)]
    for note in notes:
        assert note.note_dts is not None
        found.append((note.note_dts, f"note by {_who(note.user) or 'someone'}: {_excerpt(note.note)}"))
    shown_notes = {(n.note_dts, n.user.user_id if n.user else None) for n in notes}
    for entry in task.histories or []:
        when, what = entry.activity_dts, _excerpt(entry.description)
        if when is None or not inside(when) or not what:
            continue
        lowered = what.lower()
        if created is not None and when == created and "creat" in lowered:
            continue
        if "note" in lowered and (when, entry.user.user_id if entry.user else None) in shown_notes:
            continue
        by = _who(entry.user)
        found.append((when, f"{what} ({by})" if by else what))
    found.sort(key=lambda item: item[0])
    return found


def _seen_at(change: Change) -> datetime | None:
    try:
        seen = datetime.fromisoformat(change.version)
    except ValueError:
        return None
    return seen if seen.tzinfo else seen.replace(tzinfo=UTC)


def what_changed(
    task: WorkflowTask, since: datetime, until: datetime | None, feed: RecentChanges | None
) -> tuple[list[str], ChangesSource]:
    """The change lines of one task, and where they come from."""
    history = from_history(task, since, until)
    if feed is None:
        return [_line(when, what) for when, what in history], "history"
    fed = [
        (seen, _excerpt(change.describe()))
        for change in feed.changes.get(task.workflow_task_uuid or "", [])
        if (seen := _seen_at(change)) is None or (seen >= since and (until is None or seen <= until))
    ]
    if not fed:
        # Nothing of a kind the feed knows (a name, the details, tags), or not polled yet: the history.
        return [_line(when, what) for when, what in history], "history"
    before = [(w, t) for w, t in history if w < feed.watching_since]
    after = [(w, t) for w, t in history if w > feed.polled_at]
    lines = [_line(w, t) for w, t in before] + [_line(w, t) for w, t in fed] + [_line(w, t) for w, t in after]
    return lines, "feed+history" if before or after else "feed"


async def read_feed(ctx: ToolContext, task_uuids: Sequence[str], since: datetime) -> RecentChanges | None:
    """What the deployment's change feed saw on these tasks since ``since``; None when there is no feed for
    this key, or it cannot be read now (the tasks' history still says what changed)."""
    if ctx.change_log is None or not task_uuids:
        return None
    try:
        return await ctx.change_log.changes_since(ctx.client.fingerprint, task_uuids, since)
    except Exception as exc:  # the feed only adds detail: the answer stands without it
        LOG.warning(
            "list_recent_changes: the change feed could not be read (%s); the tasks' history says what "
            "changed",
            type(exc).__name__,
        )
        return None


# --------------------------------------------------------------------------- the tool


async def _recent(ctx: ToolContext, params: RecentChangesInput) -> RecentChangesOutput:
    """List recent changes

    Tasks changed since a time, newest change first, each with what changed: from this deployment's change
    feed when one runs, else from the task's own history and notes (changes, changes_source). since: a
    date, a date-time, 'yesterday', or a time ago ('24 hours ago', '2d'); default the last 24 hours;
    until optional. Filters as search_tasks (status, priority, assignee incl. 'me', group, object_type +
    object_id, object_email, tags, created_by, overdue, due/created/delay_until ranges). One UltraCart
    search per page; page with next_cursor. Example: {'since': 'yesterday', 'assignee': 'me'}."""
    query = query_fingerprint(params)
    now = ctx.clock()
    if params.cursor:
        offset, since, until = decode_window_cursor(params.cursor, query)
    else:
        offset, (since, until) = 0, _window(params, now)
    request = await build_search_request(ctx, params)
    request.last_update_dts_begin = since
    request.last_update_dts_end = until
    tasks, more, next_offset, total = await search_page(
        ctx, params, request, sort=NEWEST_CHANGE_FIRST, offset=offset, limit=params.limit
    )
    feed = await read_feed(ctx, [t.workflow_task_uuid for t in tasks if t.workflow_task_uuid], since)
    summaries: list[RecentTask] = []
    details: list[RecentTaskDetail] = []
    for task in tasks:
        lines, source = what_changed(task, since, until, feed)
        changes, changes_source = (lines, source) if lines else (None, None)
        if params.detail:
            full = detail(task, now)
            details.append(RecentTaskDetail(**dict(full), changes=changes, changes_source=changes_source))
        else:
            summary = summarize(task, now)
            summaries.append(
                RecentTask(
                    **dict(summary),
                    updated=_iso(task.last_update_dts),
                    changes=changes,
                    changes_source=changes_source,
                )
            )
    return RecentChangesOutput(
        since=_iso(since) or "",
        until=_iso(until),
        tasks=None if params.detail else summaries,
        tasks_detail=details if params.detail else None,
        count=len(tasks),
        total=total,
        has_more=more,
        next_cursor=encode_window_cursor(next_offset, query, since, until) if more else None,
        watching_since=_iso(feed.watching_since) if feed else None,
        polled_at=_iso(feed.polled_at) if feed else None,
        complete=(feed.watching_since <= since) if feed else None,
    )


LIST_RECENT_CHANGES = tool(_recent, name="list_recent_changes", toolset="tasks", hints=READ)
