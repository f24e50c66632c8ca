"""The tools that read tasks: one task, an object's tasks, the open count, the tags in use.
(Search is in ``search.py``; the tools that change tasks in ``create.py``, ``update.py`` and ``notes.py``.)"""

from __future__ import annotations

from pydantic import Field

from shared_client.tools.base import READ, InputModel, NoInput, OutputModel, tool
from shared_client.tools.context import ToolContext
from shared_client.tools.inputs import ObjectType
from shared_client.tools.outputs import (
    TaskDetail,
    TaskOutput,
    TaskSummary,
    UntrustedOutput,
    detail,
    task_list,
)
from shared_client.tools.task_refs import (
    TASK_REF_DESCRIPTION,
    TASK_REF_EXAMPLES,
    TaskRef,
    fetch_task,
    remember_numbers,
    resolve_task_uuid,
)
from shared_client.tools.values import OBJECT_TYPE_ACCEPTS, clean_text


class TaskRefInput(InputModel):
    task: TaskRef = Field(description=TASK_REF_DESCRIPTION, examples=list(TASK_REF_EXAMPLES))


async def _get_task(ctx: ToolContext, params: TaskRefInput) -> TaskOutput:
    """Get a task

    One task in full: details, assignee, dates, linked object, tags, properties, notes (with
    attachments), attachments and history. `task` is its uuid or its number ('#1042')."""
    task_uuid = await resolve_task_uuid(ctx, params.task)
    task = await fetch_task(ctx, task_uuid)
    await remember_numbers(ctx, [task])
    return TaskOutput(task=detail(task))


GET_TASK = tool(_get_task, name="get_task", toolset="tasks", hints=READ)


class ObjectInput(InputModel):
    object_type: ObjectType = Field(description=f"One of {OBJECT_TYPE_ACCEPTS}.")
    object_id: str = Field(
        min_length=1, max_length=100, description="The object's id, e.g. an order id 'DEMO-0001234'."
    )
    detail: bool = Field(default=False, description="true: full tasks instead of summaries.")


class ObjectTasksOutput(UntrustedOutput):
    object_type: str
    object_id: str
    context: str | None = None
    tasks: list[TaskSummary] | None = None
    tasks_detail: list[TaskDetail] | None = None
    count: int


async def _tasks_for_object(ctx: ToolContext, params: ObjectInput) -> ObjectTasksOutput:
    """Tasks of an order, auto order, item, customer or storefront

    Every task linked to one UltraCart object. object_type: order, auto order, item, customer profile
    or storefront; object_id: its id. Example: {'object_type': 'order', 'object_id': 'DEMO-0001234'}."""
    page = await ctx.client.get_tasks_by_object(params.object_type, params.object_id)
    tasks = page.tasks or []
    await remember_numbers(ctx, tasks)
    return ObjectTasksOutput(
        object_type=params.object_type,
        object_id=params.object_id,
        context=clean_text(page.task_context),
        **task_list(tasks, params.detail),
    )


GET_TASKS_FOR_OBJECT = tool(_tasks_for_object, name="get_tasks_for_object", toolset="tasks", hints=READ)


class OpenCountOutput(OutputModel):
    open_count: int

    def to_text(self) -> str:
        return f"{self.open_count} open task(s)"


async def _open_count(ctx: ToolContext, _params: NoInput) -> OpenCountOutput:
    """Count open tasks

    How many tasks in the account are not closed (open, delayed or awaiting customer feedback): one
    cheap call, e.g. for a badge or a daily summary."""
    return OpenCountOutput(open_count=(await ctx.client.get_open_count()).open_count or 0)


COUNT_OPEN_TASKS = tool(_open_count, name="count_open_tasks", toolset="tasks", hints=READ)


class TagsOutput(OutputModel):
    tags: list[str]
    count: int

    def to_text(self) -> str:
        return ", ".join(self.tags) or "no tags in use"


async def _tags(ctx: ToolContext, _params: NoInput) -> TagsOutput:
    """List task tags

    Every tag in use on tasks, e.g. to pick a tag for search_tasks or create_task."""
    tags = [clean_text(t) or "" for t in (await ctx.client.get_tags()).tags or []]
    return TagsOutput(tags=tags, count=len(tags))


LIST_TASK_TAGS = tool(_tags, name="list_task_tags", toolset="tasks", hints=READ)
