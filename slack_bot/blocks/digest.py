"""The daily digest: its DM (each task a compact line with a "Show" button for its card) and the same
three lists as sections of App Home (rows with the usual overflow menu)."""

from __future__ import annotations

from datetime import date

from slack_sdk.models.blocks import Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from shared_client.tools.outputs import TaskSummary
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks import common as c
from slack_bot.blocks.results import row_text, task_row
from slack_bot.digest.lists import DigestLists

MAX_DIGEST_ROWS = 10  # per list in the DM: three lists with their titles stay under Slack's 50 blocks
MAX_HOME_DIGEST_ROWS = 8  # per list on App Home, which also lists every open task below
FOOTER = (
    "`/task digest off` stops this daily message · `/task digest HH:MM` moves it · "
    "App Home shows these lists too."
)


def sections(lists: DigestLists) -> list[tuple[str, list[TaskSummary]]]:
    """The lists that have tasks, with their titles, in order."""
    titled = (
        (":rotating_light: Overdue", lists.overdue),
        (":calendar: Due today", lists.due_today),
        (":inbox_tray: Newly assigned", lists.new or []),
    )
    return [(title, tasks) for title, tasks in titled if tasks]


def digest_row(task: TaskSummary) -> SectionBlock:
    return SectionBlock(
        block_id=ids.with_task(ids.ROW, task.uuid),
        text=MarkdownTextObject(text=row_text(task)),
        accessory=ButtonElement(text="Show", action_id=ids.SHOW_TASK, value=task.uuid[: c.MAX_BUTTON_VALUE]),
    )


def _list(title: str, tasks: list[TaskSummary], limit: int, *, home: bool = False) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{title}* ({len(tasks)})"))]
    blocks.extend(task_row(s) if home else digest_row(s) for s in tasks[:limit])
    if len(tasks) > limit:
        more = f"…and {len(tasks) - limit} more: App Home and `/task mine` list them all."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    return blocks


def day_label(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def digest_text(lists: DigestLists, day: date) -> str:
    """The DM's notification text."""
    return t.truncate(f"Your tasks for {day_label(day)}: {lists.count()}", c.MAX_MESSAGE_TEXT)


def digest_blocks(lists: DigestLists, day: date) -> list[Block]:
    """The DM: a line per task in each list that has any, at most :data:`MAX_DIGEST_ROWS` each."""
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(text=f":sunrise: *Your tasks for {day_label(day)}*: {lists.count()}.")
        )
    ]
    for title, tasks in sections(lists):
        blocks += _list(title, tasks, MAX_DIGEST_ROWS)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=FOOTER)]))
    return blocks[: c.MAX_MESSAGE_BLOCKS]


def home_digest_blocks(lists: DigestLists) -> list[Block]:
    """App Home's version: the same lists (rows with the overflow menu), or one line when all are empty."""
    found = sections(lists)
    if not found:
        return [
            ContextBlock(
                elements=[MarkdownTextObject(text="Nothing overdue, due today or newly assigned. :sunny:")]
            )
        ]
    blocks: list[Block] = []
    for title, tasks in found:
        blocks += _list(title, tasks, MAX_HOME_DIGEST_ROWS, home=True)
    return blocks
