"""The update tool: change any field of a task, reassign it, and say what changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from shared_client.models import WorkflowTask
from shared_client.tools.base import REPLACE, InputModel, tool
from shared_client.tools.context import ToolContext
from shared_client.tools.directory import Assignee
from shared_client.tools.inputs import CLEAR_WORDS, Priority, Tags, TaskName, TaskStatus
from shared_client.tools.outputs import TaskOutput, detail
from shared_client.tools.task_refs import TASK_REF_DESCRIPTION, TaskRef, resolve_task_uuid
from shared_client.tools.values import (
    PRIORITY_ACCEPTS,
    STATUS_ACCEPTS,
    clean_text,
    friendly_priority,
    parse_when,
)
from shared_client.tools.writes import apply_assignee, read_modify_write, record_actor, resolve_target


class UpdateInput(InputModel):
    task: TaskRef = Field(description=TASK_REF_DESCRIPTION)
    name: TaskName | None = None
    details: str | None = Field(default=None, max_length=100_000, description="New details; '' clears them.")
    status: TaskStatus | None = Field(default=None, description=f"{STATUS_ACCEPTS}.")
    priority: Priority | None = Field(default=None, description=f"{PRIORITY_ACCEPTS}.")
    due: str | None = Field(
        default=None, max_length=64, description="New due date/date-time; 'none' clears it."
    )
    delay_until: str | None = Field(
        default=None, max_length=64, description="Delay-until date/date-time; 'none' clears."
    )
    tags: Tags | None = Field(default=None, max_length=50, description="Replace all tags with these.")
    add_tags: Tags | None = Field(default=None, max_length=50)
    remove_tags: Tags | None = Field(default=None, max_length=50)
    assignee: str | None = Field(
        default=None,
        max_length=200,
        description="Reassign to a user (name, id or 'me'; an e-mail only where it is the user's name) or "
        "a group (name or id), or 'unassigned'. Assigning a user clears the group; assigning a group "
        "clears the user.",
    )
    group: str | None = Field(
        default=None, max_length=200, description="Reassign to this group (clears the user)."
    )

    @field_validator("due", "delay_until")
    @classmethod
    def _date_or_clear(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in CLEAR_WORDS:
            return value
        parse_when(value, end_of_day=True)
        return value

    @model_validator(mode="after")
    def _something(self) -> UpdateInput:
        if self.assignee and self.group:
            raise ValueError(
                "assignee: give assignee or group, not both (a task goes to a user or to a group)"
            )
        if self.tags is not None and (self.add_tags or self.remove_tags):
            raise ValueError("tags: use tags (replace all) or add_tags/remove_tags, not both")
        fields = self.model_fields_set - {"task"}
        if not fields:
            raise ValueError(
                "nothing to change: give name, details, status, priority, due, delay_until, tags, add_tags, "
                "remove_tags, assignee or group"
            )
        return self


class UpdateOutput(TaskOutput):
    changes: list[str]
    reassigned: bool = Field(default=False, description="Whether the assignee (user or group) changed")

    def render(self) -> str:
        summary = "; ".join(self.changes) if self.changes else "nothing changed (already so)"
        return f"Updated #{self.task.number}: {summary}\n" + super().render()


def _when_or_clear(value: str, end_of_day: bool) -> datetime | None:
    return None if value.strip().lower() in CLEAR_WORDS else parse_when(value, end_of_day=end_of_day)


async def _update(ctx: ToolContext, params: UpdateInput) -> UpdateOutput:
    """Update a task

    Change a task: name, details, status, priority, due, delay_until ('none' clears a date), tags
    (replace) or add_tags/remove_tags, and assignee or group. Assigning a user clears the group and
    assigning a group clears the user; 'unassigned' clears both. Only the fields you give change: notes,
    attachments, properties and everything else are kept. Close a task with status 'closed'. Example:
    {'task': '#1042', 'assignee': 'Sam', 'priority': 'high'}."""
    task_uuid = await resolve_task_uuid(ctx, params.task)
    who: Assignee | None = None
    if params.assignee or params.group:
        who = await resolve_target(ctx, params.assignee, params.group)
    due = _when_or_clear(params.due, True) if params.due is not None else None
    delay = _when_or_clear(params.delay_until, False) if params.delay_until is not None else None

    reassigned = False  # set by mutate when the assignee changes

    def mutate(task: WorkflowTask) -> list[str]:
        nonlocal reassigned
        changes: list[str] = []
        reassigned = False

        def put(attr: str, value: Any, label: str) -> None:
            if getattr(task, attr) != value:
                setattr(task, attr, value)
                changes.append(label)

        if params.name is not None:
            put("task_name", clean_text(params.name), f"name → {params.name}")
        if params.details is not None:
            put("task_details", params.details or None, "details changed")
        if params.status is not None:
            put("status", params.status, f"status → {params.status}")
        if params.priority is not None:
            put("priority", params.priority, f"priority → {friendly_priority(params.priority)}")
        if params.due is not None:
            put("due_dts", due, f"due → {due.isoformat() if due else 'none'}")
        if params.delay_until is not None:
            put("delay_until_dts", delay, f"delay until → {delay.isoformat() if delay else 'none'}")
        tags = list(task.tags or [])
        if params.tags is not None:
            tags = list(dict.fromkeys(params.tags))
        for tag in params.add_tags or []:
            if tag not in tags:
                tags.append(tag)
        tags = [t for t in tags if t not in set(params.remove_tags or [])]
        if tags != list(task.tags or []):
            task.tags = tags or None
            changes.append(f"tags → {', '.join(tags) or 'none'}")
        if who is not None:
            before = (task.assigned_to_user_id, task.assigned_to_group_id)
            label = apply_assignee(task, who)
            if (task.assigned_to_user_id, task.assigned_to_group_id) != before:
                changes.append(label)
                reassigned = True
        if changes and ctx.actor:
            record_actor(task, ctx.actor, changes)
        return changes

    saved, changes, warnings = await read_modify_write(ctx, task_uuid, mutate)
    return UpdateOutput(
        task=detail(saved),
        changes=changes,
        reassigned=reassigned,
        warnings=warnings or None,
    )


UPDATE_TASK = tool(_update, name="update_task", toolset="tasks", hints=REPLACE)
