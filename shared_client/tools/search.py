"""The search tool: UltraCart's search with people and dates as people write them, a cursor, and the
filters and order of UltraCart's search applied to tasks already in hand (one object's tasks)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from shared_client import constants
from shared_client.models import ObjectType as ObjectTypeEnum
from shared_client.models import Priority as PriorityEnum
from shared_client.models import SearchStatus as SearchStatusEnum
from shared_client.models import WorkflowTask, WorkflowTasksRequest, WorkflowUser
from shared_client.tools.base import READ, InputModel, tool
from shared_client.tools.context import ToolContext
from shared_client.tools.directory import (
    ME_WORDS,
    SYSTEM_USER_NAME,
    UNASSIGNED_WORDS,
    PeopleSnapshot,
    is_id,
    match_users,
    resolve_assignee,
    resolve_group,
    resolve_user,
)
from shared_client.tools.errors import ToolInputError
from shared_client.tools.inputs import DueDate, ObjectType, Priority, SearchStatus, SortSpec, StartDate, Tags
from shared_client.tools.outputs import TaskListOutput, summary_row, task_list, task_text
from shared_client.tools.task_refs import remember_numbers
from shared_client.tools.values import (
    PRIORITY_ACCEPTS,
    SEARCH_OBJECT_TYPE_ACCEPTS,
    SEARCH_STATUS_ACCEPTS,
    parse_when,
)

Cursor = Annotated[str | None, Field(max_length=200, description="next_cursor of the previous page.")]
Detail = Annotated[bool, Field(description="true: full tasks (notes, history) instead of summaries.")]


def page_limit(default: int) -> Any:
    """The ``limit`` field of a paged task list (UltraCart's page is at most 500)."""
    return Field(
        default=default, ge=1, le=constants.MAX_PAGE_SIZE_TASKS, description="Tasks per page (max 500)."
    )


class SearchFilters(InputModel):
    """The filters of UltraCart's task search, as people write them: ``search_tasks`` and
    ``list_recent_changes`` both take them (the latter has its own window on ``last_update_dts``)."""

    status: SearchStatus | None = Field(default=None, description=f"One of {SEARCH_STATUS_ACCEPTS}.")
    priority: Priority | None = Field(default=None, description=f"{PRIORITY_ACCEPTS}.")
    assignee: str | None = Field(
        default=None,
        max_length=200,
        description="A user by name or id (an e-mail only where it is the user's name); 'me' (mine "
        "directly or through my groups); "
        "'unassigned' (neither user nor group); or a group name (same as `group`).",
        examples=["me", "Sam Rivera", "tom@demo.example", "unassigned"],
    )
    group: str | None = Field(
        default=None, max_length=200, description="A group by name or id, e.g. 'Fraud Review'."
    )
    object_type: ObjectType | None = Field(
        default=None,
        description=f"{SEARCH_OBJECT_TYPE_ACCEPTS}. storefront (or store) only together with object_id.",
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
    tags: Tags | None = Field(default=None, max_length=20, description="Tasks carrying all of these tags.")
    created_by: str | None = Field(
        default=None,
        max_length=200,
        description=f"Creator: an assignable user's name or id, 'me', any user id, or "
        f"'{SYSTEM_USER_NAME}' (tasks made by UltraCart's rules).",
    )
    overdue: bool | None = Field(default=None, description="true: only open tasks whose due date has passed.")
    due_after: StartDate | None = Field(default=None, description="Due on or after this date/date-time.")
    due_before: DueDate | None = Field(default=None, description="Due on or before this date/date-time.")
    created_after: StartDate | None = None
    created_before: DueDate | None = None
    delay_until_after: StartDate | None = None
    delay_until_before: DueDate | None = None

    def date_ranges(self) -> dict[str, tuple[str | None, str | None]]:
        """UltraCart's date field → the (after, before) given for it."""
        return {
            "due_dts": (self.due_after, self.due_before),
            "created_dts": (self.created_after, self.created_before),
            "delay_until_dts": (self.delay_until_after, self.delay_until_before),
        }

    @model_validator(mode="after")
    def _object(self) -> SearchFilters:
        if self.object_id and not self.object_type:
            raise ValueError("object_type: is required with object_id, e.g. 'order'")
        if self.object_type == ObjectTypeEnum.STOREFRONT and not self.object_id:
            raise ValueError(
                "object_type: UltraCart's search cannot filter on storefront; give object_id for one "
                f"storefront's tasks, or use {SEARCH_OBJECT_TYPE_ACCEPTS}"
            )
        return self


class SearchInput(SearchFilters):
    updated_after: StartDate | None = None
    updated_before: DueDate | None = None
    sort: SortSpec | None = Field(
        default=None,
        description="Fields: due, priority, created, updated, status, name, number, assignee, delay_until, "
        "type; '-' for descending; comma-separated. E.g. 'due' or '-priority,due'.",
    )
    limit: int = page_limit(25)
    cursor: Cursor = None
    detail: Detail = False

    def date_ranges(self) -> dict[str, tuple[str | None, str | None]]:
        return {**super().date_ranges(), "last_update_dts": (self.updated_after, self.updated_before)}


class SearchOutput(TaskListOutput):
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


# What a page is not part of: the same search with another page size or view may go on with a cursor.
_NOT_THE_QUERY = frozenset({"limit", "cursor", "detail"})


def query_fingerprint(params: SearchFilters) -> str:
    """The search a cursor belongs to: its filters and sort (and any other argument but the page size and
    view), as validated (so 'high' and '3 - high' agree)."""
    query = params.model_dump(mode="json", exclude=set(_NOT_THE_QUERY), exclude_none=True)
    return hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:10]  # catches mix-ups


def encode_cursor(offset: int, query: str) -> str:
    """``OFFSET.FINGERPRINT``: short, because it travels in every page (structured and text)."""
    return f"{offset}.{query}"


_CURSOR = re.compile(r"(\d{1,9})\.([0-9a-f]{1,64})")


def decode_cursor(cursor: str, query: str) -> int:
    """The offset a cursor of this search (``query_fingerprint``) goes on from. A cursor of the older
    form (base64 JSON without a fingerprint, e.g. on a posted Slack "More" button) is taken as is."""
    compact = _CURSOR.fullmatch(cursor)
    if compact:
        offset, owner = int(compact.group(1)), compact.group(2)
    else:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            offset, owner = data["o"], data.get("q", query)
            if (
                not isinstance(offset, int)
                or isinstance(offset, bool)
                or offset < 0
                or not isinstance(owner, str)
            ):
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, json.JSONDecodeError):
            raise ToolInputError.about("cursor", "use the next_cursor value of a previous search") from None
    if owner != query:
        raise ToolInputError.about(
            "cursor", "this cursor belongs to another search; start again without cursor"
        )
    return offset


async def _creator(ctx: ToolContext, text: str) -> WorkflowUser:
    """A creator: an assignable user (name, id, 'me'), any user id, or the System user of rule-made
    tasks (creators need not be assignable, and UltraCart knows them by id or name). Any other name is an
    error, as for an assignee: a search that silently finds nothing would read as "no such tasks"."""
    text = text.strip()
    if is_id(text):
        return WorkflowUser(user_id=int(text))
    if text.lower() == SYSTEM_USER_NAME.lower():
        return WorkflowUser(user=SYSTEM_USER_NAME)

    def pick(snapshot: PeopleSnapshot) -> WorkflowUser:
        if text.lower() in ME_WORDS or match_users(snapshot, text):
            return WorkflowUser(user_id=resolve_user(snapshot, text, field="created_by").user_id)
        raise ToolInputError.about(
            "created_by",
            f"no user matches {text!r}; use an assignable user's name or id (list_assignable_users "
            f"shows them), 'me', any user id, or '{SYSTEM_USER_NAME}' for the tasks UltraCart's rules make",
        )

    return await ctx.people.resolve(pick)


async def build_search_request(ctx: ToolContext, params: SearchFilters) -> WorkflowTasksRequest:
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
        request.created_by = await _creator(ctx, params.created_by)
    for field, (begin, end) in params.date_ranges().items():
        if begin:
            setattr(request, f"{field}_begin", parse_when(begin, end_of_day=False))
        if end:
            setattr(request, f"{field}_end", parse_when(end, end_of_day=True))
    if params.overdue:
        if params.status == SearchStatusEnum.CLOSED:
            raise ToolInputError.about(
                "overdue",
                "only tasks that are not closed can be overdue; leave status out or use open, delayed or "
                "awaiting customer feedback",
            )
        now = ctx.clock().replace(microsecond=0)
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


async def search_object(
    ctx: ToolContext, params: SearchFilters, request: WorkflowTasksRequest, sort: str | None
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
    return _sort_in_hand(found, sort)


async def search_page(
    ctx: ToolContext,
    params: SearchFilters,
    request: WorkflowTasksRequest,
    *,
    sort: str | None,
    offset: int,
    limit: int,
) -> tuple[list[WorkflowTask], bool, int, int | None]:
    """One page of a search (``limit`` tasks from ``offset``): the tasks, whether there are more, the next
    offset and the total when known. One UltraCart call (one object's tasks: see :func:`search_object`)."""
    total: int | None
    if params.object_id:
        everything = await search_object(ctx, params, request, sort)
        tasks = everything[offset : offset + limit]
        more = offset + len(tasks) < len(everything)
        next_offset, total = offset + len(tasks), len(everything)
    else:
        page = await ctx.client.search_tasks(request, limit=limit, offset=offset, sort=sort)
        tasks = page.tasks or []
        result_set = page.result_set
        more = bool(result_set and result_set.more)
        next_offset = (
            result_set.next_offset
            if result_set and result_set.next_offset is not None
            else offset + len(tasks)
        )
        total = result_set.total_records if result_set else None
    await remember_numbers(ctx, tasks)
    return tasks, more, next_offset, total


async def _search(ctx: ToolContext, params: SearchInput) -> SearchOutput:
    """Search tasks

    Find workflow tasks. Filters combine with AND: status (open, closed, delayed, awaiting customer
    feedback), priority (low/medium/high/critical), assignee ('me' = mine directly or through my groups,
    'unassigned', or a user/group by name, e-mail or id), group, object_type, object_email, tags,
    created_by, overdue, and date ranges (due/created/updated/delay_until _after/_before, ISO dates).
    Returns compact summaries (number, name, status, priority, assignee, due date, overdue, object) with
    total, has_more and next_cursor; pass detail=true for full tasks. Example: {'assignee': 'me',
    'status': 'open', 'sort': 'due'}. object_type + object_id narrows to one order's (item's, ...) tasks,
    with the other filters still applied."""
    query = query_fingerprint(params)
    offset = decode_cursor(params.cursor, query) if params.cursor else 0
    request = await build_search_request(ctx, params)
    tasks, more, next_offset, total = await search_page(
        ctx, params, request, sort=params.sort, offset=offset, limit=params.limit
    )
    return SearchOutput(
        **task_list(tasks, params.detail),
        total=total,
        has_more=more,
        next_cursor=encode_cursor(next_offset, query) if more else None,
    )


SEARCH_TASKS = tool(_search, name="search_tasks", toolset="tasks", hints=READ)
