"""Reading submitted modals back: view state → tool arguments, plus the routing state a modal carries in
its ``private_metadata``. Pure functions; validation errors are keyed by block id for inline display."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Container
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from shared_client.tools import (
    ADD_TASK_NOTE,
    CREATE_TASK,
    SEARCH_TASKS,
    UPDATE_TASK,
    Tool,
    ToolError,
    ToolInputError,
)
from shared_client.tools.outputs import TaskDetail
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks import common as c
from slack_bot.blocks.modals import due_date_of, editable_texts, tags_text
from slack_bot.grammar import ArgValue, SlackUser

State = dict[str, dict[str, dict[str, Any]]]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # what a date picker sends


@dataclass
class Meta:
    """Where a modal came from, so its result goes back there."""

    channel: str | None = None
    user: str | None = None
    response_url: str | None = None
    message_ts: str | None = None  # the card to update in place
    home: bool = False  # opened from App Home: republish it afterwards
    card: bool = False  # opened from a task card: update that card in place afterwards
    task: str | None = None  # task uuid for edit/note/reassign
    link: str | None = None  # permalink of the message a task was made from
    initial: dict[str, str] = field(default_factory=dict)  # edit: hashes of the initial values

    def dump(self) -> str:
        """JSON within Slack's 3,000 characters of private_metadata: what is least needed goes first
        (the channel and message still locate the card without the response_url; without ``initial``
        an edit sends every field; without ``link`` the task is not linked to its message)."""
        data = {k: v for k, v in asdict(self).items() if v not in (None, False, {}, "")}
        text = json.dumps(data, separators=(",", ":"))
        for expendable in ("response_url", "initial", "link"):
            if len(text) <= c.MAX_PRIVATE_METADATA:
                break
            data.pop(expendable, None)
            text = json.dumps(data, separators=(",", ":"))
        return text

    @classmethod
    def load(cls, text: str | None) -> Meta:
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# --------------------------------------------------------------------------- state readers


def _value(state: State, block: str) -> Any:
    return state.get(block, {}).get(block, {})


def text_value(state: State, block: str) -> str | None:
    value = _value(state, block).get("value")
    return value.strip() if isinstance(value, str) and value.strip() else None


def selected(state: State, block: str) -> str | None:
    option = _value(state, block).get("selected_option")
    return str(option["value"]) if isinstance(option, dict) and option.get("value") else None


def selected_date(state: State, block: str) -> str | None:
    value = _value(state, block).get("selected_date")
    return str(value) if value else None


def checked(state: State, block: str) -> bool:
    return bool(_value(state, block).get("selected_options"))


def tags_value(state: State) -> list[str] | None:
    raw = text_value(state, ids.TAGS)
    if raw is None:
        return None
    return list(dict.fromkeys(tag.strip() for tag in raw.split(",") if tag.strip())) or None


# --------------------------------------------------------------------------- field → block

FIELD_BLOCKS = {
    "name": ids.NAME,
    "details": ids.DETAILS,
    "priority": ids.PRIORITY,
    "status": ids.STATUS,
    "due": ids.DUE,
    "assignee": ids.ASSIGNEE,
    "group": ids.ASSIGNEE,
    "tags": ids.TAGS,
    "object_type": ids.OBJECT_TYPE,
    "object_id": ids.OBJECT_ID,
    "text": ids.NOTE_TEXT,
    "due_after": ids.DUE_AFTER,
    "due_before": ids.DUE_BEFORE,
    "created_after": ids.CREATED_AFTER,
    "created_before": ids.CREATED_BEFORE,
    "sort": ids.SORT,
    "overdue": ids.OVERDUE,
}


def inline_errors(error: ToolError, fallback: str, blocks: Container[str] | None = None) -> dict[str, str]:
    """Where a form shows a tool's error, keyed by block id: each field's own message under the block of
    that field (``FieldError.top`` → :data:`FIELD_BLOCKS`, when the form has it: ``blocks``); fields with
    no block go under ``fallback`` as ``path: message``, or the whole message when no field was placed."""
    placed: dict[str, list[str]] = {}
    rest: list[str] = []
    for problem in error.fields:
        block = FIELD_BLOCKS.get(problem.top)
        if block is None or (blocks is not None and block not in blocks):
            rest.append(str(problem))
        else:
            placed.setdefault(block, []).append(problem.message)
    if not placed:
        return {fallback: error.message}
    if rest:
        placed.setdefault(fallback, []).extend(rest)
    return {block: "; ".join(messages) for block, messages in placed.items()}


def check(tool: Tool[Any, Any], args: dict[str, Any], fallback_block: str) -> dict[str, str]:
    """Validate without calling UltraCart (the tool's own input model): errors keyed by block id."""
    try:
        tool.parse_arguments(args)
    except ToolInputError as exc:
        errors = inline_errors(exc, fallback_block)
        return {block: t.truncate(message, c.MAX_INLINE_ERROR) for block, message in errors.items()}
    return {}


# --------------------------------------------------------------------------- a form, given back

# Slack's view state key → the element's key that shows it again.
_INITIAL_OF = {
    "value": "initial_value",
    "selected_option": "initial_option",
    "selected_options": "initial_options",
    "selected_date": "initial_date",
    "selected_time": "initial_time",
    "selected_user": "initial_user",
    "selected_users": "initial_users",
    "selected_conversation": "initial_conversation",
    "selected_channel": "initial_channel",
}


def _known_options(element: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        found += list(group.get("options") or [])
    return {str(o.get("value")): o for o in found if isinstance(o, dict)}


def _as_option(chosen: Any, known: dict[str, dict[str, Any]], external: bool) -> dict[str, Any] | None:
    """A selected option as an initial option: for a static list, the list's own option (Slack wants an
    exact match); for an external select, the option as chosen (its text and value)."""
    if not isinstance(chosen, dict) or not chosen.get("value"):
        return None
    value = str(chosen["value"])
    if value in known:
        return dict(known[value])
    if not external:
        return None
    text = chosen.get("text")
    label = str(text.get("text") if isinstance(text, dict) else text or "") or value
    return {"text": {"type": "plain_text", "text": label[: c.MAX_OPTION_TEXT]}, "value": value}


def _refill(element: dict[str, Any], typed: dict[str, Any]) -> None:
    external = str(element.get("type", "")).endswith("external_select")
    known = _known_options(element)
    for state_key, initial_key in _INITIAL_OF.items():
        if state_key not in typed:
            continue
        value = typed[state_key]
        if state_key == "selected_option":
            value = _as_option(value, known, external)
        elif state_key == "selected_options":
            chosen = [_as_option(o, known, external) for o in value or []]
            value = [o for o in chosen if o is not None]
        elif state_key == "value" and isinstance(value, str):
            value = value[: int(element.get("max_length") or c.MAX_INPUT_VALUE)]
        if value in (None, "", []):
            element.pop(initial_key, None)  # emptied by the person: shown empty again
        else:
            element[initial_key] = value


def refilled_blocks(view: dict[str, Any], state: State) -> list[dict[str, Any]]:
    """A submitted form's blocks with everything the person typed or picked as the initial values, so the
    same form can be shown again (after the "Saving…" view replaced it, nothing of it is left in Slack).
    Error notes from an earlier attempt are dropped; an input missing from the state stays as built."""
    blocks: list[dict[str, Any]] = []
    for block in copy.deepcopy(list(view.get("blocks") or [])):
        if not isinstance(block, dict) or str(block.get("block_id", "")).startswith(ids.FORM_ERROR):
            continue
        element = block.get("element")
        if block.get("type") == "input" and isinstance(element, dict):
            typed = state.get(str(block.get("block_id")), {}).get(str(element.get("action_id")))
            if isinstance(typed, dict):
                _refill(element, typed)
        blocks.append(block)
    return blocks


def _shown(element: dict[str, Any]) -> str | None:
    def label(option: Any) -> str:
        text = option.get("text") if isinstance(option, dict) else None
        return str(text.get("text") if isinstance(text, dict) else option.get("value", ""))

    for key in ("initial_value", "initial_date", "initial_time", "initial_user", "initial_channel"):
        if element.get(key):
            return str(element[key])
    if isinstance(element.get("initial_option"), dict):
        return label(element["initial_option"])
    if element.get("initial_options"):
        return ", ".join(label(o) for o in element["initial_options"])
    return None


def typed_entries(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, what is in the field) for each filled input of refilled blocks: what the person would
    lose if the form could not be shown again."""
    entries: list[tuple[str, str]] = []
    for block in blocks:
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        shown = _shown(element)
        if shown:
            label = block.get("label")
            name = str(label.get("text") if isinstance(label, dict) else label or block.get("block_id"))
            entries.append((name, shown))
    return entries


def due_in_zone(args: dict[str, Any], zone: tzinfo | None) -> dict[str, Any]:
    """A due date picked in a form is the end of that day in the member's Slack time zone (``zone``),
    sent as a date-time with its offset; without a zone it stays a date (the end of the day in UTC)."""
    due = args.get("due")
    if zone is None or not isinstance(due, str) or not _DATE.fullmatch(due):
        return args
    end = datetime.combine(date.fromisoformat(due), time(23, 59, 59), zone)
    return {**args, "due": end.isoformat()}


# --------------------------------------------------------------------------- create


def create_args(state: State, meta: Meta) -> tuple[dict[str, Any], dict[str, str]]:
    args: dict[str, Any] = {"name": text_value(state, ids.NAME) or ""}
    optional = {
        "details": text_value(state, ids.DETAILS),
        "priority": selected(state, ids.PRIORITY),
        "due": selected_date(state, ids.DUE),
        "assignee": selected(state, ids.ASSIGNEE),
        "tags": tags_value(state),
        "object_type": selected(state, ids.OBJECT_TYPE),
        "object_id": text_value(state, ids.OBJECT_ID),
    }
    args.update({k: v for k, v in optional.items() if v is not None})
    if meta.link:
        args["properties"] = {"slack_message": meta.link}
    errors = {}
    if bool(args.get("object_type")) != bool(args.get("object_id")):
        missing = ids.OBJECT_ID if args.get("object_type") else ids.OBJECT_TYPE
        errors[missing] = "Give both the object type and its id, or neither."
    return args, errors or check(CREATE_TASK, args, ids.NAME)


# --------------------------------------------------------------------------- edit


def fingerprint(value: str | None) -> str:
    return hashlib.sha256((value or "").encode()).hexdigest()[:10]


def assignee_value(task: TaskDetail) -> str | None:
    if task.assigned.user_id is not None:
        return f"{ids.USER_PREFIX}{task.assigned.user_id}"
    if task.assigned.group_id is not None:
        return f"{ids.GROUP_PREFIX}{task.assigned.group_id}"
    return None


def edit_initial(task: TaskDetail, zone: tzinfo | None = None) -> dict[str, str]:
    """What the edit form showed (dates in the member's ``zone``), hashed, so that only what the person
    changed is sent."""
    shown: dict[str, str | None] = {
        "status": task.status if c.find_option(c.STATUS_CHOICES, task.status) else None,
        "priority": task.priority,
        "due": due_date_of(task, zone),
        "assignee": assignee_value(task),
    }
    editable = editable_texts(task)
    texts = {
        "name": (ids.NAME, task.name),
        "details": (ids.DETAILS, task.details),
        "tags": (ids.TAGS, tags_text(task)),
    }
    shown.update({key: value for key, (block, value) in texts.items() if block in editable})
    return {k: fingerprint(v) for k, v in shown.items()}


def edit_args(state: State, meta: Meta) -> tuple[dict[str, Any], dict[str, str]]:
    submitted: dict[str, str | None] = {
        "name": text_value(state, ids.NAME),
        "status": selected(state, ids.STATUS),
        "priority": selected(state, ids.PRIORITY),
        "due": selected_date(state, ids.DUE),
        "assignee": selected(state, ids.ASSIGNEE),
        "tags": ", ".join(tags_value(state) or []),
        "details": text_value(state, ids.DETAILS),
    }
    # Slack's state holds every input the form showed; a field the form left out (too long to edit in
    # Slack) is not a field the person emptied.
    submitted = {k: v for k, v in submitted.items() if FIELD_BLOCKS[k] in state}
    args: dict[str, Any] = {"task": meta.task or ""}
    for key, value in submitted.items():
        if key in meta.initial and fingerprint(value) == meta.initial[key]:
            continue
        if key == "due":
            args["due"] = value or "none"
        elif key == "assignee":
            args["assignee"] = value or ids.UNASSIGNED_VALUE
        elif key == "tags":
            args["tags"] = tags_value(state) or []
        elif key == "details":
            args["details"] = value or ""
        elif key == "status" and value is None:
            continue  # an unusual status (closed - system …) the form could not show stays
        elif value is not None:
            args[key] = value
    if len(args) == 1:
        return args, {}  # nothing changed: no call at all
    return args, check(UPDATE_TASK, args, ids.NAME)


# --------------------------------------------------------------------------- note, reassign


def note_args(state: State, meta: Meta) -> tuple[dict[str, Any], dict[str, str]]:
    args = {"task": meta.task or "", "text": text_value(state, ids.NOTE_TEXT) or ""}
    return args, check(ADD_TASK_NOTE, args, ids.NOTE_TEXT)


def reassign_args(state: State, meta: Meta) -> tuple[dict[str, Any], dict[str, str]]:
    who = selected(state, ids.ASSIGNEE)
    if not who:
        return {}, {ids.ASSIGNEE: "Pick someone or a group."}
    return {"task": meta.task or "", "assignee": who}, {}


# --------------------------------------------------------------------------- search


def search_args(state: State) -> tuple[dict[str, ArgValue], dict[str, str]]:
    """(args, errors): the search form as a search_tasks call."""
    args: dict[str, ArgValue] = {}
    who = selected(state, ids.ASSIGNEE)
    if who == ids.ME_VALUE:
        args["assignee"] = SlackUser(None)
    elif who:
        args["assignee"] = who
    simple = {
        "status": selected(state, ids.STATUS),
        "priority": selected(state, ids.PRIORITY),
        "object_type": selected(state, ids.OBJECT_TYPE),
        "due_after": selected_date(state, ids.DUE_AFTER),
        "due_before": selected_date(state, ids.DUE_BEFORE),
        "created_after": selected_date(state, ids.CREATED_AFTER),
        "created_before": selected_date(state, ids.CREATED_BEFORE),
        "sort": selected(state, ids.SORT),
    }
    args.update({k: v for k, v in simple.items() if v is not None})
    tags = tags_value(state)
    if tags:
        args["tags"] = tags
    if checked(state, ids.OVERDUE):
        args["overdue"] = True
    object_id = text_value(state, ids.OBJECT_ID)
    if object_id:
        args["object_id"] = object_id
    for begin, end in (("due_after", "due_before"), ("created_after", "created_before")):
        first, last = args.get(begin), args.get(end)
        if isinstance(first, str) and isinstance(last, str) and first > last:
            return args, {FIELD_BLOCKS[end]: "This date is before the start of the range."}
    checkable = {k: v for k, v in args.items() if not isinstance(v, SlackUser)}
    return args, check(SEARCH_TASKS, checkable, ids.STATUS)
