"""The task card: number, name, status, priority, assignee, due date, linked object, and its actions."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    ExternalDataSelectElement,
    MarkdownTextObject,
    SectionBlock,
)

from shared_client.tools.outputs import NoteView, TaskDetail, TaskSummary
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks import common as c

MAX_NOTES_ON_CARD = 3
MAX_DETAILS_ON_CARD = 600
MAX_NOTE_ON_CARD = 300


def object_label(task: TaskDetail, ultracart_url: str) -> str | None:
    """The linked object; its URL (whoever made the task chose it) is a link only when it points at
    UltraCart (:func:`common.is_ultracart_link`), else it is shown as the text it is."""
    linked = task.object
    if linked is None or not (linked.type or linked.id):
        return None
    label = t.one_line(" ".join(p for p in (linked.type, linked.id) if p), 200)
    if linked.url and c.is_ultracart_link(linked.url, ultracart_url):
        label = f"<{linked.url}|{label}>"
    elif linked.url:
        label += f" ({t.one_line(linked.url, 300)})"
    if linked.context:
        label += f" — {t.one_line(linked.context, 200)}"
    return label


def card_fields(task: TaskDetail, ultracart_url: str) -> list[MarkdownTextObject]:
    fields = [
        f"*Status*\n{t.escape(c.status_label(task.status))}",
        f"*Priority*\n{c.priority_label(task.priority)}",
        f"*Assignee*\n{c.assignee_label(task.assigned.user, task.assigned.group)}",
        f"*Due*\n{c.due_label(task.due, task.overdue)}",
    ]
    linked = object_label(task, ultracart_url)
    if linked:
        fields.append(f"*Linked*\n{linked}")
    if task.tags:
        fields.append("*Tags*\n" + t.one_line(", ".join(task.tags), 500))
    return [MarkdownTextObject(text=t.truncate(f, c.MAX_FIELD_TEXT)) for f in fields]


def card_actions(task: TaskDetail | TaskSummary) -> list[Block]:
    first = ActionsBlock(
        block_id=ids.with_task(ids.CARD_ACTIONS, task.uuid),
        elements=[
            ButtonElement(text="Assign to me", action_id=ids.ASSIGN_ME, value=task.uuid),
            ExternalDataSelectElement(action_id=ids.REASSIGN, placeholder="Reassign…", min_query_length=0),
            c.static_select(ids.SET_STATUS, "Status", c.STATUS_CHOICES, task.status),
            c.static_select(ids.SET_PRIORITY, "Priority", c.PRIORITY_CHOICES, task.priority),
        ],
    )
    close_or_reopen = (
        ButtonElement(text="Reopen", action_id=ids.REOPEN, value=task.uuid)
        if task.closed
        else ButtonElement(text="Close", action_id=ids.CLOSE, value=task.uuid, style="danger")
    )
    second = ActionsBlock(
        block_id=ids.with_task(ids.CARD_MORE_ACTIONS, task.uuid),
        elements=[
            ButtonElement(text="Add note", action_id=ids.ADD_NOTE, value=task.uuid),
            ButtonElement(text="Edit", action_id=ids.EDIT, value=task.uuid),
            close_or_reopen,
        ],
    )
    return [first, second]


def note_lines(note: NoteView) -> list[str]:
    """A note as its author line and its text, every line quoted: a note's text (it keeps newlines)
    cannot forge an author line or anything else of the card's own."""
    who = t.one_line(note.author or "someone", 80)
    when = (note.at or "")[:10]
    quoted = [f">{line}" for line in t.mrkdwn(note.text, MAX_NOTE_ON_CARD).split("\n")]
    return [f"*{who}* {when}:", *quoted]


def task_card(
    task: TaskDetail, ultracart_url: str, *, activity: str | None = None, intro: str | None = None
) -> list[Block]:
    """The card. ``ultracart_url``: UltraCart's base URL (``Deps.ultracart_url``), the one host a linked
    object may link to; ``activity`` says who did what (already mrkdwn, built by :func:`activity_line`);
    ``intro`` heads a notification (e.g. "<@U1> assigned you")."""
    blocks: list[Block] = []
    if intro:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=t.truncate(intro, c.MAX_SECTION_TEXT))))
    blocks.append(
        SectionBlock(
            text=MarkdownTextObject(text=c.task_title(task.number, task.name)),
            fields=card_fields(task, ultracart_url),
        )
    )
    if task.details:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=t.mrkdwn(task.details, MAX_DETAILS_ON_CARD))))
    notes = task.notes[-MAX_NOTES_ON_CARD:]
    if notes:
        earlier = len(task.notes) - len(notes)
        lines = [f"_{earlier} earlier note(s)_"] if earlier else []
        for note in notes:
            lines.extend(note_lines(note))
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=t.truncate("\n".join(lines), c.MAX_SECTION_TEXT)))
        )
    blocks.extend(card_actions(task))
    if activity:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t.truncate(activity, c.MAX_CONTEXT_TEXT))])
        )
    return blocks


def card_text(task: TaskDetail | TaskSummary) -> str:
    """The notification/fallback text sent with the blocks."""
    return t.one_line(f"#{task.number} {task.name or ''}", c.MAX_MESSAGE_TEXT)


def activity_line(actor_slack_id: str, changes: list[str], verb: str = "changed") -> str:
    """``:pencil2: <@U123> changed: status → closed; assigned to Sam``: who did what, escaped."""
    what = "; ".join(changes) if changes else "nothing (it was already so)"
    return f":pencil2: <@{actor_slack_id}> {verb}: {t.one_line(what, 1500)}"


def created_line(actor_slack_id: str, *, from_message: bool = False) -> str:
    return f":sparkles: <@{actor_slack_id}> created this task{' from a message' if from_message else ''}."
