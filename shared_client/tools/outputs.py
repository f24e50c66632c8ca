"""Trimmed views of tasks for tool results: the model's context is the budget.

A summary carries what a person needs to pick a task; a detail carries everything, with text that people
wrote cleaned of invisible characters and flagged as untrusted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_serializer

from shared_client.models import Status, WorkflowAttachment, WorkflowTask, WorkflowUser
from shared_client.tools.base import UNTRUSTED_NOTICE, OutputModel
from shared_client.tools.values import clean_text, friendly_priority


class TaskSummary(OutputModel):
    # A task in a list, for picking one. The number is how people and tools refer to it (every tool takes
    # '#123', resolved from the list just read at no cost), so the uuid is sent only for a task without one
    # (the front ends read it from the model); get_task has it, and the exact due time.
    uuid: str = Field(default="", exclude=True)
    unnumbered_uuid: str | None = Field(
        default=None, serialization_alias="uuid", description="The task's uuid, only when it has no number"
    )
    number: int | None = None
    name: str | None = None
    status: str | None = None
    priority: str | None = None
    assignee: str | None = Field(default=None, description="The user the task is assigned to")
    group: str | None = Field(default=None, description="The group the task is assigned to")
    due: str | None = Field(default=None, description="The due date (YYYY-MM-DD), in the task's time zone")
    # Sent only when true (the schema's default says false): most tasks in a list are not overdue.
    overdue: bool = Field(default=False, exclude_if=lambda overdue: not overdue)
    object: str | None = Field(
        default=None, description="The linked UltraCart object, e.g. 'order DEMO-1234'"
    )

    @field_serializer("due", when_used="json")
    def _due_date(self, due: str | None) -> str | None:
        return due[:10] if due else due

    @property
    def closed(self) -> bool:
        return is_closed(self.status)


class AttachmentView(OutputModel):
    file_name: str | None = None
    mime_type: str | None = None
    file_uuid: str | None = None
    url: str | None = Field(default=None, description="Temporary download URL")


class NoteView(OutputModel):
    author: str | None = None
    at: str | None = None
    text: str | None = None
    edited_at: str | None = None
    attachments: list[AttachmentView] | None = None


class HistoryView(OutputModel):
    at: str | None = None
    by: str | None = None
    what: str | None = None


class LinkedObject(OutputModel):
    type: str | None = None
    id: str | None = None
    url: str | None = None
    email: str | None = None
    context: str | None = None


class Assigned(OutputModel):
    user_id: int | None = None
    user: str | None = None
    group_id: int | None = None
    group: str | None = None


class TaskDetail(OutputModel):
    uuid: str
    number: int | None = None
    object_task_number: int | None = None
    name: str | None = None
    details: str | None = None
    status: str | None = None
    priority: str | None = None
    assigned: Assigned
    due: str | None = None
    overdue: bool = False
    delay_until: str | None = None
    expires: str | None = None
    created: str | None = None
    created_by: str | None = None
    updated: str | None = None
    system_task_type: str | None = None
    object: LinkedObject | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, str] = Field(default_factory=dict)
    depends_on: str | None = None
    related_to: str | None = None
    notes: list[NoteView] = Field(default_factory=list)
    attachments: list[AttachmentView] = Field(default_factory=list)
    history: list[HistoryView] = Field(default_factory=list)

    @property
    def closed(self) -> bool:
        return is_closed(self.status)


def is_closed(status: str | None) -> bool:
    """UltraCart's rule (``Status.is_closed``) for a status as the views carry it."""
    return status is not None and Status(status).is_closed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _who(user: WorkflowUser | None) -> str | None:
    if user is None:
        return None
    return clean_text(user.user) or (f"user {user.user_id}" if user.user_id is not None else None)


def is_overdue(task: WorkflowTask, now: datetime | None = None) -> bool:
    if task.due_dts is None or (task.status is not None and Status(task.status).is_closed):
        return False
    return task.due_dts < (now or datetime.now(UTC))


def object_label(task: WorkflowTask) -> str | None:
    if task.object_type is None and task.object_id is None:
        return None
    return " ".join(str(part) for part in (task.object_type, task.object_id) if part)


def summarize(task: WorkflowTask, now: datetime | None = None) -> TaskSummary:
    return TaskSummary(
        uuid=task.workflow_task_uuid or "",
        unnumbered_uuid=task.workflow_task_uuid if task.global_task_number is None else None,
        number=task.global_task_number,
        name=clean_text(task.task_name),
        status=str(task.status) if task.status is not None else None,
        priority=friendly_priority(task.priority),
        assignee=clean_text(task.assigned_to_user),
        group=clean_text(task.assigned_to_group),
        due=_iso(task.due_dts),
        overdue=is_overdue(task, now),
        object=clean_text(object_label(task)),
    )


def attachment_view(att: WorkflowAttachment) -> AttachmentView:
    return AttachmentView(
        file_name=clean_text(att.file_name),
        mime_type=att.mime_type,
        file_uuid=att.file_uuid,
        url=att.download_key,
    )


def detail(task: WorkflowTask, now: datetime | None = None) -> TaskDetail:
    linked = None
    if task.object_type or task.object_id or task.task_context:
        linked = LinkedObject(
            type=str(task.object_type) if task.object_type else None,
            id=clean_text(task.object_id),
            url=clean_text(task.object_url),
            email=clean_text(task.object_email),
            context=clean_text(task.task_context),
        )
    return TaskDetail(
        uuid=task.workflow_task_uuid or "",
        number=task.global_task_number,
        object_task_number=task.object_task_number,
        name=clean_text(task.task_name),
        details=clean_text(task.task_details),
        status=str(task.status) if task.status is not None else None,
        priority=friendly_priority(task.priority),
        assigned=Assigned(
            user_id=task.assigned_to_user_id,
            user=clean_text(task.assigned_to_user),
            group_id=task.assigned_to_group_id,
            group=clean_text(task.assigned_to_group),
        ),
        due=_iso(task.due_dts),
        overdue=is_overdue(task, now),
        delay_until=_iso(task.delay_until_dts),
        expires=_iso(task.expiration_dts),
        created=_iso(task.created_dts),
        created_by=_who(task.created_by),
        updated=_iso(task.last_update_dts),
        system_task_type=str(task.system_task_type) if task.system_task_type else None,
        object=linked,
        tags=[clean_text(t) or "" for t in task.tags or []],
        properties={
            clean_text(p.name) or "": clean_text(p.value) or "" for p in task.properties or [] if p.name
        },
        depends_on=task.dependant_workflow_task_uuid,
        related_to=task.related_workflow_task_uuid,
        notes=[
            NoteView(
                author=_who(n.user),
                at=_iso(n.note_dts),
                text=clean_text(n.note),
                edited_at=_iso(n.edit_dts),
                attachments=[attachment_view(a) for a in n.attachments] if n.attachments else None,
            )
            for n in task.notes or []
        ],
        attachments=[attachment_view(a) for a in task.attachments or []],
        history=[
            HistoryView(at=_iso(h.activity_dts), by=_who(h.user), what=clean_text(h.description))
            for h in task.histories or []
        ],
    )


class UntrustedOutput(OutputModel):
    """Results that carry text people wrote say so, in the structured result and in the text."""

    notice: str = UNTRUSTED_NOTICE

    def to_text(self) -> str:
        return f"[{self.notice}]\n{self.render()}"

    def render(self) -> str:
        data = self.to_data()
        data.pop("notice", None)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class TaskOutput(UntrustedOutput):
    task: TaskDetail
    warnings: list[str] | None = Field(default=None, description="Conflicts to tell the user about")

    def render(self) -> str:
        return task_text(self.task) + "".join(f"\nWARNING: {w}" for w in self.warnings or [])


class TaskListOutput(UntrustedOutput):
    """Tasks as summaries, or in full when the caller asked for ``detail``."""

    tasks: list[TaskSummary] | None = None
    tasks_detail: list[TaskDetail] | None = None
    count: int


def task_list(tasks: list[WorkflowTask], full: bool) -> dict[str, Any]:
    """The fields of a :class:`TaskListOutput` for these tasks."""
    now = datetime.now(UTC)
    return {
        "tasks": None if full else [summarize(t, now) for t in tasks],
        "tasks_detail": [detail(t, now) for t in tasks] if full else None,
        "count": len(tasks),
    }


def summary_row(t: TaskSummary) -> str:
    """One line per task; the uuid stays in the structured result (the number names the task)."""
    who = t.assignee or (f"group {t.group}" if t.group else "unassigned")
    due = f", due {t.due[:10]}" + (" OVERDUE" if t.overdue else "") if t.due else ""
    ref = f"#{t.number}" if t.number is not None else t.uuid
    return f"{ref} {t.name} [{t.status}, {t.priority}, {who}{due}]"


HISTORY_IN_TEXT = 10


def task_text(t: TaskDetail) -> str:
    """A task for a reader: what it is, where it stands, what was said and done."""
    who = t.assigned.user or (f"group {t.assigned.group}" if t.assigned.group else "unassigned")
    lines = [
        f"#{t.number} {t.name} ({t.uuid})",
        f"status {t.status}, priority {t.priority}, {who}"
        + (f", due {t.due}" if t.due else "")
        + (" OVERDUE" if t.overdue else ""),
    ]
    if t.object:
        lines.append(
            f"object: {t.object.type} {t.object.id}" + (f" — {t.object.context}" if t.object.context else "")
        )
    if t.details:
        lines.append(f"details: {t.details}")
    if t.tags:
        lines.append(f"tags: {', '.join(t.tags)}")
    if t.properties:
        lines.append("properties: " + "; ".join(f"{k}={v}" for k, v in t.properties.items()))
    for i, note in enumerate(t.notes, 1):
        files = (
            f" [files: {', '.join(a.file_name or '?' for a in note.attachments)}]" if note.attachments else ""
        )
        lines.append(f"note {i} by {note.author or '?'} at {note.at or '?'}: {note.text or ''}{files}")
    if t.attachments:
        lines.append("attachments: " + ", ".join(f"{a.file_name} ({a.mime_type})" for a in t.attachments))
    recent = t.history[-HISTORY_IN_TEXT:]
    if recent:
        skipped = len(t.history) - len(recent)
        lines.append("history" + (f" (last {len(recent)} of {len(t.history)})" if skipped else "") + ":")
        lines.extend(f"  {h.at} {h.by or '?'}: {h.what}" for h in recent)
    return "\n".join(lines)
