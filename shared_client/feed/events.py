"""What changed on a task: a stored snapshot compared with the task as UltraCart has it now.

UltraCart has no webhooks for workflow tasks and no change log but ``last_update_dts`` (and its
``histories``, whose wording is undocumented). The change feed (:mod:`shared_client.feed.poller`) keeps the
last version of each task it has seen; :func:`diff` turns a newer version into typed :class:`Change` events,
and :func:`became_overdue` finds the tasks whose due date has passed since (which changes nothing on the task,
so no search would find it).

Each change has an identity (:attr:`Change.key`): the task, the kind, and the version it was seen in (the
task's ``last_update_dts``; for ``overdue``, the due date that passed; for notes and attachments, also which
one). The same change seen twice (a poll repeated after a crash, an overlapping window) has the same key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared_client.models import WorkflowNote, WorkflowTask, WorkflowUser, format_uc_datetime

__all__ = [
    "NOTIFIABLE",
    "Change",
    "ChangeKind",
    "ChangeLog",
    "RecentChanges",
    "became_overdue",
    "content_of",
    "diff",
    "excerpt",
    "is_overdue",
    "version_of",
]


class ChangeKind(StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"  # to a user or a group (detail: user_id / group_id, and the names)
    UNASSIGNED = "unassigned"
    STATUS = "status"  # from one open status to another (closing and reopening have their own kinds)
    PRIORITY = "priority"
    DUE = "due"  # the due date set, moved or cleared
    NOTE = "note"  # a note added (detail: author, text)
    ATTACHMENT = "attachment"  # a file attached to the task or to one of its notes
    CLOSED = "closed"
    REOPENED = "reopened"
    OVERDUE = "overdue"  # the due date passed while the task was open


# Subscription event names (CONTRACT: `events:created,assigned,status,priority,due,note,closed,overdue`) and
# the change kinds each one covers.
NOTIFIABLE: dict[str, frozenset[ChangeKind]] = {
    "created": frozenset({ChangeKind.CREATED}),
    "assigned": frozenset({ChangeKind.ASSIGNED, ChangeKind.UNASSIGNED}),
    "status": frozenset({ChangeKind.STATUS, ChangeKind.REOPENED}),
    "priority": frozenset({ChangeKind.PRIORITY}),
    "due": frozenset({ChangeKind.DUE}),
    "note": frozenset({ChangeKind.NOTE, ChangeKind.ATTACHMENT}),
    "closed": frozenset({ChangeKind.CLOSED}),
    "overdue": frozenset({ChangeKind.OVERDUE}),
}


@dataclass(frozen=True)
class Change:
    """One change to one task, as the feed saw it."""

    task_uuid: str
    kind: ChangeKind
    version: str  # the task's last_update_dts (ISO) when seen; for OVERDUE, the due date that passed
    detail: dict[str, Any] = field(default_factory=dict)  # JSON-safe: what it was, what it is, who
    part: str = ""  # which note / attachment (a hash), so two notes in one version are two changes

    @property
    def key(self) -> str:
        """The change's identity: the same change seen again has the same key."""
        return f"{self.task_uuid}:{self.kind.value}:{self.version}:{self.part}"

    def describe(self) -> str:
        """One line, e.g. ``status: open → delayed``."""
        d = self.detail
        match self.kind:
            case ChangeKind.CREATED:
                return "created" + (f" by {d['by']}" if d.get("by") else "")
            case ChangeKind.ASSIGNED:
                was = f" (was {d['was']})" if d.get("was") else ""
                return f"assigned to {d.get('to') or 'someone'}{was}"
            case ChangeKind.UNASSIGNED:
                return "unassigned" + (f" (was {d['was']})" if d.get("was") else "")
            case ChangeKind.NOTE:
                return f"note by {d.get('by') or 'someone'}: {d.get('text') or ''}".rstrip(": ")
            case ChangeKind.ATTACHMENT:
                return f"attached {d.get('file') or 'a file'}"
            case ChangeKind.CLOSED:
                return f"closed ({d['to']})" if d.get("to") and d["to"] != "closed" else "closed"
            case ChangeKind.REOPENED:
                return f"reopened ({d.get('to') or 'open'})"
            case ChangeKind.OVERDUE:
                return f"overdue (due {d.get('due') or self.version})"
            case _:
                was, now = d.get("was") or "none", d.get("to") or "none"
                return f"{self.kind.value}: {was} → {now}"

    def to_json(self) -> dict[str, Any]:
        return {
            "task_uuid": self.task_uuid,
            "kind": self.kind.value,
            "version": self.version,
            "detail": self.detail,
            "part": self.part,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            task_uuid=str(data["task_uuid"]),
            kind=ChangeKind(data["kind"]),
            version=str(data["version"]),
            detail=dict(data.get("detail") or {}),
            part=str(data.get("part") or ""),
        )


def _iso(value: datetime | None) -> str | None:
    return format_uc_datetime(value) if value is not None else None


def content_of(task: WorkflowTask) -> str:
    """The task as the feed keeps and compares it: UltraCart's JSON without ``histories`` (they only grow,
    and nothing the feed compares is in them). Two versions in one second (UltraCart's timestamps have
    seconds) have the same ``last_update_dts``, so the content, not the version, says whether it changed."""
    wire = task.to_wire()
    wire.pop("histories", None)
    for attachment in [
        *wire.get("attachments", []),
        *(a for n in wire.get("notes", []) for a in n.get("attachments", [])),
    ]:
        attachment.pop("download_key", None)  # a temporary URL, new in every answer
    return json.dumps(wire, separators=(",", ":"), sort_keys=True)


def version_of(task: WorkflowTask) -> str:
    """The version a task is in: its ``last_update_dts`` (ISO), or ``""`` if UltraCart left it out."""
    return _iso(task.last_update_dts) or ""


def _name(user: WorkflowUser | None) -> str | None:
    if user is None:
        return None
    return user.user or (f"user {user.user_id}" if user.user_id is not None else None)


def _assignee(task: WorkflowTask) -> tuple[int | None, int | None]:
    return task.assigned_to_user_id, task.assigned_to_group_id


def _assignee_name(task: WorkflowTask) -> str | None:
    if task.assigned_to_user_id is not None:
        return task.assigned_to_user or f"user {task.assigned_to_user_id}"
    if task.assigned_to_group_id is not None:
        return task.assigned_to_group or f"group {task.assigned_to_group_id}"
    return None


def _closed(task: WorkflowTask) -> bool:
    return task.status is not None and task.status.is_closed


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:12]


def _note_id(note: WorkflowNote) -> str:
    """A note has no id in UltraCart's schema: its time, author and original text name it (an edit keeps
    ``original_note``, so an edited note is not a new one)."""
    author = note.user.user_id if note.user is not None else None
    return _hash(_iso(note.note_dts), author, note.original_note or note.note)


def _files(task: WorkflowTask) -> dict[str, str]:
    """Every attachment of the task and of its notes: an id → its file name."""
    found: dict[str, str] = {}
    on_notes = (a for n in task.notes or [] for a in n.attachments or [])
    for attachment in [*(task.attachments or []), *on_notes]:
        ident = attachment.file_uuid or attachment.upload_key or attachment.file_name or ""
        if ident:
            found[_hash(ident)] = attachment.file_name or "a file"
    return found


def excerpt(text: str | None, limit: int = 300) -> str:
    """``text`` on one line (whitespace folded), cut to ``limit`` characters with ``…``."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff(
    old: WorkflowTask | None, new: WorkflowTask, *, baseline: datetime | None, seen_at: datetime | None = None
) -> list[Change]:
    """The changes from ``old`` (the snapshot; None: never seen) to ``new``.

    A task never seen is ``created`` (and ``assigned``, if it has an assignee) when it was created after the
    feed's ``baseline`` (without ``created_dts``: changed after it); one created before it is learned
    silently: the feed cannot know what changed on it. A task without ``last_update_dts`` (UltraCart left it
    out) is in the version of ``seen_at``, the poll's time: else every change to it would share the version
    ``""``, and one that brings a field back to an earlier value would have an earlier change's identity and
    be dropped as already recorded.
    """
    uuid = new.workflow_task_uuid or ""
    version = version_of(new) or (_iso(seen_at) or "")
    changes: list[Change] = []

    def add(kind: ChangeKind, part: str = "", **detail: Any) -> None:
        kept = {k: v for k, v in detail.items() if v is not None}
        # Two changes of one kind in one second share the version: what it became tells them apart.
        changes.append(Change(uuid, kind, version, kept, part or _hash(kept.get("to"))))

    if old is None:
        # Without created_dts (UltraCart left it out), its first version tells: a task the feed meets after
        # its baseline, changed since, was not there when the baseline listed every task.
        born = new.created_dts or new.last_update_dts
        if born is None or baseline is None or born < baseline:
            return []
        add(ChangeKind.CREATED, by=_name(new.created_by))
        if _assignee(new) != (None, None):
            add(
                ChangeKind.ASSIGNED,
                to=_assignee_name(new),
                user_id=new.assigned_to_user_id,
                group_id=new.assigned_to_group_id,
            )
        return changes
    if _assignee(old) != _assignee(new):
        if _assignee(new) == (None, None):
            add(
                ChangeKind.UNASSIGNED,
                was=_assignee_name(old),
                was_user_id=old.assigned_to_user_id,
                was_group_id=old.assigned_to_group_id,
            )
        else:
            add(
                ChangeKind.ASSIGNED,
                to=_assignee_name(new),
                was=_assignee_name(old),
                user_id=new.assigned_to_user_id,
                group_id=new.assigned_to_group_id,
                was_user_id=old.assigned_to_user_id,
                was_group_id=old.assigned_to_group_id,
            )
    if str(old.status or "") != str(new.status or ""):
        was, to = str(old.status or "") or None, str(new.status or "") or None
        if _closed(new) and not _closed(old):
            add(ChangeKind.CLOSED, was=was, to=to)
        elif _closed(old) and not _closed(new):
            add(ChangeKind.REOPENED, was=was, to=to)
        else:
            add(ChangeKind.STATUS, was=was, to=to)
    if str(old.priority or "") != str(new.priority or ""):
        add(ChangeKind.PRIORITY, was=str(old.priority or "") or None, to=str(new.priority or "") or None)
    if old.due_dts != new.due_dts:
        add(ChangeKind.DUE, was=_iso(old.due_dts), to=_iso(new.due_dts))
    seen = {_note_id(n) for n in old.notes or []}
    for note in new.notes or []:
        ident = _note_id(note)
        if ident not in seen:
            seen.add(ident)
            add(
                ChangeKind.NOTE,
                ident,
                by=_name(note.user),
                by_user_id=note.user.user_id if note.user else None,
                text=excerpt(note.note),
            )
    before = _files(old)
    for ident, name in _files(new).items():
        if ident not in before:
            add(ChangeKind.ATTACHMENT, ident, file=name)
    return changes


def is_overdue(task: WorkflowTask, now: datetime) -> bool:
    """Open, with a due date that has passed."""
    return task.due_dts is not None and task.due_dts <= now and not _closed(task)


def became_overdue(task: WorkflowTask, now: datetime, *, already: str | None) -> Change | None:
    """``overdue`` if the task is overdue at ``now`` and was not already reported overdue for this due
    date (``already``: the due date it was last reported overdue for)."""
    if not is_overdue(task, now):
        return None
    due = _iso(task.due_dts) or ""
    if already == due:
        return None
    return Change(
        task.workflow_task_uuid or "",
        ChangeKind.OVERDUE,
        due,
        {"due": due, "user_id": task.assigned_to_user_id, "group_id": task.assigned_to_group_id},
    )


@dataclass(frozen=True)
class RecentChanges:
    """What the change feed of this deployment knows about some tasks since a time."""

    changes: dict[str, list[Change]]  # task uuid → its changes since then, oldest first (absent: none seen)
    watching_since: datetime  # the feed's baseline: before it, nothing is known
    polled_at: datetime  # the feed's last poll: changes after it are not known yet


class ChangeLog(Protocol):
    """Read access to the change feed's events (``shared_client.feed.store.FeedStore`` is one)."""

    async def changes_since(
        self, fingerprint: str, task_uuids: Sequence[str], since: datetime
    ) -> RecentChanges | None:
        """The changes the feed of credential ``fingerprint`` saw on these tasks at or after ``since``;
        None when no feed runs for that credential in this deployment (none ever did, or it stopped: its
        last poll is older than a few intervals)."""
        ...
