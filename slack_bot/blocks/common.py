"""Pieces shared by the builders: labels, Slack's limits, and the choice lists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.models.blocks import Block, Option, StaticSelectElement

from slack_bot import text as t

# Slack's limits (https://docs.slack.dev/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_BUTTON_VALUE = 2000
MAX_PRIVATE_METADATA = 3000
MAX_INPUT_VALUE = 3000
MAX_MESSAGE_TEXT = 3000  # the notification text we send alongside blocks (Slack allows 40,000)
MAX_VIEW_TITLE = 24
MAX_INLINE_ERROR = 150  # an error under a form field: Slack documents no limit; ours stays a line or two
RESULTS_PER_MESSAGE = 10

STATUS_CHOICES = (
    ("open", "Open"),
    ("delayed", "Delayed"),
    ("awaiting customer feedback", "Awaiting customer"),
    ("closed", "Closed"),
)
PRIORITY_CHOICES = (("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical"))
OBJECT_TYPE_CHOICES = (
    ("order", "Order"),
    ("auto order", "Auto order"),
    ("item", "Item"),
    ("customer profile", "Customer profile"),
    ("storefront", "Storefront"),
)
SORT_CHOICES = (
    ("due", "Due date (soonest first)"),
    ("-due", "Due date (latest first)"),
    ("-priority", "Priority (highest first)"),
    ("-created", "Newest first"),
    ("created", "Oldest first"),
    ("-updated", "Recently updated"),
    ("number", "Task number"),
)
PRIORITY_EMOJI = {
    "low": ":white_circle:",
    "medium": ":large_blue_circle:",
    "high": ":large_orange_circle:",
    "critical": ":red_circle:",
}


def option(label: str, value: str) -> Option:
    return Option(text=t.plain(label, MAX_OPTION_TEXT), value=value[:MAX_OPTION_VALUE])


def options(choices: tuple[tuple[str, str], ...]) -> list[Option]:
    return [option(label, value) for value, label in choices]


def find_option(choices: tuple[tuple[str, str], ...], value: str | None) -> Option | None:
    for v, label in choices:
        if value is not None and v == value:
            return option(label, v)
    return None


def static_select(
    action_id: str, placeholder: str, choices: tuple[tuple[str, str], ...], value: str | None
) -> StaticSelectElement:
    """A menu of ``choices`` with ``value`` chosen (when it is one of them)."""
    return StaticSelectElement(
        action_id=action_id,
        placeholder=placeholder,
        options=options(choices),
        initial_option=find_option(choices, value),
    )


def status_label(status: str | None) -> str:
    if not status:
        return "unknown"
    return status if not status.startswith("awaiting") else "awaiting customer"


def priority_label(priority: str | None) -> str:
    if not priority:
        return "—"
    return f"{PRIORITY_EMOJI.get(priority, '')} {priority}".strip()


def assignee_label(user: str | None, group: str | None) -> str:
    if user and group:
        return f"{t.one_line(user, 200)} ({t.one_line(group, 200)})"
    if user:
        return t.one_line(user, 200)
    if group:
        return f":busts_in_silhouette: {t.one_line(group, 200)}"
    return "_unassigned_"


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def due_label(due: str | None, overdue: bool) -> str:
    when = parse_iso(due)
    if when is None:
        return "no due date"
    # Slack shows the date in each reader's time zone; the fallback is the UTC date.
    stamp = int(when.timestamp())
    label = f"<!date^{stamp}^{{date_short_pretty}}|{when.date().isoformat()}>"
    return f":warning: *overdue* {label}" if overdue else label


def task_title(number: int | None, name: str | None, limit: int = 300) -> str:
    ref = f"#{number}" if number is not None else "task"
    return f"*{ref}* {t.one_line(name or '(no name)', limit)}"


def task_ref(number: int | None, uuid: str) -> str:
    return f"#{number}" if number is not None else uuid


def dump(blocks: list[Block]) -> list[dict[str, Any]]:
    """Blocks as JSON; ``to_dict`` runs slack_sdk's limit checks."""
    return [b.to_dict() for b in blocks]


def is_ultracart_link(url: str, ultracart_url: str) -> bool:
    """Whether ``url`` may be a link with a label: https, to the host of ``ultracart_url``
    (``ULTRACART_BASE_URL``) or to ultracart.com or a subdomain, and nothing that could end the link."""
    if any(ch in url for ch in "<>|") or any(ch.isspace() or not ch.isprintable() for ch in url):
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme != "https" or not host or "@" in parts.netloc:
        return False
    own = (urlsplit(ultracart_url).hostname or "").lower()
    return host == own or host == "ultracart.com" or host.endswith(".ultracart.com")
