"""Search results and task lists: at most 10 tasks a message, each with the card's actions in an
overflow menu, and a "more" button."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    OverflowMenuElement,
    SectionBlock,
)

from shared_client.tools.outputs import TaskSummary
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks import common as c


def row_menu(task: TaskSummary) -> OverflowMenuElement:
    closing = (
        c.option("Reopen", f"{ids.MENU_REOPEN}|{task.uuid}")
        if task.closed
        else c.option("Close", f"{ids.MENU_CLOSE}|{task.uuid}")
    )
    return OverflowMenuElement(
        action_id=ids.ROW_MENU,
        options=[
            c.option("Assign to me", f"{ids.MENU_ASSIGN_ME}|{task.uuid}"),
            c.option("Reassign…", f"{ids.MENU_REASSIGN}|{task.uuid}"),
            c.option("Add note…", f"{ids.MENU_NOTE}|{task.uuid}"),
            c.option("Edit (status, priority, due…)", f"{ids.MENU_EDIT}|{task.uuid}"),
            closing,
        ],
    )


def row_text(task: TaskSummary) -> str:
    status = t.escape(c.status_label(task.status))
    who = c.assignee_label(task.assignee, task.group)
    parts = [status, c.priority_label(task.priority), who, c.due_label(task.due, task.overdue)]
    if task.object:
        parts.append(t.one_line(task.object, 120))
    return t.truncate(
        c.task_title(task.number, task.name, 250) + "\n" + " · ".join(parts), c.MAX_SECTION_TEXT
    )


def task_row(task: TaskSummary) -> SectionBlock:
    return SectionBlock(
        block_id=ids.with_task(ids.ROW, task.uuid),
        text=MarkdownTextObject(text=row_text(task)),
        accessory=row_menu(task),
    )


def results_blocks(
    title: str,
    tasks: list[TaskSummary],
    *,
    more_value: str | None = None,
    note: str | None = None,
    empty: str = "No tasks match.",
) -> list[Block]:
    """``title`` is mrkdwn already escaped by the caller; ``tasks`` beyond 10 are left to "more"."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=t.truncate(title, c.MAX_SECTION_TEXT)))]
    shown = tasks[: c.RESULTS_PER_MESSAGE]
    if not shown:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=empty)]))
    blocks.extend(task_row(task) for task in shown)
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=t.truncate(note, c.MAX_CONTEXT_TEXT))]))
    if more_value is not None and len(more_value) <= c.MAX_BUTTON_VALUE:
        blocks.append(
            ActionsBlock(elements=[ButtonElement(text="More", action_id=ids.MORE_RESULTS, value=more_value)])
        )
    elif more_value is not None:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text="More tasks match: narrow the search.")])
        )
    return blocks
