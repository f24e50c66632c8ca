"""Validation of WorkflowTask bodies, note merging and history descriptions (pure functions)."""

from __future__ import annotations

from typing import Any

from .wire import (
    OBJECT_TYPES,
    PRIORITIES,
    STATUSES,
    SYSTEM_TASK_TYPES,
    bad_request,
    format_dts,
    parse_dts,
    utc_iso,
)

SERVER_FIELDS = frozenset(
    {
        "workflow_task_uuid",
        "global_task_number",
        "object_task_number",
        "merchant_id",
        "created_by",
        "created_dts",
        "histories",
        "last_update_dts",
    }
)
DERIVED_FIELDS = frozenset({"assigned_to_user", "assigned_to_group", "assigned_to_user_or_group"})
STRING_FIELDS = (
    "task_name",
    "task_details",
    "object_id",
    "object_email",
    "object_url",
    "task_context",
    "dependant_workflow_task_uuid",
    "related_workflow_task_uuid",
)
ID_FIELDS = ("assigned_to_user_id", "assigned_to_group_id")
ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "priority": PRIORITIES,
    "status": STATUSES,
    "object_type": OBJECT_TYPES,
    "system_task_type": SYSTEM_TASK_TYPES,
}
DATE_FIELDS = ("due_dts", "delay_until_dts", "expiration_dts")
ATTACHMENT_FIELDS = ("download_key", "file_name", "file_uuid", "mime_type", "upload_key")
USER_FIELDS = {"user": str, "user_icon_url": str, "user_id": int}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string")
    return value


def check_int(value: Any, field: str) -> int:
    if not is_int(value):
        raise bad_request(f"{field} must be an integer")
    if not -(2**31) <= value < 2**31:
        raise bad_request(f"{field} is out of range for a 32-bit integer")
    return int(value)


def check_enum(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise bad_request(f"{field} {value!r} is not one of: {', '.join(allowed)}")
    return value


def check_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be a JSON object")
    return value


def check_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad_request(f"{field} must be a JSON array")
    return value


def check_user(value: Any, field: str) -> dict[str, Any]:
    user = check_object(value, field)
    clean = dict(user)
    for key, kind in USER_FIELDS.items():
        item = user.get(key)
        if item is None:
            clean.pop(key, None)
        elif kind is int:
            clean[key] = check_int(item, f"{field}.{key}")
        else:
            clean[key] = check_str(item, f"{field}.{key}")
    return clean


def _attachment(value: Any, field: str) -> dict[str, Any]:
    raw = check_object(value, field)
    clean = {k: v for k, v in raw.items() if v is not None}
    for key in ATTACHMENT_FIELDS:
        if key in clean:
            check_str(clean[key], f"{field}.{key}")
    return clean


def _attachments(value: Any, field: str) -> list[dict[str, Any]]:
    return [_attachment(item, f"{field}[{i}]") for i, item in enumerate(check_list(value, field))]


def _note(value: Any, field: str) -> dict[str, Any]:
    raw = check_object(value, field)
    clean = {k: v for k, v in raw.items() if v is not None}
    for key in ("note", "original_note"):
        if key in clean:
            check_str(clean[key], f"{field}.{key}")
    for key in ("note_dts", "edit_dts"):
        if key in clean:
            clean[key] = utc_iso(parse_dts(clean[key], f"{field}.{key}"))
    if "user" in clean:
        clean["user"] = check_user(clean["user"], f"{field}.user")
    if "attachments" in clean:
        clean["attachments"] = _attachments(clean["attachments"], f"{field}.attachments")
    return clean


def validate_task(body: Any) -> dict[str, Any]:
    """Check a WorkflowTask body; return the client-controlled part, dates stored as UTC.

    Server-managed and derived fields are dropped; unknown extra fields are kept as sent.
    """
    raw = check_object(body, "The request body (WorkflowTask)")
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or key in SERVER_FIELDS or key in DERIVED_FIELDS:
            continue
        if key in STRING_FIELDS:
            clean[key] = check_str(value, key)
        elif key in ID_FIELDS:
            clean[key] = check_int(value, key)
        elif key in ENUM_FIELDS:
            clean[key] = check_enum(value, key, ENUM_FIELDS[key])
        elif key in DATE_FIELDS:
            clean[key] = utc_iso(parse_dts(value, key))
        elif key == "tags":
            tags = [check_str(t, "tags[]").strip() for t in check_list(value, key)]
            clean[key] = list(dict.fromkeys(t for t in tags if t))
        elif key == "properties":
            props = []
            for i, item in enumerate(check_list(value, key)):
                prop = {k: v for k, v in check_object(item, f"properties[{i}]").items() if v is not None}
                for part in ("name", "value"):
                    if part in prop:
                        check_str(prop[part], f"properties[{i}].{part}")
                props.append(prop)
            clean[key] = props
        elif key == "notes":
            clean[key] = [_note(n, f"notes[{i}]") for i, n in enumerate(check_list(value, key))]
        elif key == "attachments":
            clean[key] = _attachments(value, key)
        else:
            clean[key] = value
    # An id of 0 is what typed clients send for "no assignee".
    for key in ID_FIELDS:
        if clean.get(key) == 0:
            del clean[key]
    if "task_name" in clean and not clean["task_name"].strip():
        del clean["task_name"]
    return clean


def merge_notes(
    old: list[dict[str, Any]], new: list[dict[str, Any]], caller: dict[str, Any], now_iso: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The sent list replaces the stored one, matched by index.

    A new note gets note_dts and user when missing; a changed text keeps the first text in
    original_note and stamps edit_dts. Returns the notes and history descriptions.
    """
    merged: list[dict[str, Any]] = []
    events: list[str] = []
    for index, note in enumerate(new):
        note = dict(note)
        if index < len(old):
            before = old[index]
            note.setdefault("note_dts", before.get("note_dts", now_iso))
            note.setdefault("user", before.get("user", caller))
            for key in ("original_note", "edit_dts"):
                if key not in note and key in before:
                    note[key] = before[key]
            if note.get("note", "") != before.get("note", ""):
                note["original_note"] = before.get("original_note", before.get("note", ""))
                note["edit_dts"] = now_iso
                events.append("Note edited")
        else:
            note.setdefault("note_dts", now_iso)
            note.setdefault("user", caller)
            events.append("Note added")
        merged.append(note)
    if len(new) < len(old):
        events.append(f"{len(old) - len(new)} note(s) removed")
    return merged, events


def _shown(value: Any) -> str:
    return "(none)" if value in (None, "") else str(value)


def _shown_date(value: Any) -> str:
    if not value:
        return "(none)"
    from datetime import datetime

    return format_dts(datetime.fromisoformat(str(value)).timestamp())


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """History descriptions for what an update changed (notes and attachments are handled apart)."""
    events: list[str] = []
    for key, label in (("status", "Status"), ("priority", "Priority")):
        if old.get(key) != new.get(key):
            events.append(f"{label} changed from {_shown(old.get(key))} to {_shown(new.get(key))}")
    for key, label in (("assigned_to_user", "user"), ("assigned_to_group", "group")):
        before, after = old.get(key), new.get(key)
        if before != after:
            if after:
                events.append(f"Assigned to {label} {after}" + (f" (was {before})" if before else ""))
            else:
                events.append(f"Unassigned from {label} {before}")
    for key, label in (
        ("due_dts", "Due date"),
        ("delay_until_dts", "Delay until"),
        ("expiration_dts", "Expiration"),
    ):
        if old.get(key) != new.get(key):
            events.append(f"{label} changed from {_shown_date(old.get(key))} to {_shown_date(new.get(key))}")
    if old.get("task_name") != new.get("task_name"):
        events.append(f"Name changed from {_shown(old.get('task_name'))} to {_shown(new.get('task_name'))}")
    if old.get("task_details") != new.get("task_details"):
        events.append("Details changed")
    old_tags, new_tags = old.get("tags") or [], new.get("tags") or []
    added = [t for t in new_tags if t not in old_tags]
    removed = [t for t in old_tags if t not in new_tags]
    if added:
        events.append(f"Tags added: {', '.join(added)}")
    if removed:
        events.append(f"Tags removed: {', '.join(removed)}")
    if (old.get("object_type"), old.get("object_id")) != (new.get("object_type"), new.get("object_id")):
        events.append(
            f"Linked object changed from {_shown(old.get('task_context'))} "
            f"to {_shown(new.get('task_context'))}"
        )
    return events
