"""Task tools: search, read, create, change, note, count, tags."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid as uuidlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from shared_client import constants
from shared_client.errors import APIConnectionError, ServerError, UltraCartError
from shared_client.locks import machine_lock
from shared_client.models import (
    ObjectType as ObjectTypeEnum,
)
from shared_client.models import (
    Priority as PriorityEnum,
)
from shared_client.models import (
    Property,
    WorkflowNote,
    WorkflowTask,
    WorkflowTasksRequest,
    WorkflowUser,
    parse_uc_datetime,
)
from shared_client.models import (
    SearchStatus as SearchStatusEnum,
)
from shared_client.tools.base import Hints, InputModel, OutputModel, Tool, ToolError, ToolInputError
from shared_client.tools.context import PeopleSnapshot, ToolContext
from shared_client.tools.files import FileInput, read_file, upload_file
from shared_client.tools.people import (
    ME_WORDS,
    UNASSIGNED_WORDS,
    Assignee,
    match_users,
    resolve_assignee,
    resolve_group,
    resolve_user,
)
from shared_client.tools.values import (
    OBJECT_TYPE_ACCEPTS,
    PRIORITY_ACCEPTS,
    SEARCH_OBJECT_TYPE_ACCEPTS,
    SEARCH_STATUS_ACCEPTS,
    STATUS_ACCEPTS,
    clean_text,
    friendly_priority,
    parse_object_type,
    parse_priority,
    parse_search_status,
    parse_sort,
    parse_status,
    parse_when,
    shown,
)
from shared_client.tools.views import (
    TaskDetail,
    TaskSummary,
    UntrustedOutput,
    detail,
    summarize,
    summary_row,
    task_text,
)

logger = logging.getLogger("uc_workflow.tools")

CHANGED_BY_PROPERTY = "uc_workflow_changed_by"

CREATE_TOKEN_PROPERTY = "uc_workflow_create_id"
"""Every create carries a unique token in the task's properties, so an insert whose outcome is unknown
(connection lost after sending) can be found instead of sent twice."""

RESERVED_PROPERTIES = frozenset({CREATE_TOKEN_PROPERTY, CHANGED_BY_PROPERTY})

# --------------------------------------------------------------------------- reusable input types


def _number_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# 1-4 arrive as JSON numbers as often as strings: the schema says both.
Priority = Annotated[
    str,
    BeforeValidator(_number_as_text),
    AfterValidator(parse_priority),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1, "maximum": 4}]}),
]
TaskStatus = Annotated[str, AfterValidator(parse_status)]
SearchStatus = Annotated[str, AfterValidator(parse_search_status)]
ObjectType = Annotated[str, AfterValidator(parse_object_type)]
SortSpec = Annotated[str, AfterValidator(parse_sort)]

TASK_REF_DESCRIPTION = "The task: its uuid, or its task number as '#123' or '123'."
_UUID_LIKE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-]{7,}$")


def _check_ref(value: str) -> str:
    text = value.strip()
    if re.fullmatch(r"#?\d{1,10}", text) or (_UUID_LIKE.match(text) and not text.isdigit()):
        return text
    raise ValueError(f"use a task uuid or a task number like '#123'; got {shown(value)}")


PropertyMap = dict[
    Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=1000)]
]
TaskRef = Annotated[str, Field(max_length=64), AfterValidator(_check_ref)]


def _date_field(end_of_day: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        parse_when(value, end_of_day=end_of_day)  # raises with the accepted forms
        return value

    return check


DueDate = Annotated[str, AfterValidator(_date_field(True))]
StartDate = Annotated[str, AfterValidator(_date_field(False))]
CLEAR_WORDS = {"", "none", "null", "clear", "no"}

# --------------------------------------------------------------------------- task references


def _is_number_ref(ref: str) -> bool:
    return bool(re.fullmatch(r"#?\d+", ref.strip()))


_CANONICAL_UUID = re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")


async def resolve_task_uuid(ctx: ToolContext, ref: str) -> str:
    """A uuid as is (a canonical one in lower case, as UltraCart writes them); a task number through the
    account's numbering.

    UltraCart has no filter for task numbers, but numbers are sequential and tasks are never deleted, so
    sorted by ``-global_task_number`` the task numbered N sits at offset ``max - N``: one call for the
    newest page (which also caches the numbers it shows), and one more only when N is older than that.
    """
    if not _is_number_ref(ref):
        text = ref.strip()
        return text.lower() if _CANONICAL_UUID.match(text) else text
    number = int(ref.strip().lstrip("#"))
    if number in ctx.task_numbers:
        return ctx.task_numbers[number]
    everything = WorkflowTasksRequest()
    first = await ctx.client.search_tasks(everything, limit=100, offset=0, sort="-global_task_number")
    remember_numbers(ctx, first.tasks or [])
    if number in ctx.task_numbers:
        return ctx.task_numbers[number]
    newest = max((t.global_task_number or 0 for t in first.tasks or []), default=0)
    if newest and number < newest:
        guess = await ctx.client.search_tasks(
            everything, limit=5, offset=max(0, newest - number - 2), sort="-global_task_number"
        )
        remember_numbers(ctx, guess.tasks or [])
        if number in ctx.task_numbers:
            return ctx.task_numbers[number]
        # Numbering has gaps: walk the pages (bounded by the account's size).
        async for task in ctx.client.iter_tasks(everything, sort="-global_task_number"):
            remember_numbers(ctx, [task])
            if task.global_task_number == number:
                return task.workflow_task_uuid or ""
            if (task.global_task_number or 0) < number:
                break
    raise ToolInputError(f"task: there is no task #{number}", field="task")


def remember_numbers(ctx: ToolContext, tasks: list[WorkflowTask]) -> None:
    for task in tasks:
        if task.global_task_number is not None and task.workflow_task_uuid:
            ctx.task_numbers[task.global_task_number] = task.workflow_task_uuid


MAX_WRITE_ATTEMPTS = 3
_SERVER_DERIVED = {"assigned_to_user", "assigned_to_group", "assigned_to_user_or_group", "task_context"}
# What each of UltraCart's history entries is about (the sandbox's wording; UltraCart documents none).
# An entry written during our write about a field we did not change means our whole-object PUT put back
# the value we had read over another writer's change. Our writes only append notes and attachments, so
# a note edited or removed is always someone else's note replaced.
_HISTORY_FIELDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("status changed", frozenset({"status"})),
    ("priority changed", frozenset({"priority"})),
    ("assigned to user", frozenset({"assigned_to_user_id"})),
    ("unassigned from user", frozenset({"assigned_to_user_id"})),
    ("assigned to group", frozenset({"assigned_to_group_id"})),
    ("unassigned from group", frozenset({"assigned_to_group_id"})),
    ("due date", frozenset({"due_dts"})),
    ("delay until", frozenset({"delay_until_dts"})),
    ("expiration", frozenset({"expiration_dts"})),
    ("name changed", frozenset({"task_name"})),
    ("details changed", frozenset({"task_details"})),
    ("tags added", frozenset({"tags"})),
    ("tags removed", frozenset({"tags"})),
    ("linked object", frozenset({"object_type", "object_id"})),
    ("note added", frozenset({"notes"})),
    ("attachment added", frozenset({"attachments", "notes"})),
)
_ALWAYS_FOREIGN = ("note edited", "note(s) removed")


def _wire_key(value: Any, key: str = "") -> Any:
    """What of a field must survive a write: for notes and attachments, the texts and names in order
    (the server adds timestamps, ids and download URLs); for date-times, the instant (the server answers
    in its own time zone)."""
    if key.endswith("_dts") and isinstance(value, str):
        return parse_uc_datetime(value)
    if (
        isinstance(value, list)
        and value
        and isinstance(value[0], dict)
        and ("note" in value[0] or "file_name" in value[0])
    ):
        return [(v.get("note"), v.get("file_name"), _wire_key(v.get("attachments") or [])) for v in value]
    return value


def changed_fields(before: WorkflowTask, intended: WorkflowTask) -> set[str]:
    """The top-level fields a writer changed (server-derived names and bookkeeping left out)."""
    old, new = before.to_wire(), intended.to_wire()
    return {
        key
        for key in set(old) | set(new)
        if key not in _SERVER_DERIVED
        and key not in {"histories", "last_update_dts"}
        and _wire_key(old.get(key), key) != _wire_key(new.get(key), key)
    }


def change_stuck(before: WorkflowTask, intended: WorkflowTask, saved: WorkflowTask) -> bool:
    """Whether every field the writer changed reads back as intended after the write."""
    new, got = intended.to_wire(), saved.to_wire()
    return all(
        _wire_key(got.get(key), key) == _wire_key(new.get(key), key)
        for key in changed_fields(before, intended)
    )


def overwrite_warnings(before: WorkflowTask, intended: WorkflowTask, saved: WorkflowTask) -> list[str]:
    """History written by our write about something we did not change means another writer's change
    landed between our read and our write, and our whole-object PUT replaced it: say so, never silently."""
    ours = changed_fields(before, intended)
    seen = len(before.histories or [])
    warnings = []
    for entry in (saved.histories or [])[seen:]:
        description = entry.description or ""
        lowered = description.lower()
        if any(sign in lowered for sign in _ALWAYS_FOREIGN):
            foreign = True
        else:
            fields = next((f for prefix, f in _HISTORY_FIELDS if lowered.startswith(prefix)), None)
            foreign = fields is not None and not (fields & ours)
        if foreign:
            warnings.append(
                f"Another change landed while this one was being written and may have been replaced "
                f"(UltraCart's history: '{description}'). Check the task with get_task."
            )
    return warnings


async def read_modify_write(
    ctx: ToolContext, task_uuid: str, mutate: Callable[[WorkflowTask], list[str]]
) -> tuple[WorkflowTask, list[str], list[str]]:
    """GET the whole task, apply ``mutate`` to a copy, PUT it back: every field, note, attachment,
    property and tag that ``mutate`` did not touch is sent back unchanged.

    Writes to one task are serialized in the process (asyncio lock) and on the machine (file lock), so the
    MCP server and the Slack bot never erase each other's change; the read happens right before the write.
    The PUT's answer is checked: a change that did not stick is re-applied to the fresh task (bounded), and
    a change by a writer elsewhere that our write replaced is reported. Returns (task, changes, warnings).
    """
    async with ctx.task_lock(task_uuid), machine_lock(ctx.client.base_url, task_uuid):
        for _attempt in range(MAX_WRITE_ATTEMPTS):
            current = (await ctx.client.get_task(task_uuid, shared=False)).task
            if current is None:
                raise ToolError(f"UltraCart returned no task for {task_uuid}")
            intended = current.model_copy(deep=True)
            changes = mutate(intended)
            if not changes:
                return current, [], []
            saved = (await ctx.client.update_task(task_uuid, intended)).task or intended
            if change_stuck(current, intended, saved):
                return saved, changes, overwrite_warnings(current, intended, saved)
            logger.warning("the change to task %s did not read back as written; applying it again", task_uuid)
    raise ToolError(
        f"The change to task {task_uuid} did not stick after {MAX_WRITE_ATTEMPTS} attempts: another writer "
        "keeps changing it. Nothing was lost; look at the task and try again."
    )


async def resolve_target(ctx: ToolContext, assignee: str | None, group: str | None) -> Assignee:
    """Who a task goes to, from ``assignee`` (a user or a group, 'me', 'unassigned') or ``group``."""

    def pick(snapshot: PeopleSnapshot) -> Assignee:
        if assignee:
            return resolve_assignee(snapshot, assignee)
        return Assignee("group", group=resolve_group(snapshot, group or ""))

    return await ctx.people.resolve(pick)


def apply_assignee(task: WorkflowTask, assignee: Assignee) -> str:
    """Assigning a user clears the group, assigning a group clears the user; 'unassigned' clears both."""
    if assignee.kind == "user" and assignee.user is not None:
        task.assigned_to_user_id = assignee.user.user_id
        task.assigned_to_user = assignee.user.user
        task.assigned_to_group_id = None
        task.assigned_to_group = None
        task.assigned_to_user_or_group = assignee.user.user
    elif assignee.kind == "group" and assignee.group is not None:
        task.assigned_to_group_id = assignee.group.group_id
        task.assigned_to_group = assignee.group.group
        task.assigned_to_user_id = None
        task.assigned_to_user = None
        task.assigned_to_user_or_group = assignee.group.group
    else:
        task.assigned_to_user_id = task.assigned_to_user = None
        task.assigned_to_group_id = task.assigned_to_group = None
        task.assigned_to_user_or_group = None
    return f"assigned to {assignee.label}"


def record_actor(task: WorkflowTask, actor: str, changes: list[str]) -> None:
    """UltraCart's history names the API credential's user; a change made for someone else (a Slack user)
    also says who, in one property that each such change overwrites."""
    value = f"{actor}: {'; '.join(changes)}"[:250]
    others = [p for p in task.properties or [] if p.name != CHANGED_BY_PROPERTY]
    task.properties = [*others, Property(name=CHANGED_BY_PROPERTY, value=value)]


def note_text(ctx: ToolContext, text: str) -> str:
    return f"{text}\n— via {ctx.actor}" if ctx.actor else text


# --------------------------------------------------------------------------- search


class SearchInput(InputModel):
    status: SearchStatus | None = Field(default=None, description=f"One of {SEARCH_STATUS_ACCEPTS}.")
    priority: Priority | None = Field(default=None, description=f"{PRIORITY_ACCEPTS}.")
    assignee: str | None = Field(
        default=None,
        max_length=200,
        description="A user by name, e-mail or id; 'me' (mine directly or through my groups); "
        "'unassigned' (neither user nor group); or a group name (same as `group`).",
        examples=["me", "Sam Rivera", "sam@demo.example", "unassigned"],
    )
    group: str | None = Field(
        default=None, max_length=200, description="A group by name or id, e.g. 'Fraud Review'."
    )
    object_type: ObjectType | None = Field(
        default=None,
        description="order, auto order, item or customer profile; storefront only together with object_id.",
    )
    object_id: str | None = Field(
        default=None,
        max_length=100,
        description="One object's id (with object_type), e.g. an order id: its tasks, narrowed by the other "
        "filters.",
    )
    object_email: str | None = Field(
        default=None, max_length=250, description="Customer e-mail linked to the task."
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=20, description="Tasks carrying all of these tags."
    )
    created_by: str | None = Field(
        default=None, max_length=200, description="Creator by name, e-mail, id or 'me'."
    )
    overdue: bool | None = Field(default=None, description="true: only open tasks whose due date has passed.")
    due_after: StartDate | None = Field(default=None, description="Due on or after this date/date-time.")
    due_before: DueDate | None = Field(default=None, description="Due on or before this date/date-time.")
    created_after: StartDate | None = None
    created_before: DueDate | None = None
    updated_after: StartDate | None = None
    updated_before: DueDate | None = None
    delay_until_after: StartDate | None = None
    delay_until_before: DueDate | None = None
    sort: SortSpec | None = Field(
        default=None,
        description="Fields: due, priority, created, updated, status, name, number, assignee, delay_until, "
        "type; '-' for descending; comma-separated. E.g. 'due' or '-priority,due'.",
    )
    limit: int = Field(
        default=25, ge=1, le=constants.MAX_PAGE_SIZE_TASKS, description="Tasks per page (max 500)."
    )
    cursor: str | None = Field(default=None, max_length=200, description="next_cursor of the previous page.")
    detail: bool = Field(default=False, description="true: full tasks (notes, history) instead of summaries.")

    @model_validator(mode="after")
    def _object(self) -> SearchInput:
        if self.object_id and not self.object_type:
            raise ValueError("object_type: is required with object_id, e.g. 'order'")
        if self.object_type == ObjectTypeEnum.STOREFRONT and not self.object_id:
            raise ValueError(
                "object_type: UltraCart's search cannot filter on storefront; give object_id for one "
                f"storefront's tasks, or use {SEARCH_OBJECT_TYPE_ACCEPTS}"
            )
        return self


class SearchOutput(UntrustedOutput):
    tasks: list[TaskSummary] | None = None
    tasks_detail: list[TaskDetail] | None = None
    count: int
    total: int | None = None
    has_more: bool
    next_cursor: str | None = None

    def render(self) -> str:
        lines = [f"{self.count} task(s)" + (f" of {self.total}" if self.total is not None else "")]
        if self.tasks_detail is not None:
            lines.extend(task_text(t) + "\n" for t in self.tasks_detail)
        else:
            lines.extend(summary_row(t) for t in self.tasks or [])
        if self.has_more:
            lines.append(f"more: cursor {self.next_cursor}")
        return "\n".join(lines)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ToolInputError(
            "cursor: use the next_cursor value of a previous search", field="cursor"
        ) from None


async def build_search_request(ctx: ToolContext, params: SearchInput) -> WorkflowTasksRequest:
    request = WorkflowTasksRequest(
        status=params.status, priority=params.priority, object_type=params.object_type
    )
    request.object_email = params.object_email
    request.tags = params.tags
    if params.assignee:
        key = " ".join(params.assignee.strip().lower().split())
        if key in ME_WORDS:
            request.assigned_to_me = True
        elif key in UNASSIGNED_WORDS:
            request.unassigned = True
        else:
            who = await ctx.people.resolve(
                lambda s: resolve_assignee(s, params.assignee or "", field="assignee")
            )
            if who.user is not None:
                request.assigned_to_user_id = who.user.user_id
            elif who.group is not None:
                request.assigned_to_group_id = who.group.group_id
    if params.group:
        group = params.group
        request.assigned_to_group_id = (await ctx.people.resolve(lambda s: resolve_group(s, group))).group_id
    if params.created_by:
        snapshot = await ctx.people.get()
        text = params.created_by.strip()
        if text.lower() in ME_WORDS or match_users(snapshot, text):
            creator = resolve_user(snapshot, text, field="created_by")  # ambiguity is still an error
            request.created_by = WorkflowUser(user_id=creator.user_id)
        else:
            # Creators need not be assignable (the System user of rule-made tasks): pass the id or name on.
            request.created_by = (
                WorkflowUser(user_id=int(text)) if text.isdigit() else WorkflowUser(user=text)
            )
    ranges = {
        "due_dts": (params.due_after, params.due_before),
        "created_dts": (params.created_after, params.created_before),
        "last_update_dts": (params.updated_after, params.updated_before),
        "delay_until_dts": (params.delay_until_after, params.delay_until_before),
    }
    for field, (begin, end) in ranges.items():
        if begin:
            setattr(request, f"{field}_begin", parse_when(begin, end_of_day=False))
        if end:
            setattr(request, f"{field}_end", parse_when(end, end_of_day=True))
    if params.overdue:
        if params.status == SearchStatusEnum.CLOSED:
            raise ToolInputError(
                "overdue: only tasks that are not closed can be overdue; leave status out or use open, "
                "delayed or awaiting customer feedback",
                field="overdue",
            )
        now = datetime.now(UTC).replace(microsecond=0)
        if request.due_dts_end is None or request.due_dts_end > now:
            request.due_dts_end = now
        if request.status is None:
            request.status = SearchStatusEnum.OPEN
    return request


def _matches(task: WorkflowTask, request: WorkflowTasksRequest, mine: set[str] | None) -> bool:
    """UltraCart's search filters, applied to tasks already in hand (the tasks of one object)."""
    checks: list[bool] = []
    if request.status is not None:
        checks.append(str(task.status) == str(request.status))
    if request.priority is not None:
        checks.append(task.priority == request.priority)
    if request.object_email is not None:
        checks.append((task.object_email or "").lower() == request.object_email.lower())
    if request.assigned_to_user_id is not None:
        checks.append(task.assigned_to_user_id == request.assigned_to_user_id)
    if request.assigned_to_group_id is not None:
        checks.append(task.assigned_to_group_id == request.assigned_to_group_id)
    if request.unassigned:
        checks.append(not task.assigned_to_user_id and not task.assigned_to_group_id)
    if mine is not None:
        checks.append(task.workflow_task_uuid in mine)
    if request.tags:
        checks.append(set(request.tags) <= set(task.tags or []))
    if request.created_by is not None:
        checks.append(task.created_by is not None and task.created_by.user_id == request.created_by.user_id)
    for field in ("due_dts", "created_dts", "last_update_dts", "delay_until_dts"):
        value = getattr(task, field)
        begin, end = getattr(request, f"{field}_begin"), getattr(request, f"{field}_end")
        if begin is not None:
            checks.append(value is not None and value >= begin)
        if end is not None:
            checks.append(value is not None and value <= end)
    return all(checks)


_PRIORITY_RANK = {p.value: i for i, p in enumerate(PriorityEnum)}


def _sort_in_hand(tasks: list[WorkflowTask], sort: str | None) -> list[WorkflowTask]:
    """UltraCart's ``_sort`` for tasks already in hand: empty values last, ties by newest number."""
    ordered = sorted(tasks, key=lambda t: -(t.global_task_number or 0))
    for item in reversed((sort or "").split(",") if sort else []):
        descending, field = item.startswith("-"), item.lstrip("+-")

        def key(task: WorkflowTask, field: str = field) -> Any:
            value = getattr(task, field, None)
            if field == "priority" and value is not None:
                value = _PRIORITY_RANK.get(str(value), -1)
            return value if value is None or isinstance(value, int | datetime) else str(value).lower()

        present = [t for t in ordered if key(t) is not None]
        missing = [t for t in ordered if key(t) is None]
        ordered = sorted(present, key=key, reverse=descending) + missing
    return ordered


async def _search_object(
    ctx: ToolContext, params: SearchInput, request: WorkflowTasksRequest
) -> list[WorkflowTask]:
    """UltraCart's search has no object-id filter: take the object's tasks (few) and filter them here."""
    page = await ctx.client.get_tasks_by_object(params.object_type or "", params.object_id or "")
    mine: set[str] | None = None
    if request.assigned_to_me:
        # Group membership is UltraCart's to know: ask it, narrowed to the object's type.
        narrowed = WorkflowTasksRequest(assigned_to_me=True)
        if params.object_type != ObjectTypeEnum.STOREFRONT:
            narrowed.object_type = ObjectTypeEnum(params.object_type or "")
        mine = {t.workflow_task_uuid or "" async for t in ctx.client.iter_tasks(narrowed)}
    request.object_type = None  # the endpoint already chose the object
    found = [t for t in page.tasks or [] if _matches(t, request, mine)]
    return _sort_in_hand(found, params.sort)


async def _search(ctx: ToolContext, params: SearchInput) -> SearchOutput:
    offset = decode_cursor(params.cursor) if params.cursor else 0
    request = await build_search_request(ctx, params)
    total: int | None
    if params.object_id:
        everything = await _search_object(ctx, params, request)
        tasks = everything[offset : offset + params.limit]
        more = offset + len(tasks) < len(everything)
        next_offset, total = offset + len(tasks), len(everything)
    else:
        page = await ctx.client.search_tasks(request, limit=params.limit, offset=offset, sort=params.sort)
        tasks = page.tasks or []
        result_set = page.result_set
        more = bool(result_set and result_set.more)
        next_offset = (
            result_set.next_offset
            if result_set and result_set.next_offset is not None
            else offset + len(tasks)
        )
        total = result_set.total_records if result_set else None
    remember_numbers(ctx, tasks)
    now = datetime.now(UTC)
    return SearchOutput(
        tasks=None if params.detail else [summarize(t, now) for t in tasks],
        tasks_detail=[detail(t, now) for t in tasks] if params.detail else None,
        count=len(tasks),
        total=total,
        has_more=more,
        next_cursor=encode_cursor(next_offset) if more else None,
    )


# --------------------------------------------------------------------------- read one / by object


class TaskRefInput(InputModel):
    task: TaskRef = Field(description=TASK_REF_DESCRIPTION, examples=["#1042", "4f1e2a7c9b..."])


class TaskOutput(UntrustedOutput):
    task: TaskDetail
    warnings: list[str] | None = Field(default=None, description="Conflicts to tell the user about")

    def render(self) -> str:
        return task_text(self.task) + "".join(f"\nWARNING: {w}" for w in self.warnings or [])


async def _get_task(ctx: ToolContext, params: TaskRefInput) -> TaskOutput:
    task_uuid = await resolve_task_uuid(ctx, params.task)
    task = (await ctx.client.get_task(task_uuid)).task
    if task is None:
        raise ToolError(f"UltraCart returned no task for {task_uuid}")
    remember_numbers(ctx, [task])
    return TaskOutput(task=detail(task))


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
    page = await ctx.client.get_tasks_by_object(params.object_type, params.object_id)
    tasks = page.tasks or []
    remember_numbers(ctx, tasks)
    now = datetime.now(UTC)
    return ObjectTasksOutput(
        object_type=params.object_type,
        object_id=params.object_id,
        context=clean_text(page.task_context),
        tasks=None if params.detail else [summarize(t, now) for t in tasks],
        tasks_detail=[detail(t, now) for t in tasks] if params.detail else None,
        count=len(tasks),
    )


# --------------------------------------------------------------------------- create


class CreateInput(InputModel):
    name: str = Field(
        min_length=1, max_length=250, description="Short title, e.g. 'Call customer about order 1234'."
    )
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
        description="A user (name, e-mail, id or 'me') or a group (name or id). Prefix 'user:' or 'group:' "
        "when a name is both.",
        examples=["me", "Sam Rivera", "Customer Service"],
    )
    group: str | None = Field(
        default=None, max_length=200, description="A group by name or id (instead of assignee)."
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=50
    )
    object_type: ObjectType | None = Field(default=None, description=f"Linked object: {OBJECT_TYPE_ACCEPTS}.")
    object_id: str | None = Field(
        default=None, max_length=100, description="Linked object's id (with object_type)."
    )
    object_url: str | None = Field(default=None, max_length=2000)
    object_email: str | None = Field(
        default=None, max_length=250, description="Customer e-mail for the object."
    )
    note: str | None = Field(default=None, max_length=100_000, description="A first note.")
    properties: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=1000)]] | None = (
        Field(default=None, max_length=50, description="Extra name/value properties.")
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


async def _find_created(ctx: ToolContext, token: str, since: datetime) -> WorkflowTask | None:
    request = WorkflowTasksRequest(created_dts_begin=since)
    async for task in ctx.client.iter_tasks(request, sort="-created_dts"):
        if task.property_value(CREATE_TOKEN_PROPERTY) == token:
            return task
    return None


async def _create(ctx: ToolContext, params: CreateInput) -> CreateOutput:
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
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    try:
        created = (await ctx.client.insert_task(task)).task
    except (APIConnectionError, ServerError) as exc:
        if isinstance(exc, APIConnectionError) and not exc.request_sent:
            raise
        # The insert may have happened: look for our token before deciding anything.
        try:
            created = await _find_created(ctx, token, started)
        except UltraCartError:
            raise ToolError(
                f"The connection to UltraCart broke while creating the task ({exc.message}), and checking "
                "whether it was created failed too. It may exist: search for it by name before creating it "
                "again."
            ) from None
        if created is None:
            created = (await ctx.client.insert_task(task)).task
    if created is None:
        raise ToolError("UltraCart accepted the task but returned nothing")
    remember_numbers(ctx, [created])
    return CreateOutput(task=detail(created))


# --------------------------------------------------------------------------- update


class UpdateInput(InputModel):
    task: TaskRef = Field(description=TASK_REF_DESCRIPTION)
    name: str | None = Field(default=None, min_length=1, max_length=250)
    details: str | None = Field(default=None, max_length=100_000, description="New details; '' clears them.")
    status: TaskStatus | None = Field(default=None, description=f"{STATUS_ACCEPTS}.")
    priority: Priority | None = Field(default=None, description=f"{PRIORITY_ACCEPTS}.")
    due: str | None = Field(
        default=None, max_length=64, description="New due date/date-time; 'none' clears it."
    )
    delay_until: str | None = Field(
        default=None, max_length=64, description="Delay-until date/date-time; 'none' clears."
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=50, description="Replace all tags with these."
    )
    add_tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=50
    )
    remove_tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=50
    )
    assignee: str | None = Field(
        default=None,
        max_length=200,
        description="Reassign to a user (name, e-mail, id, 'me') or a group (name or id), or 'unassigned'. "
        "Assigning a user clears the group; assigning a group clears the user.",
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


# --------------------------------------------------------------------------- notes


class NoteInput(InputModel):
    task: TaskRef = Field(description=TASK_REF_DESCRIPTION)
    text: str = Field(min_length=1, max_length=100_000, description="The note to append.")
    attachments: list[FileInput] | None = Field(
        default=None,
        max_length=10,
        description="Files to attach to the note: each {'content_base64', 'file_name'} or {'path'} (stdio).",
    )


class NoteOutput(TaskOutput):
    note_index: int

    def render(self) -> str:
        return f"Added note {self.note_index + 1} to #{self.task.number}\n" + super().render()


async def _add_note(ctx: ToolContext, params: NoteInput) -> NoteOutput:
    files = [
        await read_file(source, allow_local_files=ctx.allow_local_files, field=f"attachments.{i}")
        for i, source in enumerate(params.attachments or [])
    ]
    task_uuid = await resolve_task_uuid(ctx, params.task)
    # Upload first: the note and its files then arrive in one write.
    uploaded = [
        await upload_file(ctx, content, name, source.mime_type)
        for (content, name), source in zip(files, params.attachments or [], strict=True)
    ]
    text = note_text(ctx, params.text)

    def mutate(task: WorkflowTask) -> list[str]:
        task.notes = [*(task.notes or []), WorkflowNote(note=text, attachments=uploaded or None)]
        return ["note added"]

    saved, _, warnings = await read_modify_write(ctx, task_uuid, mutate)
    return NoteOutput(task=detail(saved), note_index=len(saved.notes or []) - 1, warnings=warnings or None)


# --------------------------------------------------------------------------- counts and tags


class NoInput(InputModel):
    pass


class OpenCountOutput(OutputModel):
    open_count: int

    def to_text(self) -> str:
        return f"{self.open_count} open task(s)"


async def _open_count(ctx: ToolContext, _params: NoInput) -> OpenCountOutput:
    return OpenCountOutput(open_count=(await ctx.client.get_open_count()).open_count or 0)


class TagsOutput(OutputModel):
    tags: list[str]
    count: int

    def to_text(self) -> str:
        return ", ".join(self.tags) or "no tags in use"


async def _tags(ctx: ToolContext, _params: NoInput) -> TagsOutput:
    tags = [clean_text(t) or "" for t in (await ctx.client.get_tags()).tags or []]
    return TagsOutput(tags=tags, count=len(tags))


# --------------------------------------------------------------------------- the tools

READ = Hints(read_only=True, destructive=False, idempotent=True, open_world=True)
WRITE_CREATE = Hints(read_only=False, destructive=False, idempotent=False, open_world=True)
WRITE_UPDATE = Hints(read_only=False, destructive=True, idempotent=True, open_world=True)
WRITE_APPEND = Hints(read_only=False, destructive=False, idempotent=False, open_world=True)

SEARCH_TASKS = Tool(
    name="search_tasks",
    title="Search tasks",
    description=(
        "Find workflow tasks. Filters combine with AND: status (open, closed, delayed, awaiting "
        "customer feedback), priority (low/medium/high/critical), assignee ('me' = mine directly or through "
        "my groups, 'unassigned', or a user/group by name, e-mail or id), group, object_type, object_email, "
        "tags, created_by, overdue, and date ranges (due/created/updated/delay_until _after/_before, "
        "ISO dates). "
        "Returns compact summaries (uuid, number, name, status, priority, assignee, due, overdue, object) "
        "with total, has_more and next_cursor; pass detail=true for full tasks. "
        "Example: {'assignee': 'me', 'status': 'open', 'sort': 'due'}. "
        "object_type + object_id narrows to one order's (item's, ...) tasks, with the other filters "
        "still applied."
    ),
    toolset="tasks",
    input_model=SearchInput,
    output_model=SearchOutput,
    hints=READ,
    handler=_search,
)

GET_TASK = Tool(
    name="get_task",
    title="Get a task",
    description=(
        "One task in full: details, assignee, dates, linked object, tags, properties, notes (with "
        "attachments), attachments and history. `task` is its uuid or its number ('#1042')."
    ),
    toolset="tasks",
    input_model=TaskRefInput,
    output_model=TaskOutput,
    hints=READ,
    handler=_get_task,
)

GET_TASKS_FOR_OBJECT = Tool(
    name="get_tasks_for_object",
    title="Tasks of an order, auto order, item, customer or storefront",
    description=(
        "Every task linked to one UltraCart object. object_type: order, auto order, item, customer profile "
        "or storefront; object_id: its id. Example: {'object_type': 'order', 'object_id': 'DEMO-0001234'}."
    ),
    toolset="tasks",
    input_model=ObjectInput,
    output_model=ObjectTasksOutput,
    hints=READ,
    handler=_tasks_for_object,
)

CREATE_TASK = Tool(
    name="create_task",
    title="Create a task",
    description=(
        "Create a workflow task. Only `name` is required. Optional: details, priority (low/medium/high/"
        "critical, default medium), status (default open), due (ISO date or date-time), delay_until, "
        "assignee (a user by name, e-mail, id or 'me', or a group by name), tags, a linked object "
        "(object_type + object_id), a first note, properties. Created exactly once even if the connection "
        "drops. Example: {'name': 'Refund check for order DEMO-0001234', 'priority': 'high', "
        "'assignee': 'Sam Rivera', 'due': '2026-12-05', 'object_type': 'order', 'object_id': 'DEMO-0001234'}."
    ),
    toolset="tasks",
    input_model=CreateInput,
    output_model=CreateOutput,
    hints=WRITE_CREATE,
    handler=_create,
)

UPDATE_TASK = Tool(
    name="update_task",
    title="Update a task",
    description=(
        "Change a task: name, details, status, priority, due, delay_until ('none' clears a date), tags "
        "(replace) or add_tags/remove_tags, and assignee or group. Assigning a user clears the group and "
        "assigning a group clears the user; 'unassigned' clears both. Only the fields you give change: "
        "notes, attachments, properties and everything else are kept. Close a task with status 'closed'. "
        "Example: {'task': '#1042', 'assignee': 'Sam', 'priority': 'high'}."
    ),
    toolset="tasks",
    input_model=UpdateInput,
    output_model=UpdateOutput,
    hints=WRITE_UPDATE,
    handler=_update,
)

ADD_TASK_NOTE = Tool(
    name="add_task_note",
    title="Add a note to a task",
    description=(
        "Append a note to a task, optionally with files (attachments: [{'content_base64', 'file_name'}]); "
        "every existing note, attachment and field is kept. Example: {'task': '#1042', 'text': "
        "'Customer called back; refund approved.'}."
    ),
    toolset="tasks",
    input_model=NoteInput,
    output_model=NoteOutput,
    hints=WRITE_APPEND,
    handler=_add_note,
)

COUNT_OPEN_TASKS = Tool(
    name="count_open_tasks",
    title="Count open tasks",
    description=(
        "How many tasks in the account are not closed (open, delayed or awaiting customer feedback): "
        "one cheap call, e.g. for a badge or a daily summary."
    ),
    toolset="tasks",
    input_model=NoInput,
    output_model=OpenCountOutput,
    hints=READ,
    handler=_open_count,
)

LIST_TASK_TAGS = Tool(
    name="list_task_tags",
    title="List task tags",
    description="Every tag in use on tasks, e.g. to pick a tag for search_tasks or create_task.",
    toolset="tasks",
    input_model=NoInput,
    output_model=TagsOutput,
    hints=READ,
    handler=_tags,
)

TASK_TOOLS: tuple[Tool, ...] = (  # type: ignore[type-arg]
    SEARCH_TASKS,
    GET_TASK,
    GET_TASKS_FOR_OBJECT,
    CREATE_TASK,
    UPDATE_TASK,
    ADD_TASK_NOTE,
    COUNT_OPEN_TASKS,
    LIST_TASK_TAGS,
)
