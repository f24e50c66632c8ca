"""Slack's Block Kit limits as one generic walk over any message, view or options payload, and the
check that text people wrote cannot ping or forge a link. Used by the builder tests and on every call
the mock Slack records."""

from __future__ import annotations

import json
import re
from typing import Any

# https://docs.slack.dev/reference/block-kit (blocks, elements, composition objects) and views.
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL = 3000
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
OVERFLOW_OPTIONS = (2, 5)
CHECKBOX_OPTIONS = 10
GROUP_LABEL = 75
PLACEHOLDER = 150
INPUT_LABEL = 2000
INPUT_HINT = 2000
INPUT_MAX_LENGTH = 3000
VIEW_TITLE = 24
PRIVATE_METADATA = 3000
ID = 255  # action_id, block_id, callback_id
TEXT_OBJECT = 3000
MESSAGE_TEXT = 40000

SELECTS = {"static_select", "external_select", "multi_static_select", "multi_external_select"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _text(node: Any) -> str:
    return str(node.get("text", "")) if isinstance(node, dict) else str(node or "")


def _check_option(option: dict[str, Any], where: str, problems: list[str], text_limit: int) -> None:
    if len(_text(option.get("text"))) > text_limit:
        problems.append(f"{where}: option text {len(_text(option.get('text')))} > {text_limit}")
    if not _text(option.get("text")):
        problems.append(f"{where}: empty option text")
    if len(str(option.get("value", ""))) > OPTION_VALUE:
        problems.append(f"{where}: option value {len(str(option.get('value')))} > {OPTION_VALUE}")
    if len(_text(option.get("description"))) > OPTION_TEXT:
        problems.append(f"{where}: option description > {OPTION_TEXT}")


def _check_options(node: dict[str, Any], where: str, problems: list[str]) -> None:
    kind = node.get("type")
    options = node.get("options") or []
    groups = node.get("option_groups") or []
    if kind == "overflow":
        low, high = OVERFLOW_OPTIONS
        if not low <= len(options) <= high:
            problems.append(f"{where}: overflow has {len(options)} options, not {low}–{high}")
    elif kind == "checkboxes" and len(options) > CHECKBOX_OPTIONS:
        problems.append(f"{where}: {len(options)} checkboxes > {CHECKBOX_OPTIONS}")
    if len(options) > OPTIONS or len(groups) > OPTIONS:
        problems.append(f"{where}: {len(options)} options / {len(groups)} groups > {OPTIONS}")
    if sum(len(g.get("options") or []) for g in groups) > OPTIONS:
        problems.append(f"{where}: more than {OPTIONS} options across option groups")
    text_limit = TEXT_OBJECT if kind in {"checkboxes", "radio_buttons"} else OPTION_TEXT
    for i, option in enumerate(options):
        _check_option(option, f"{where}.options[{i}]", problems, text_limit)
    for g, group in enumerate(groups):
        if len(_text(group.get("label"))) > GROUP_LABEL:
            problems.append(f"{where}.option_groups[{g}]: label > {GROUP_LABEL}")
        if len(group.get("options") or []) > OPTIONS:
            problems.append(f"{where}.option_groups[{g}]: > {OPTIONS} options")
        for i, option in enumerate(group.get("options") or []):
            _check_option(option, f"{where}.option_groups[{g}].options[{i}]", problems, OPTION_TEXT)
    for key in ("initial_option",):
        if isinstance(node.get(key), dict):
            _check_option(node[key], f"{where}.{key}", problems, OPTION_TEXT)


def _walk(node: Any, where: str, problems: list[str]) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, f"{where}[{i}]", problems)
        return
    if not isinstance(node, dict):
        return
    for key in ("action_id", "block_id", "callback_id", "external_id"):
        if key in node and len(str(node[key])) > ID:
            problems.append(f"{where}: {key} {len(str(node[key]))} > {ID}")
    kind = node.get("type")
    if kind in {"plain_text", "mrkdwn"}:
        size = len(_text(node))
        if size > TEXT_OBJECT:
            problems.append(f"{where}: text object {size} > {TEXT_OBJECT}")
        if size == 0:
            problems.append(f"{where}: empty text object")
    if kind == "section":
        if len(_text(node.get("text"))) > SECTION_TEXT:
            problems.append(f"{where}: section text {len(_text(node.get('text')))} > {SECTION_TEXT}")
        fields = node.get("fields") or []
        if len(fields) > SECTION_FIELDS:
            problems.append(f"{where}: {len(fields)} fields > {SECTION_FIELDS}")
        for i, item in enumerate(fields):
            if len(_text(item)) > FIELD_TEXT:
                problems.append(f"{where}.fields[{i}]: {len(_text(item))} > {FIELD_TEXT}")
        if not node.get("text") and not fields:
            problems.append(f"{where}: section with neither text nor fields")
    elif kind == "header" and len(_text(node.get("text"))) > HEADER_TEXT:
        problems.append(f"{where}: header {len(_text(node.get('text')))} > {HEADER_TEXT}")
    elif kind == "context" and not 1 <= len(node.get("elements") or []) <= CONTEXT_ELEMENTS:
        problems.append(f"{where}: context with {len(node.get('elements') or [])} elements")
    elif kind == "actions" and not 1 <= len(node.get("elements") or []) <= ACTIONS_ELEMENTS:
        problems.append(f"{where}: actions with {len(node.get('elements') or [])} elements")
    elif kind == "input":
        if len(_text(node.get("label"))) > INPUT_LABEL:
            problems.append(f"{where}: input label > {INPUT_LABEL}")
        if len(_text(node.get("hint"))) > INPUT_HINT:
            problems.append(f"{where}: input hint > {INPUT_HINT}")
    elif kind == "button":
        if len(_text(node.get("text"))) > BUTTON_TEXT:
            problems.append(f"{where}: button text {len(_text(node.get('text')))} > {BUTTON_TEXT}")
        if len(str(node.get("value", ""))) > BUTTON_VALUE:
            problems.append(f"{where}: button value {len(str(node.get('value')))} > {BUTTON_VALUE}")
        if len(str(node.get("url", ""))) > URL:
            problems.append(f"{where}: button url > {URL}")
    elif kind == "plain_text_input":
        limit = int(node.get("max_length") or INPUT_MAX_LENGTH)
        if limit > INPUT_MAX_LENGTH:
            problems.append(f"{where}: max_length {limit} > {INPUT_MAX_LENGTH}")
        initial = str(node.get("initial_value") or "")
        if len(initial) > min(limit, INPUT_MAX_LENGTH):
            problems.append(f"{where}: initial_value {len(initial)} > max_length {limit}")
    elif kind == "datepicker" and node.get("initial_date") and not _DATE.match(str(node["initial_date"])):
        problems.append(f"{where}: initial_date {node['initial_date']!r} is not YYYY-MM-DD")
    if kind in SELECTS | {"overflow", "checkboxes", "radio_buttons"} or "option_groups" in node:
        _check_options(node, where, problems)
    if "placeholder" in node and len(_text(node["placeholder"])) > PLACEHOLDER:
        problems.append(f"{where}: placeholder > {PLACEHOLDER}")
    for key, value in node.items():
        if isinstance(value, dict | list):
            _walk(value, f"{where}.{key}", problems)


def message_problems(blocks: list[dict[str, Any]], text: str | None = None) -> list[str]:
    problems: list[str] = []
    if len(blocks) > MESSAGE_BLOCKS:
        problems.append(f"message: {len(blocks)} blocks > {MESSAGE_BLOCKS}")
    if text is not None and len(text) > MESSAGE_TEXT:
        problems.append(f"message: text {len(text)} > {MESSAGE_TEXT}")
    _walk(blocks, "blocks", problems)
    return problems


def view_problems(view: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if len(view.get("blocks") or []) > VIEW_BLOCKS:
        problems.append(f"view: {len(view['blocks'])} blocks > {VIEW_BLOCKS}")
    for key in ("title", "submit", "close"):
        if key in view and len(_text(view[key])) > VIEW_TITLE:
            problems.append(f"view: {key} {len(_text(view[key]))} > {VIEW_TITLE}")
    if view.get("type") == "modal" and not _text(view.get("title")):
        problems.append("view: a modal needs a title")
    metadata = str(view.get("private_metadata") or "")
    if len(metadata) > PRIVATE_METADATA:
        problems.append(f"view: private_metadata {len(metadata)} > {PRIVATE_METADATA}")
    if metadata:
        try:
            json.loads(metadata)
        except json.JSONDecodeError:
            problems.append("view: private_metadata is not the JSON it was meant to be")
    _walk(view.get("blocks") or [], "view.blocks", problems)
    for key in ("title", "submit", "close"):
        if key in view:
            _walk(view[key], f"view.{key}", problems)
    return problems


def options_problems(answer: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _check_options({"type": "external_select", **answer}, "options", problems)
    return problems


# --------------------------------------------------------------------------- pings and forged links

FORBIDDEN = ("<!channel>", "<!here>", "<!everyone>", "<https://evil", "<@U0BOSS>", "<#C0EVIL")
_BARE_BROADCAST = re.compile(r"(?<![\w\u2060])@(channel|here|everyone)\b", re.IGNORECASE)


def mrkdwn_texts(node: Any) -> list[str]:
    """Every text Slack parses as mrkdwn: mrkdwn text objects (plain_text is shown as typed)."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            found += mrkdwn_texts(value)
    elif isinstance(node, list):
        for item in node:
            found += mrkdwn_texts(item)
    return found


def ping_problems(texts: list[str]) -> list[str]:
    problems = []
    for text in texts:
        problems += [f"{bad!r} in {text[:80]!r}" for bad in FORBIDDEN if bad in text]
        if _BARE_BROADCAST.search(text):
            problems.append(f"a bare broadcast in {text[:80]!r}")
    return problems
