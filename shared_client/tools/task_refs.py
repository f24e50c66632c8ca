"""What a task reference is — the one rule for the tools, the MCP prompts, resources and completions, and the
Slack grammar — and turning one into a task uuid.

A reference is a task number (``123`` or ``#123``: UltraCart's ``global_task_number``) or a task uuid.
UltraCart documents no format for its uuids, so a uuid is any id-like word: letters, digits and hyphens,
8 to 64 characters, not all digits (those are numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from shared_client.errors import NotFoundError
from shared_client.models import WorkflowTask, WorkflowTasksRequest
from shared_client.tools.context import ToolContext
from shared_client.tools.errors import ErrorKind, FieldError, ToolError, ToolInputError, from_api_error
from shared_client.tools.values import shown

EXAMPLE_UUID = "4f1e2a7c-9b3d-4e5f-8a6b-1c2d3e4f5a6b"
TASK_REF_EXAMPLES = ("#1042", "1042", EXAMPLE_UUID)
TASK_REF_DESCRIPTION = "The task: its number as '#1042' or '1042', or its uuid."
TASK_REF_ACCEPTS = "a task number like '#123' or '123', or a task uuid"
MAX_TASK_REF = 64

_NUMBER = re.compile(r"#?(\d{1,10})")
_UUID_LIKE = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-]{7,63}")
_CANONICAL_UUID = re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


@dataclass(frozen=True)
class TaskReference:
    number: int | None = None
    uuid: str | None = None

    def __str__(self) -> str:
        return f"#{self.number}" if self.number is not None else self.uuid or ""


def task_ref_problem(text: str) -> str:
    """The one refusal, word for word wherever a reference is refused."""
    return f"use {TASK_REF_ACCEPTS}; got {shown(text)}"


def parse_task_ref(text: str) -> TaskReference:
    """A reference, or ``ValueError`` with :func:`task_ref_problem`'s words. A canonical uuid is given in
    lower case, as UltraCart writes them."""
    value = text.strip()
    number = _NUMBER.fullmatch(value)
    if number:
        return TaskReference(number=int(number.group(1)))
    if _UUID_LIKE.fullmatch(value) and not value.isdigit():
        return TaskReference(uuid=value.lower() if _CANONICAL_UUID.fullmatch(value) else value)
    raise ValueError(task_ref_problem(text))


def is_task_ref(text: str) -> bool:
    try:
        parse_task_ref(text)
    except ValueError:
        return False
    return True


def _check(value: str) -> str:
    parse_task_ref(value)
    return value.strip()


TaskRef = Annotated[
    str,
    AfterValidator(_check),
    WithJsonSchema({"type": "string", "maxLength": MAX_TASK_REF, "examples": list(TASK_REF_EXAMPLES)}),
]
"""A tool argument holding a task reference (validated by the one rule)."""


# --------------------------------------------------------------------------- reference → uuid


async def remember_numbers(ctx: ToolContext, tasks: list[WorkflowTask]) -> None:
    """Keep the number → uuid of ``tasks`` in hand; the ones new to this process go to the shared cache
    too (with Redis), so no replica spends a call on them again. A warm map asks Redis nothing."""
    new: dict[int, str] = {}
    for task in tasks:
        number, task_uuid = task.global_task_number, task.workflow_task_uuid
        if number is not None and task_uuid and ctx.task_numbers.get(number) != task_uuid:
            ctx.task_numbers[number] = new[number] = task_uuid
    if new and ctx.shared_cache is not None:
        await ctx.shared_cache.remember_tasks(new)


async def fetch_task(ctx: ToolContext, task_uuid: str, *, shared: bool = True) -> WorkflowTask:
    """The whole task. UltraCart's not-found is about the caller's ``task`` argument, and says so in its
    fields, so a form can show it under the task."""
    try:
        task = (await ctx.client.get_task(task_uuid, shared=shared)).task
    except NotFoundError as exc:
        error = from_api_error(exc)
        fields = (FieldError("task", error.message),)
        raise ToolError(error.message, kind=ErrorKind.NOT_FOUND, fields=fields) from None
    if task is None:
        raise ToolError(f"UltraCart returned no task for {task_uuid}", kind=ErrorKind.UPSTREAM)
    return task


async def resolve_task_uuid(ctx: ToolContext, ref: str) -> str:
    """A uuid as is; a task number through the account's numbering.

    UltraCart has no filter for task numbers, but numbers are sequential and tasks are never deleted, so
    sorted by ``-global_task_number`` the task numbered N sits at offset ``max - N``: one call for the
    newest page (which also caches the numbers it shows), and one more only when N is older than that.
    """
    reference = parse_task_ref(ref)
    if reference.number is None:
        return reference.uuid or ""
    number = reference.number
    if number in ctx.task_numbers:
        return ctx.task_numbers[number]
    if ctx.shared_cache is not None:
        known = await ctx.shared_cache.task_uuid(number)
        if known:
            ctx.task_numbers[number] = known
            return known
    everything = WorkflowTasksRequest()
    first = await ctx.client.search_tasks(everything, limit=100, offset=0, sort="-global_task_number")
    await remember_numbers(ctx, first.tasks or [])
    if number in ctx.task_numbers:
        return ctx.task_numbers[number]
    newest = max((t.global_task_number or 0 for t in first.tasks or []), default=0)
    if newest and number < newest:
        guess = await ctx.client.search_tasks(
            everything, limit=5, offset=max(0, newest - number - 2), sort="-global_task_number"
        )
        await remember_numbers(ctx, guess.tasks or [])
        if number in ctx.task_numbers:
            return ctx.task_numbers[number]
        # Numbering has gaps: walk the pages (bounded by the account's size).
        async for task in ctx.client.iter_tasks(everything, sort="-global_task_number"):
            await remember_numbers(ctx, [task])
            if task.global_task_number == number:
                return task.workflow_task_uuid or ""
            if (task.global_task_number or 0) < number:
                break
    raise ToolInputError.about("task", f"there is no task #{number}", kind=ErrorKind.NOT_FOUND)
