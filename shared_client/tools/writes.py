"""The write path: every change to a task is a read-modify-write of the whole task, checked.

UltraCart's writes are whole-object PUTs with no version field, so what is not meant to change must be
sent back exactly as read; a change that did not stick is applied again; another writer's change that our
PUT replaced is reported. Here too: who a task goes to (user, group, nobody) and who a change was made for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from shared_client.errors import UltraCartError
from shared_client.locks import LOCK_TIMEOUT, HeldLock, LockLost, LockTimeout, held_within, machine_lock
from shared_client.models import Property, WorkflowTask, WorkflowTaskResponse, parse_uc_datetime
from shared_client.tools.context import ToolContext
from shared_client.tools.directory import Assignee, PeopleSnapshot, resolve_assignee, resolve_group
from shared_client.tools.errors import ErrorKind, ToolError, from_api_error
from shared_client.tools.task_refs import fetch_task

logger = logging.getLogger("uc_workflow.tools")

CHANGED_BY_PROPERTY = "uc_workflow_changed_by"

CREATE_TOKEN_PROPERTY = "uc_workflow_create_id"
"""Every create carries a unique token in the task's properties, so an insert whose outcome is unknown
(connection lost after sending) can be found instead of sent twice."""

RESERVED_PROPERTIES = frozenset({CREATE_TOKEN_PROPERTY, CHANGED_BY_PROPERTY})


MAX_WRITE_ATTEMPTS = 3
LOCK_LOST_DURING_WRITE = (
    "This task's write lock expired while the change was being written (Redis did not renew it in time), "
    "so another writer may have written at the same time. Check the task with get_task."
)
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
    in its own time zone), to the whole second (what UltraCart stores)."""
    if key.endswith("_dts") and isinstance(value, str):
        return parse_uc_datetime(value).replace(microsecond=0)
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


def task_write_lock(
    ctx: ToolContext, task_uuid: str, max_wait: float
) -> AbstractAsyncContextManager[HeldLock]:
    """The lock every writer of this task shares: in Redis when ``ctx.redis_url`` is set (every machine),
    else this machine's file lock (every process using the same ``UC_WORKFLOW_STATE_DIR``)."""
    if ctx.redis_url:
        from shared_client.redis_locks import redis_lock

        return redis_lock(ctx.redis_url, ctx.client.base_url, task_uuid, max_wait=max_wait)
    return machine_lock(ctx.client.base_url, task_uuid, max_wait=max_wait)


async def read_modify_write(
    ctx: ToolContext, task_uuid: str, mutate: Callable[[WorkflowTask], list[str]]
) -> tuple[WorkflowTask, list[str], list[str]]:
    """GET the whole task, apply ``mutate`` to a copy, PUT it back: every field, note, attachment,
    property and tag that ``mutate`` did not touch is sent back unchanged.

    Writes to one task are serialized in the process (asyncio lock) and across processes (the machine's
    file lock, or Redis's across machines), so the MCP server and the Slack bot never erase each other's
    change; the read happens right before the write, and the lock is checked to be still ours right before
    the PUT (a Redis lock that expired under us writes nothing). The PUT's answer is checked: a change that
    did not stick is re-applied to the fresh task (bounded), and a change by a writer elsewhere that our
    write replaced is reported. Returns (task, changes, warnings).
    """
    # Each wait for another writer is bounded by the lock's timeout and what is left of the call's deadline.
    remaining = ctx.client.remaining_time()
    max_wait = LOCK_TIMEOUT if remaining is None else min(LOCK_TIMEOUT, remaining)
    try:
        async with (
            held_within(ctx.task_lock(task_uuid), max_wait),
            task_write_lock(ctx, task_uuid, max_wait) as held,
        ):
            for attempt in range(MAX_WRITE_ATTEMPTS):
                try:
                    current = await fetch_task(ctx, task_uuid, shared=False)
                    intended = current.model_copy(deep=True)
                    changes = mutate(intended)
                    if not changes:
                        return current, [], []
                    await _still_held(held, task_uuid, attempt)
                    saved = (await _put_under_lock(ctx, task_uuid, intended)).task or intended
                except (ToolError, UltraCartError) as exc:
                    if attempt == 0:
                        raise
                    raise _after_a_write(exc) from None
                if change_stuck(current, intended, saved):
                    warnings = overwrite_warnings(current, intended, saved)
                    if not await held.confirm():  # not ours at some point while the PUT was on its way
                        warnings.append(LOCK_LOST_DURING_WRITE)
                    return saved, changes, warnings
                logger.warning(
                    "the change to task %s did not read back as written; applying it again", task_uuid
                )
    except LockTimeout as exc:
        raise ToolError(
            f"Another write to task {task_uuid} has held its lock for {exc.waited:.0f} s; try again. "
            "Nothing was changed.",
            kind=ErrorKind.CONFLICT,
        ) from None
    raise ToolError(
        f"The change to task {task_uuid} did not stick after {MAX_WRITE_ATTEMPTS} attempts: another writer "
        "keeps changing it. Nothing was lost; look at the task and try again.",
        kind=ErrorKind.CONFLICT,
        write=True,
    )


async def _put_under_lock(ctx: ToolContext, task_uuid: str, intended: WorkflowTask) -> WorkflowTaskResponse:
    """The PUT, its answer awaited even when the caller is cancelled meanwhile (a client that hung up, a
    shutdown): the request may already be at UltraCart, and releasing the lock before it lands would let
    another writer read the task without it and put it back over it. Then the cancellation goes on.

    Every cancellation is held off until the answer, not only the first: anyio's cancel scopes (the MCP
    server's requests) cancel again at every step until the task gives up. The wait is bounded by the
    client's HTTP timeouts and call deadline."""
    put = asyncio.ensure_future(ctx.client.update_task(task_uuid, intended))
    cancelled = False
    while not put.done():
        try:
            await asyncio.wait([put])
        except asyncio.CancelledError:
            if not cancelled:
                logger.info(
                    "cancelled while its PUT to task %s was on its way; the task's lock is kept until "
                    "UltraCart answers",
                    task_uuid,
                )
            cancelled = True
    if cancelled:
        if not put.cancelled():
            put.exception()  # retrieved: the caller is gone, and the outcome is not theirs to see
        raise asyncio.CancelledError
    return put.result()


async def _still_held(held: HeldLock, task_uuid: str, attempt: int) -> None:
    """The lock must still be ours to PUT: another writer may hold an expired one's key by now."""
    try:
        await held.ensure_held()
    except LockLost:
        written = "nothing was written" if attempt == 0 else "this attempt was not sent"
        raise ToolError(
            f"The write lock on task {task_uuid} expired before the change was sent (another writer may "
            f"hold it now), so {written}; try again.",
            kind=ErrorKind.CONFLICT,
        ) from None


def _after_a_write(exc: ToolError | UltraCartError) -> ToolError:
    """A failure once a write of this change has reached UltraCart: what the task holds is not known."""
    error = exc if isinstance(exc, ToolError) else from_api_error(exc)
    if error.kind is ErrorKind.UNKNOWN_OUTCOME:
        return error
    return ToolError(
        f"{error.message} An earlier write of this change reached UltraCart and did not read back as "
        "written: look at the task before trying again.",
        kind=ErrorKind.UNKNOWN_OUTCOME,
        fields=error.fields,
        write=True,
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
