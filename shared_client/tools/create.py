"""The create tool, exactly once: every create carries a token, so an insert whose outcome is unknown is
looked for before it is sent again."""

from __future__ import annotations

import uuid as uuidlib

from pydantic import Field, model_validator

from shared_client import constants
from shared_client.errors import APIConnectionError, APIResponseError, ServerError, UltraCartError
from shared_client.models import Property, WorkflowNote, WorkflowTask, WorkflowTasksRequest
from shared_client.tools.base import CREATE, InputModel, tool
from shared_client.tools.context import ToolContext
from shared_client.tools.errors import ErrorKind, ToolError
from shared_client.tools.inputs import (
    DueDate,
    ObjectType,
    Priority,
    PropertyMap,
    StartDate,
    Tags,
    TaskName,
    TaskStatus,
)
from shared_client.tools.outputs import TaskOutput, detail
from shared_client.tools.task_refs import remember_numbers
from shared_client.tools.values import (
    OBJECT_TYPE_ACCEPTS,
    PRIORITY_ACCEPTS,
    STATUS_ACCEPTS,
    clean_text,
    parse_when,
)
from shared_client.tools.writes import (
    CREATE_TOKEN_PROPERTY,
    RESERVED_PROPERTIES,
    apply_assignee,
    note_text,
    resolve_target,
)


class CreateInput(InputModel):
    name: TaskName = Field(description="Short title, e.g. 'Call customer about order 1234'.")
    details: str | None = Field(default=None, max_length=100_000, description="Longer description.")
    priority: Priority | None = Field(default=None, description=f"{PRIORITY_ACCEPTS}. Default medium.")
    status: TaskStatus | None = Field(default=None, description=f"{STATUS_ACCEPTS}. Default open.")
    due: DueDate | None = Field(
        default=None, description="Due date: ISO date (end of that day) or date-time."
    )
    delay_until: StartDate | None = Field(
        default=None, description="Hide the task until this date/date-time."
    )
    assignee: str | None = Field(
        default=None,
        max_length=200,
        description="A user (name, id or 'me'; an e-mail only where it is the user's name) or a group "
        "(name or id). Prefix 'user:' or 'group:' when a name is both.",
        examples=["me", "Sam Rivera", "Customer Service"],
    )
    group: str | None = Field(
        default=None, max_length=200, description="A group by name or id (instead of assignee)."
    )
    tags: Tags | None = Field(default=None, max_length=50)
    object_type: ObjectType | None = Field(default=None, description=f"Linked object: {OBJECT_TYPE_ACCEPTS}.")
    object_id: str | None = Field(
        default=None, max_length=100, description="Linked object's id (with object_type)."
    )
    object_url: str | None = Field(default=None, max_length=2000)
    object_email: str | None = Field(
        default=None, max_length=250, description="Customer e-mail for the object."
    )
    note: str | None = Field(default=None, max_length=100_000, description="A first note.")
    properties: PropertyMap | None = Field(
        default=None, max_length=50, description="Extra name/value properties."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CreateInput:
        if self.assignee and self.group:
            raise ValueError(
                "assignee: give assignee or group, not both (a task goes to a user or to a group)"
            )
        reserved = set(self.properties or {}) & RESERVED_PROPERTIES
        if reserved:
            raise ValueError(f"properties: {', '.join(sorted(reserved))} is kept by uc-workflow itself")
        if bool(self.object_type) != bool(self.object_id):
            raise ValueError("object_id: object_type and object_id go together: give both or neither")
        return self


class CreateOutput(TaskOutput):
    created: bool = True

    def render(self) -> str:
        return "Created " + super().render()


# How many of the newest tasks a lookup reads (two pages at the maximum size): ours was made moments ago,
# so it is among them unless that many tasks were created in between.
LOOKUP_NEWEST_TASKS = 2 * constants.MAX_PAGE_SIZE_TASKS


async def _find_created(ctx: ToolContext, token: str) -> WorkflowTask | None:
    """Newest first with no time bound: neither clock can hide the task (the local one may be minutes off
    UltraCart's), and the count bounds the cost."""
    seen = 0
    async for task in ctx.client.iter_tasks(WorkflowTasksRequest(), sort="-created_dts"):
        if task.property_value(CREATE_TOKEN_PROPERTY) == token:
            return task
        seen += 1
        if seen >= LOOKUP_NEWEST_TASKS:
            break
    return None


async def _look_for(ctx: ToolContext, token: str, why: str) -> WorkflowTask | None:
    """The task this create made, found by its token; a failed search leaves the outcome unknown."""
    try:
        return await _find_created(ctx, token)
    except UltraCartError:
        raise ToolError(
            f"The connection to UltraCart broke while creating the task ({why}), and checking whether it was "
            "created failed too. It may exist: search for it by name before creating it again.",
            kind=ErrorKind.UNKNOWN_OUTCOME,
            write=True,
        ) from None


async def _create(ctx: ToolContext, params: CreateInput) -> CreateOutput:
    """Create a task

    Create a workflow task. Only `name` is required. Optional: details, priority
    (low/medium/high/critical, default medium), status (default open), due (ISO date or date-time),
    delay_until, assignee (a user by name, id or 'me', or a group by name), tags, a linked object
    (object_type + object_id), a first note, properties. Created exactly once even if the connection
    drops. Example: {'name': 'Refund check for order DEMO-0001234', 'priority': 'high', 'assignee': 'Sam
    Rivera', 'due': '2026-12-05', 'object_type': 'order', 'object_id': 'DEMO-0001234'}."""
    task = WorkflowTask(
        task_name=clean_text(params.name),
        task_details=params.details,
        priority=params.priority or "2 - medium",
        status=params.status or "open",
        tags=params.tags,
        object_type=params.object_type,
        object_id=params.object_id,
        object_url=params.object_url,
        object_email=params.object_email,
    )
    if params.due:
        task.due_dts = parse_when(params.due, end_of_day=True)
    if params.delay_until:
        task.delay_until_dts = parse_when(params.delay_until, end_of_day=False)
    if params.assignee or params.group:
        apply_assignee(task, await resolve_target(ctx, params.assignee, params.group))
    if params.note:
        task.notes = [WorkflowNote(note=note_text(ctx, params.note))]
    token = uuidlib.uuid4().hex
    task.properties = [Property(name=k, value=v) for k, v in (params.properties or {}).items()]
    task.properties.append(Property(name=CREATE_TOKEN_PROPERTY, value=token))
    try:
        created = (await ctx.client.insert_task(task)).task
    except (APIConnectionError, ServerError, APIResponseError) as exc:
        if isinstance(exc, APIConnectionError) and not exc.request_sent:
            raise
        # The insert may have happened: look for our token before deciding anything.
        created = await _look_for(ctx, token, exc.message)
        if created is None:
            created = (await ctx.client.insert_task(task)).task
    if created is None:
        # UltraCart said yes and sent no task: it was most likely made. Find it rather than make another.
        created = await _look_for(ctx, token, "UltraCart accepted the task but returned nothing")
    if created is None:
        raise ToolError(
            "UltraCart accepted the task but returned nothing, and it cannot be found yet: search for it by "
            "name before creating it again.",
            kind=ErrorKind.UNKNOWN_OUTCOME,
            write=True,
        )
    await remember_numbers(ctx, [created])
    return CreateOutput(task=detail(created))


CREATE_TASK = tool(_create, name="create_task", toolset="tasks", hints=CREATE)
