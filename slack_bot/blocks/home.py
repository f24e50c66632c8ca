"""App Home: my open tasks (overdue first), unassigned tasks in my groups, a "New task" button."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
)
from slack_sdk.models.views import View

from shared_client.tools.outputs import TaskSummary
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks import common as c
from slack_bot.blocks.results import task_row

MAX_HOME_ROWS = 40  # per section; two sections plus headers stay under 100 blocks


def _section(title: str, tasks: list[TaskSummary], empty: str) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=t.plain(title, c.MAX_HEADER_TEXT))]
    if not tasks:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=empty)]))
    blocks.extend(task_row(task) for task in tasks[:MAX_HOME_ROWS])
    if len(tasks) > MAX_HOME_ROWS:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=f"…and {len(tasks) - MAX_HOME_ROWS} more: use `/task mine`.")
                ]
            )
        )
    return blocks


def home_view(
    mine: list[TaskSummary],
    group_tasks: list[TaskSummary],
    *,
    who: str,
    groups_note: str | None = None,
    problem: str | None = None,
) -> View:
    """``who`` and ``groups_note`` and ``problem`` are mrkdwn already escaped by the caller."""
    blocks: list[Block] = [
        ActionsBlock(
            elements=[
                ButtonElement(text="New task", action_id=ids.HOME_NEW_TASK, style="primary", value="new"),
                ButtonElement(text="Search", action_id=ids.HOME_SEARCH, value="search"),
                ButtonElement(text="Refresh", action_id=ids.HOME_REFRESH, value="refresh"),
            ]
        ),
        ContextBlock(elements=[MarkdownTextObject(text=t.truncate(who, c.MAX_CONTEXT_TEXT))]),
    ]
    if problem:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t.truncate(problem, c.MAX_CONTEXT_TEXT))])
        )
        return View(type="home", blocks=blocks)
    blocks += _section("Your open tasks", mine, "Nothing assigned to you is open. :tada:")
    blocks.append(DividerBlock())
    blocks += _section("Unassigned in your groups", group_tasks, "No group task is waiting for someone.")
    if groups_note:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t.truncate(groups_note, c.MAX_CONTEXT_TEXT))])
        )
    return View(type="home", blocks=blocks[: c.MAX_VIEW_BLOCKS])
