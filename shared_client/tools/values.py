"""Friendly values, as people and assistants write them, turned into UltraCart's exact spellings.

Every parser raises ``ValueError`` with a message that says what it accepts; pydantic puts the field name
in front, so the caller gets one line such as ``priority: use low, medium, high or critical ...``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar

from shared_client.models import ObjectType, Priority, SearchStatus, Status

DATE_ACCEPTS = (
    "an ISO date (2026-12-01), an ISO date-time (2026-12-01T17:00:00-05:00), today, tomorrow or yesterday"
)


def shown(value: object, limit: int = 60) -> str:
    """A value quoted for an error message: one line, and short however long the input was."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _squash(text: str) -> str:
    """Lower-case, with runs of spaces, underscores and hyphens folded to one space."""
    return re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip()


E = TypeVar("E", bound=StrEnum)


def _aliases(words: Mapping[E, tuple[str, ...]]) -> dict[str, str]:
    """Other words for a value, grouped by the value they mean."""
    return {word: member.value for member, group in words.items() for word in group}


def _spelling(value: str, members: Iterable[StrEnum], aliases: Mapping[str, str], accepts: str) -> str:
    """UltraCart's exact spelling of a value written loosely: a member's value with any spacing, or an
    alias (looked up squashed, and with no spaces at all); else the error that says what is accepted."""
    lowered = _squash(value)
    for member in members:
        if lowered == _squash(member.value):
            return member.value
    alias = aliases.get(lowered) or aliases.get(lowered.replace(" ", ""))
    if alias:
        return alias
    raise ValueError(f"use {accepts}; got {shown(value)}")


# The other words each value is accepted as. They are listed in the ACCEPTS texts below (tool schemas and
# error messages), derived from these tables so the two cannot drift.
PRIORITY_NAMES: dict[Priority, str] = {
    Priority.LOW: "low",
    Priority.MEDIUM: "medium",
    Priority.HIGH: "high",
    Priority.CRITICAL: "critical",
}
_PRIORITY_WORDS: dict[Priority, tuple[str, ...]] = {
    Priority.MEDIUM: ("normal",),
    Priority.CRITICAL: ("urgent",),
}
_STATUS_WORDS: dict[Status, tuple[str, ...]] = {
    Status.CLOSED: ("done", "complete", "completed"),
    Status.AWAITING_CUSTOMER_FEEDBACK: ("awaiting", "waiting", "awaiting feedback", "awaiting customer"),
    Status.OPEN: ("reopen",),
}
_OBJECT_WORDS: dict[ObjectType, tuple[str, ...]] = {
    ObjectType.AUTO_ORDER: ("subscription", "autoorder"),
    ObjectType.CUSTOMER_PROFILE: ("customer", "customerprofile"),
    ObjectType.ITEM: ("sku", "product"),
    ObjectType.STOREFRONT: ("store",),
}
PRIORITY_WORDS: dict[str, Priority] = {
    **{word: member for member, word in PRIORITY_NAMES.items()},
    **{word: member for member, group in _PRIORITY_WORDS.items() for word in group},
}


def _also(
    words: Mapping[E, tuple[str, ...]],
    name: Callable[[E], str] = str,
    among: Iterable[E] | None = None,
) -> str:
    """The other words, for a description: ``; also done/complete → closed, reopen → open`` (a value's
    own spelling without spaces, e.g. ``autoorder``, goes without saying)."""
    allowed = None if among is None else {m.value for m in among}
    parts = [
        f"{'/'.join(shown)} → {name(member)}"
        for member, group in words.items()
        if (allowed is None or member.value in allowed)
        and (shown := [w for w in group if w != member.value.replace(" ", "")])
    ]
    return f"; also {', '.join(parts)}" if parts else ""


PRIORITY_ACCEPTS = "low, medium, high or critical (or 1-4, or UltraCart's '3 - high')" + _also(
    _PRIORITY_WORDS, PRIORITY_NAMES.__getitem__
)
STATUS_ACCEPTS = (
    "open, closed, delayed, awaiting customer feedback, closed - system, closed - customer, "
    "closed - expiration" + _also(_STATUS_WORDS)
)
SEARCH_STATUS_ACCEPTS = "open, closed, delayed or awaiting customer feedback" + _also(
    _STATUS_WORDS, among=[Status(member.value) for member in SearchStatus]
)
OBJECT_TYPE_ACCEPTS = "order, auto order, item, customer profile or storefront" + _also(_OBJECT_WORDS)
SEARCH_OBJECT_TYPE_ACCEPTS = "order, auto order, item or customer profile" + _also(
    _OBJECT_WORDS, among=[member for member in ObjectType if member is not ObjectType.STOREFRONT]
)

_PRIORITY_ALIASES = {
    **{word: member.value for word, member in PRIORITY_WORDS.items()},
    **{str(rank): member.value for rank, member in enumerate(Priority, start=1)},
}
_STATUS_ALIASES = _aliases(_STATUS_WORDS)
_OBJECT_ALIASES = _aliases(_OBJECT_WORDS)


def parse_priority(value: str | int) -> str:
    return _spelling(str(value).strip(), Priority, _PRIORITY_ALIASES, PRIORITY_ACCEPTS)


def friendly_priority(value: str | None) -> str | None:
    """``3 - high`` → ``high``; an unknown value is shown as UltraCart sent it."""
    if value is None:
        return None
    for member, word in PRIORITY_NAMES.items():
        if member.value == value:
            return word
    return str(value)


def parse_status(value: str) -> str:
    """Any task status, forgiving UltraCart's spacing quirks (``closed-system``, ``closed_system``)."""
    return _spelling(value, Status, _STATUS_ALIASES, STATUS_ACCEPTS)


def parse_search_status(value: str) -> str:
    status = parse_status(value)
    if status not in {m.value for m in SearchStatus}:
        raise ValueError(f"a search can filter on {SEARCH_STATUS_ACCEPTS}; got {shown(value)}")
    return status


def parse_object_type(value: str) -> str:
    return _spelling(value, ObjectType, _OBJECT_ALIASES, OBJECT_TYPE_ACCEPTS)


def parse_when(value: str, *, end_of_day: bool, now: datetime | None = None) -> datetime:
    """An ISO date or date-time (or today/tomorrow/yesterday) as an aware UTC-or-offset datetime, in
    whole seconds: UltraCart stores no fractions, so a value with them would never read back as sent.

    A bare date means the start of that day (UTC) for lower bounds, and its last second for due dates
    and upper bounds (``end_of_day``): due 2026-12-01 is not overdue until that day is over.
    """
    text = value.strip()
    lowered = text.lower()
    today = (now or datetime.now(UTC)).date()
    relative = {"today": today, "tomorrow": today + timedelta(days=1), "yesterday": today - timedelta(days=1)}
    day: date | None = relative.get(lowered)
    if day is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"use {DATE_ACCEPTS}; got {shown(text)}") from None
    if day is not None:
        clock = time(23, 59, 59) if end_of_day else time(0, 0, 0)
        return datetime.combine(day, clock, tzinfo=UTC)
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(candidate)
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        parsed.astimezone(UTC)  # an instant outside years 1-9999 cannot be written to UltraCart
    except (ValueError, OverflowError):
        raise ValueError(f"use {DATE_ACCEPTS}; got {shown(text)}") from None
    return parsed.replace(microsecond=0)


_AGO = re.compile(
    r"(?:last\s+|past\s+)?(\d{1,6})\s*(m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)(?:\s+ago)?"
)
_AGO_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
WHEN_AGO_ACCEPTS = f"{DATE_ACCEPTS}, or a time ago such as 90 minutes, 24 hours ago, 2d or 1 week"


def parse_when_ago(value: str, *, end_of_day: bool, now: datetime) -> datetime:
    """:func:`parse_when`, or a time before ``now`` written as an amount and a unit (``24 hours ago``,
    ``2d``, ``last 3 days``): for "what changed since ..."."""
    ago = _AGO.fullmatch(" ".join(value.strip().lower().split()))
    if ago:
        unit = "m" if ago.group(2).startswith("mi") or ago.group(2) == "m" else ago.group(2)[0]
        try:
            return (now - int(ago.group(1)) * _AGO_UNITS[unit]).replace(microsecond=0)
        except OverflowError:
            raise ValueError(f"use {WHEN_AGO_ACCEPTS}; {shown(value)} is too long ago") from None
    try:
        return parse_when(value, end_of_day=end_of_day, now=now)
    except ValueError:
        raise ValueError(f"use {WHEN_AGO_ACCEPTS}; got {shown(value.strip())}") from None


_INVISIBLE_CATEGORIES = {"Cf", "Co", "Cs"}  # format (zero-width, bidi controls), private use, surrogates
_KEEP = {"\n", "\t"}


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def visible_text(value: str) -> str:
    """For a name: some text must remain once invisible characters are taken out."""
    if not (clean_text(value) or "").strip():
        raise ValueError("use visible text (it holds only invisible or control characters)")
    return value


def clean_text(text: str | None) -> str | None:
    """Strip invisible and bidirectional-control characters from text people wrote (it is data)."""
    if text is None:
        return None
    if text.isascii():  # the common case: only ASCII control characters can hide in it
        return _ASCII_CONTROL.sub("", text)
    return "".join(
        ch
        for ch in text
        if ch in _KEEP
        or (unicodedata.category(ch) not in _INVISIBLE_CATEGORIES and unicodedata.category(ch) != "Cc")
    )


def parse_sort(value: str) -> str:
    """``due``, ``-priority``, ``created,-updated`` → UltraCart's ``+due_dts,-priority,...``."""
    fields = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        sign = "+"
        if item[0] in "+-":
            sign, item = item[0], item[1:].strip()
        key = _squash(item).replace(" ", "_")
        field = SORT_FIELDS.get(key)
        if field is None:
            raise ValueError(
                f"sort by {', '.join(SORT_CHOICES)} (prefix '-' for descending); got {shown(raw)}"
            )
        fields.append(f"{sign}{field}")
    if not fields:
        raise ValueError(f"sort by {', '.join(SORT_CHOICES)} (prefix '-' for descending)")
    return ",".join(fields)


SORT_FIELDS = {
    "due": "due_dts",
    "due_dts": "due_dts",
    "due_date": "due_dts",
    "created": "created_dts",
    "created_dts": "created_dts",
    "updated": "last_update_dts",
    "last_update": "last_update_dts",
    "last_update_dts": "last_update_dts",
    "delay_until": "delay_until_dts",
    "delay_until_dts": "delay_until_dts",
    "priority": "priority",
    "status": "status",
    "name": "task_name",
    "task_name": "task_name",
    "number": "global_task_number",
    "global_task_number": "global_task_number",
    "type": "object_type",
    "object_type": "object_type",
    "assignee": "assigned_to_user_or_group",
    "assigned_to_user_or_group": "assigned_to_user_or_group",
}
SORT_CHOICES = (
    "due",
    "priority",
    "created",
    "updated",
    "status",
    "name",
    "number",
    "assignee",
    "delay_until",
    "type",
)
