"""App Home: my overdue tasks, those due today and those newly assigned (the daily digest's lists), then my
other open tasks (overdue first), unassigned tasks in my groups, a "New task" button."""

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
from slack_bot.blocks.digest import home_digest_blocks
from slack_bot.blocks.results import task_row
from slack_bot.digest.lists import DigestLists

# Per section: the digest's three lists (blocks.digest.MAX_HOME_DIGEST_ROWS each), then two sections, with
# their titles and notes, stay under 100 blocks.
MAX_HOME_ROWS = 28


def _section(title: str, tasks: list[TaskSummary], empty: str, *, above: int = 0) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=t.plain(title, c.MAX_HEADER_TEXT))]
    note = None
    if not tasks:
        note = empty if not above else ("It is" if above == 1 else f"All {above} are") + " listed above."
    elif above:
        note = f"…and {above} listed above."
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
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
    today: DigestLists | None = None,
) -> View:
    """``who`` and ``groups_note`` and ``problem`` are mrkdwn already escaped by the caller. ``today``: the
    digest's lists, shown first; the sections below leave out the tasks they hold."""
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
    listed: set[str] = set()
    if today is not None:
        blocks += home_digest_blocks(today)
        blocks.append(DividerBlock())
        listed = {s.uuid for s in (*today.overdue, *today.due_today, *(today.new or []))}
    rest = [s for s in mine if s.uuid not in listed]
    blocks += _section(
        "Your open tasks", rest, "Nothing assigned to you is open. :tada:", above=len(mine) - len(rest)
    )
    blocks.append(DividerBlock())
    waiting = [s for s in group_tasks if s.uuid not in listed]
    blocks += _section(
        "Unassigned in your groups",
        waiting,
        "No group task is waiting for someone.",
        above=len(group_tasks) - len(waiting),
    )
    if groups_note:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t.truncate(groups_note, c.MAX_CONTEXT_TEXT))])
        )
    return View(type="home", blocks=blocks[: c.MAX_VIEW_BLOCKS])
