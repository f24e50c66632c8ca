"""Modals: create, edit, add note, reassign, search, the "loading" placeholder, and what a submitted form
becomes: "Saving…", then "Saved" or the same form again with the error and everything typed kept.

Builders take what to show and an opaque ``metadata`` string (the listener's routing state); they never
read the view state back: ``slack_bot.forms`` does that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    DatePickerElement,
    ExternalDataSelectElement,
    InputBlock,
    InputInteractiveElement,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from shared_client.tools.outputs import TaskDetail
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks import common as c
from slack_bot.blocks.card import card_fields
from slack_bot.blocks.options import assignee_initial_option

MAX_NAME = 250
MAX_TAGS_TEXT = 2000
SEARCH_OBJECT_TYPES = tuple(ch for ch in c.OBJECT_TYPE_CHOICES if ch[0] != "storefront")


@dataclass(frozen=True)
class CreatePrefill:
    title: str = ""
    details: str = ""
    source_link: str | None = None  # a message permalink, shown and stored on the task


def cut_title(text: str, limit: int = MAX_NAME) -> tuple[str, str]:
    """``text`` as a title of at most ``limit`` characters (UltraCart's is 250), and what did not fit
    (``""`` when all did), for the details; a cut is marked ``…`` on both sides, at a space if one is near."""
    text = text.strip()
    if len(text) <= limit:
        return text, ""
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip() + t.ELLIPSIS, t.ELLIPSIS + text[len(head) :].lstrip()


def titled_prefill(text: str) -> CreatePrefill:
    """``/task new TEXT``: its title, and the rest of a long one in the details."""
    title, rest = cut_title(text)
    return CreatePrefill(title=title, details=rest)


def _title(text: str) -> str:
    return t.plain(text, c.MAX_VIEW_TITLE)


def _modal(
    callback_id: str,
    title: str,
    blocks: list[Block],
    metadata: str,
    submit: str | None,
    close: str = "Cancel",
) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=_title(title),
        submit=_title(submit) if submit else None,
        close=_title(close),
        blocks=blocks[: c.MAX_VIEW_BLOCKS],
        private_metadata=metadata[: c.MAX_PRIVATE_METADATA],
    )


def _input(
    block: str,
    label: str,
    element: InputInteractiveElement,
    *,
    optional: bool = True,
    hint: str | None = None,
) -> InputBlock:
    """An input: ``element``'s action_id is the block id too, which is how ``slack_bot.forms`` reads it."""
    return InputBlock(block_id=block, label=label, optional=optional, hint=hint, element=element)


def _text_input(
    block: str,
    label: str,
    *,
    initial: str | None = None,
    multiline: bool = False,
    optional: bool = True,
    max_length: int = c.MAX_INPUT_VALUE,
    placeholder: str | None = None,
    hint: str | None = None,
) -> InputBlock:
    value = t.truncate(initial, max_length) if initial else None
    element = PlainTextInputElement(
        action_id=block,
        initial_value=value,
        multiline=multiline,
        max_length=max_length,
        placeholder=placeholder,
    )
    return _input(block, label, element, optional=optional, hint=hint)


def _select(
    block: str, label: str, choices: tuple[tuple[str, str], ...], initial: str | None, placeholder: str
) -> InputBlock:
    return _input(block, label, c.static_select(block, placeholder, choices, initial))


def _date(block: str, label: str, initial: str | None = None) -> InputBlock:
    return _input(
        block, label, DatePickerElement(action_id=block, initial_date=initial, placeholder="Pick a date")
    )


def _assignee(
    label: str, *, initial: object = None, special: bool = False, optional: bool = True
) -> InputBlock:
    element = ExternalDataSelectElement(
        action_id=ids.ASSIGNEE,
        placeholder="Someone or a group",
        min_query_length=0,
        initial_option=initial,  # type: ignore[arg-type]
    )
    hint = "People and groups; type to filter." + (" “Me” and “Unassigned” too." if special else "")
    return _input(ids.ASSIGNEE, label, element, optional=optional, hint=hint)


def create_modal(prefill: CreatePrefill, metadata: str) -> View:
    blocks: list[Block] = []
    if prefill.source_link:
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f"From <{t.escape(prefill.source_link)}|this message>")]
            )
        )
    blocks += [
        _text_input(
            ids.NAME,
            "Title",
            initial=prefill.title,
            optional=False,
            max_length=MAX_NAME,
            placeholder="e.g. Call the customer about order 1234",
        ),
        _text_input(ids.DETAILS, "Details", initial=prefill.details, multiline=True),
        _select(ids.PRIORITY, "Priority", c.PRIORITY_CHOICES, "medium", "Priority"),
        _date(ids.DUE, "Due date"),
        _assignee("Assignee"),
        _text_input(ids.TAGS, "Tags", hint="Comma-separated, e.g. vip, refund", max_length=500),
        _select(ids.OBJECT_TYPE, "Linked object type", c.OBJECT_TYPE_CHOICES, None, "Order, item…"),
        _text_input(ids.OBJECT_ID, "Linked object id", max_length=100, placeholder="e.g. DEMO-0001234"),
    ]
    return _modal(ids.CREATE_MODAL, "New task", blocks, metadata, "Create")


def due_date_of(task: TaskDetail, zone: tzinfo | None = None) -> str | None:
    """The due date as a date picker shows it: the day in ``zone`` (the member's), else in UTC."""
    when = c.parse_iso(task.due)
    return when.astimezone(zone or UTC).date().isoformat() if when else None


def tags_text(task: TaskDetail) -> str:
    return ", ".join(task.tags)


def editable_texts(task: TaskDetail) -> dict[str, str]:
    """The free-text fields whose whole current value fits a form field. A value cut to fit would be
    saved back cut, so a longer one is not offered for editing here at all."""
    texts = {
        ids.NAME: (task.name or "", MAX_NAME),
        ids.DETAILS: (task.details or "", c.MAX_INPUT_VALUE),
        ids.TAGS: (tags_text(task), MAX_TAGS_TEXT),
    }
    return {block: value for block, (value, limit) in texts.items() if len(value) <= limit}


def _too_long(what: str) -> ContextBlock:
    return ContextBlock(
        elements=[
            MarkdownTextObject(
                text=f"The {what} are longer than Slack lets a form hold; edit them in UltraCart."
            )
        ]
    )


def edit_modal(task: TaskDetail, metadata: str, zone: tzinfo | None = None) -> View:
    """``zone``: the member's time zone, for the due date."""
    editable = editable_texts(task)
    blocks: list[Block] = [
        _text_input(ids.NAME, "Title", initial=task.name, optional=False, max_length=MAX_NAME)
        if ids.NAME in editable
        else SectionBlock(text=MarkdownTextObject(text=c.task_title(task.number, task.name))),
    ]
    if ids.DETAILS in editable:
        blocks.append(_text_input(ids.DETAILS, "Details", initial=task.details, multiline=True))
    else:
        blocks.append(_too_long("details"))
    status = task.status if c.find_option(c.STATUS_CHOICES, task.status) else None
    blocks += [
        _select(ids.STATUS, "Status", c.STATUS_CHOICES, status, "Status"),
        _select(ids.PRIORITY, "Priority", c.PRIORITY_CHOICES, task.priority, "Priority"),
        _date(ids.DUE, "Due date", due_date_of(task, zone)),
        _assignee(
            "Assignee",
            initial=assignee_initial_option(
                task.assigned.user_id, task.assigned.user, task.assigned.group_id, task.assigned.group
            ),
        ),
    ]
    if ids.TAGS in editable:
        blocks.append(
            _text_input(
                ids.TAGS, "Tags", initial=tags_text(task), hint="Comma-separated", max_length=MAX_TAGS_TEXT
            )
        )
    else:
        blocks.append(_too_long("tags"))
    return _modal(ids.EDIT_MODAL, f"Edit #{task.number}", blocks, metadata, "Save")


def note_modal(number: int | None, name: str | None, metadata: str) -> View:
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=c.task_title(number, name))),
        _text_input(ids.NOTE_TEXT, "Note", multiline=True, optional=False),
    ]
    return _modal(ids.NOTE_MODAL, f"Note on #{number}", blocks, metadata, "Add note")


def reassign_modal(number: int | None, name: str | None, metadata: str) -> View:
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=c.task_title(number, name))),
        _assignee("Assign to", optional=False),
    ]
    return _modal(ids.REASSIGN_MODAL, f"Reassign #{number}", blocks, metadata, "Reassign")


def search_modal(metadata: str) -> View:
    blocks: list[Block] = [
        _select(ids.STATUS, "Status", c.STATUS_CHOICES, "open", "Any status"),
        _select(ids.PRIORITY, "Priority", c.PRIORITY_CHOICES, None, "Any priority"),
        _assignee("Assignee or group", special=True),
        _select(ids.OBJECT_TYPE, "Object type", SEARCH_OBJECT_TYPES, None, "Any type"),
        _text_input(
            ids.OBJECT_ID,
            "Object id",
            max_length=100,
            hint="With an object type: every task of that one object (other filters do not apply).",
        ),
        _text_input(ids.TAGS, "Tags", hint="Comma-separated; tasks carrying all of them", max_length=500),
        _input(
            ids.OVERDUE,
            "Overdue",
            CheckboxesElement(action_id=ids.OVERDUE, options=[c.option("Only overdue tasks", "overdue")]),
        ),
        _date(ids.DUE_AFTER, "Due on or after"),
        _date(ids.DUE_BEFORE, "Due on or before"),
        _date(ids.CREATED_AFTER, "Created on or after"),
        _date(ids.CREATED_BEFORE, "Created on or before"),
        _select(ids.SORT, "Sort", c.SORT_CHOICES, "due", "Sort by"),
    ]
    return _modal(ids.SEARCH_MODAL, "Search tasks", blocks, metadata, "Search")


def loading_modal(title: str, message: str) -> View:
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=t.truncate(message, c.MAX_SECTION_TEXT)))
    ]
    return _modal(ids.LOADING_MODAL, title, blocks, "", None)


# --------------------------------------------------------------------------- after a form is submitted

SAVING_NOTE = (
    "You can close this window: the result is posted either way, and if UltraCart refuses, "
    "you get back what you entered."
)


def saving_modal(title: str, message: str, metadata: str) -> View:
    """What a submitted form shows while UltraCart works (``message`` is mrkdwn the caller built). No
    submit button, so nothing is sent twice; closing it does not stop the work."""
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=t.truncate(message, c.MAX_SECTION_TEXT))),
        ContextBlock(elements=[MarkdownTextObject(text=SAVING_NOTE)]),
    ]
    return _modal(ids.SAVING_MODAL, title, blocks, metadata, None, close="Close")


def saved_modal(
    title: str, headline: str, task: TaskDetail, ultracart_url: str, where: str | None = None
) -> View:
    """The form's confirmation: ``headline`` ("Task #12 created") and the card's summary, without the
    card's buttons (they belong where the card is). ``headline`` and ``where`` are mrkdwn."""
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=t.truncate(headline, c.MAX_SECTION_TEXT))),
        SectionBlock(
            text=MarkdownTextObject(text=c.task_title(task.number, task.name)),
            fields=card_fields(task, ultracart_url),
        ),
    ]
    if where:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=t.truncate(where, c.MAX_CONTEXT_TEXT))]))
    return _modal(ids.SAVED_MODAL, title, blocks, "", None, close="Done")


def form_again(
    view: dict[str, Any],
    blocks: list[dict[str, Any]],
    *,
    notes: Mapping[str, str] | None = None,
    problem: str | None = None,
) -> View:
    """The submitted form (``view`` as Slack sent it back) shown again with ``blocks`` (its blocks, with
    what the person entered as initial values: ``forms.refilled_blocks``), ``notes`` (mrkdwn by block id)
    under the fields they are about, and ``problem`` (mrkdwn) at the top."""
    notes = dict(notes or {})
    shown: list[Block | dict[str, Any]] = []
    marked = 0
    for block in blocks:
        shown.append(block)
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "input" and block_id in notes:
            note = t.truncate(notes.pop(block_id), c.MAX_CONTEXT_TEXT - 20)
            shown.append(
                ContextBlock(
                    block_id=f"{ids.FORM_ERROR}:{block_id}",
                    elements=[MarkdownTextObject(text=f":warning: {note}")],
                )
            )
            marked += 1
    problem = "; ".join([*([problem] if problem else []), *notes.values()])  # notes with no field here
    fix = f"Fix the field{'s' if marked > 1 else ''} marked below"
    # No "not saved" claim: when a write's outcome is unknown, the problem itself says so and what to do.
    if not problem:
        banner = f":warning: {fix} and submit again; everything you entered is kept."
    else:
        kept = (
            f"{fix}; everything you entered is kept." if marked else "Everything you entered is kept below."
        )
        banner = f":warning: {t.truncate(problem, c.MAX_SECTION_TEXT - 100)}\n{kept}"
    shown.insert(0, SectionBlock(block_id=ids.FORM_ERROR, text=MarkdownTextObject(text=banner)))
    title, submit, close = view.get("title"), view.get("submit"), view.get("close")
    return View(
        type="modal",
        callback_id=str(view.get("callback_id") or ""),
        title=title if title else "Task",
        submit=submit or None,
        close=close or "Cancel",
        blocks=shown[: c.MAX_VIEW_BLOCKS],
        private_metadata=str(view.get("private_metadata") or "")[: c.MAX_PRIVATE_METADATA],
    )
