"""/task help, and usage errors that point at the offending word."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from slack_bot import grammar
from slack_bot import text as t
from slack_bot.blocks import common as c


def help_blocks() -> list[Block]:
    lines = "\n".join(f"`{t.escape(line)}`" for line in grammar.help_lines())
    return [
        SectionBlock(text=MarkdownTextObject(text="*UltraCart tasks from Slack*\n" + lines)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{grammar.REF_HELP}. `/task search` with no filters opens a search form; "
                    "the App Home tab lists your tasks."
                )
            ]
        ),
    ]


def usage_blocks(error: grammar.UsageError) -> list[Block]:
    text = f":warning: {t.escape(error.message)}"
    if error.word is not None:
        text += f"\n```{t.escape(error.shown())}\n{error.pointer()}```"
    if error.usage:
        text += f"\nUsage: `{t.escape(error.usage)}`"
    return [
        SectionBlock(text=MarkdownTextObject(text=t.truncate(text, c.MAX_SECTION_TEXT))),
        ContextBlock(elements=[MarkdownTextObject(text="`/task help` lists every command.")]),
    ]


def notice_blocks(message: str) -> list[Block]:
    """A one-off message (already mrkdwn) as a single section."""
    return [SectionBlock(text=MarkdownTextObject(text=t.truncate(message, c.MAX_SECTION_TEXT)))]


def unsaved_blocks(message: str, entries: list[tuple[str, str]]) -> list[Block]:
    """An error (already mrkdwn) with everything the person entered in a form that could not be shown
    again (they closed it, or it expired): each value whole, escaped, over several sections if long."""
    blocks: list[Block] = notice_blocks(message)
    if not entries:
        return blocks
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text="What you entered, so that it is not lost:")])
    )
    for label, value in entries:
        parts = t.pieces(t.escape(value), c.MAX_SECTION_TEXT - 200)
        for i, part in enumerate(parts):
            head = f"*{t.one_line(label, 100)}*\n" if i == 0 else ""
            blocks.append(SectionBlock(text=MarkdownTextObject(text=head + part)))
    if len(blocks) > c.MAX_MESSAGE_BLOCKS:
        rest = ContextBlock(elements=[MarkdownTextObject(text="_(the rest did not fit in one message)_")])
        blocks = [*blocks[: c.MAX_MESSAGE_BLOCKS - 1], rest]
    return blocks
