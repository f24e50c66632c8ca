"""A change to a task from Slack: update_task (and a note) as the Slack user, then the card says who did
what, in place when it was changed from the card, and a new assignee hears about it.

No business rules: the change itself is the tools' (``UPDATE_TASK``, ``ADD_TASK_NOTE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared_client.tools import ADD_TASK_NOTE, UPDATE_TASK
from shared_client.tools.outputs import TaskDetail
from slack_bot.actors import Actor, run_tool
from slack_bot.blocks.card import activity_line
from slack_bot.deps import Deps
from slack_bot.notify.writes import record_slack_write
from slack_bot.origin import Origin
from slack_bot.replies import notify_assignee, show_card

NOTE_ADDED = "added a note"


@dataclass
class Change:
    """What the tools did: the task as it is now, and the changes made."""

    task: TaskDetail
    changes: list[str]
    reassigned: bool = False


async def apply_change(deps: Deps, actor: Actor, args: dict[str, Any], *, note: str | None = None) -> Change:
    """update_task as the Slack user (then the note, if any). Nothing is posted to Slack."""
    output = await run_tool(deps, actor, UPDATE_TASK, args)
    change = Change(output.task, list(output.changes), output.reassigned)
    if output.changes:  # the member made this version: the change feed tells them nothing about it
        await record_slack_write(deps.identities.db, change.task.uuid, change.task.updated, actor.slack_id)
    if note:
        noted = await add_note(deps, actor, {"task": change.task.uuid, "text": note})
        change = Change(noted.task, change.changes + noted.changes, change.reassigned)
    return change


async def add_note(deps: Deps, actor: Actor, args: dict[str, Any]) -> Change:
    """add_task_note as the Slack user. Nothing is posted to Slack."""
    output = await run_tool(deps, actor, ADD_TASK_NOTE, args)
    await record_slack_write(deps.identities.db, output.task.uuid, output.task.updated, actor.slack_id)
    return Change(output.task, [NOTE_ADDED])


async def announce_change(
    deps: Deps,
    origin: Origin,
    actor: Actor,
    change: Change,
    *,
    replace: bool,
    public: bool = True,
    verb: str = "changed",
) -> None:
    """The card (in place when ``replace``) says who did what, and a new assignee hears about it."""
    await show_card(
        deps,
        origin,
        change.task,
        activity=activity_line(actor.slack_id, change.changes, verb),
        public=public,
        replace=replace,
    )
    if change.reassigned:
        await notify_assignee(deps, actor, change.task)


async def change_task(
    deps: Deps,
    origin: Origin,
    actor: Actor,
    args: dict[str, Any],
    *,
    replace: bool,
    public: bool = True,
    note: str | None = None,
) -> TaskDetail:
    """:func:`apply_change`, then :func:`announce_change`."""
    change = await apply_change(deps, actor, args, note=note)
    await announce_change(deps, origin, actor, change, replace=replace, public=public)
    return change.task
