"""UltraCart's wire conventions: enums, dates, the error shape, JSON bodies, tasks and pages as answered."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, tzinfo
from typing import Any

PRIORITIES = ("1 - low", "2 - medium", "3 - high", "4 - critical")
STATUSES = (
    "open",
    "closed",
    "delayed",
    "awaiting customer feedback",
    "closed - system",
    "closed - customer",
    "closed - expiration",
)
OBJECT_TYPES = ("order", "auto order", "item", "customer profile", "storefront")
SYSTEM_TASK_TYPES = (
    "order_accounts_receivable",
    "order_fraud_review",
    "auto_order_card_update_issue",
    "auto_order_canceled_payment",
    "item_low_stock",
    "item_out_of_stock",
)
# WorkflowTasksRequest is narrower than a task.
SEARCH_STATUSES = ("open", "closed", "delayed", "awaiting customer feedback")
SEARCH_OBJECT_TYPES = ("order", "auto order", "item", "customer profile")

MERCHANT_ID = "DEMO"
MORE_INFO = "https://www.ultracart.com/api/"


def _merchant_zone() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("America/New_York")
    except Exception:  # no tzdata on this machine: UTC is still a valid offset
        return UTC


MERCHANT_TZ = _merchant_zone()


class ApiError(Exception):
    """An UltraCart-style error answer (status, UC-REST-ERROR message, optional object id)."""

    def __init__(self, status: int, message: str, object_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.object_id = object_id


def bad_request(message: str, object_id: str | None = None) -> ApiError:
    return ApiError(400, message, object_id)


def header_safe(message: str) -> str:
    """Header values must be one latin-1 line; messages may quote user input."""
    flat = " ".join(message.split())
    return flat.encode("ascii", "replace").decode("ascii")[:1000]


def error_body(status: int, message: str, object_id: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "developer_message": message,
        "user_message": message,
        "error_code": str(status),
        "more_info": MORE_INFO,
    }
    if object_id is not None:
        error["object_id"] = object_id
    return {"error": error, "metadata": {}}


def new_request_id() -> str:
    return str(uuid.uuid4())


def drop_nulls(value: Any) -> Any:
    """UltraCart leaves null fields out of its JSON."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(drop_nulls(value), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- dates -------------------------------------------------------------------------------------------


def parse_dts(value: Any, field: str) -> float:
    """ISO 8601 date-time with an offset (or Z), with or without fractions -> epoch seconds."""
    if not isinstance(value, str):
        raise bad_request(f"{field} must be an ISO 8601 date-time string with an offset")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(
            f"{field}: {value!r} is not an ISO 8601 date-time (expected e.g. 2018-12-03T14:27:10.312-05:00)"
        ) from None
    if "T" not in text.upper() and " " not in text:
        raise bad_request(f"{field}: {value!r} is a date, a date-time with an offset is required")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise bad_request(f"{field}: {value!r} has no UTC offset; add one such as -05:00 or Z")
    return parsed.timestamp()


def utc_iso(epoch: float) -> str:
    """The form dates are stored in inside task documents."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def format_dts(epoch: float) -> str:
    """The form UltraCart answers with: seconds and the merchant's offset."""
    return datetime.fromtimestamp(int(epoch), MERCHANT_TZ).isoformat(timespec="seconds")


def stored_to_wire(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return format_dts(datetime.fromisoformat(value).timestamp())
        except ValueError:
            return value
    return value


def normalise_object_type(raw: str) -> str | None:
    """Path spelling of an object type: `auto order`, `auto_order` and `auto-order` all work."""
    candidate = " ".join(raw.replace("_", " ").replace("-", " ").lower().split())
    return candidate if candidate in OBJECT_TYPES else None


def task_context_for(object_type: str | None, object_id: str | None, object_email: str | None) -> str | None:
    if not object_type or not (object_id or object_email):
        return None
    label = {
        "order": "Order",
        "auto order": "Auto Order",
        "item": "Item",
        "customer profile": "Customer",
        "storefront": "Storefront",
    }.get(object_type, object_type.title())
    if object_type == "customer profile" and object_email:
        return f"{label} {object_email}"
    return f"{label} {object_id}"


# --- answers ------------------------------------------------------------------------------------------

_TASK_DATES = ("created_dts", "last_update_dts", "due_dts", "delay_until_dts", "expiration_dts")


def _render_attachments(attachments: list[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    out = []
    for attachment in attachments:
        item = dict(attachment)
        if item.get("file_uuid"):
            item["download_key"] = f"{base_url}/_sandbox/files/{item['file_uuid']}"
        out.append(item)
    return out


def render_task(doc: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A stored task document as UltraCart answers it: dates in the merchant's zone, download URLs."""
    task = dict(doc)
    for key in _TASK_DATES:
        if key in task:
            task[key] = stored_to_wire(task[key])
    if task.get("attachments"):
        task["attachments"] = _render_attachments(task["attachments"], base_url)
    notes = []
    for raw in task.get("notes") or []:
        note = dict(raw)
        for key in ("note_dts", "edit_dts"):
            if key in note:
                note[key] = stored_to_wire(note[key])
        if note.get("attachments"):
            note["attachments"] = _render_attachments(note["attachments"], base_url)
        notes.append(note)
    if "notes" in task:
        task["notes"] = notes
    if "histories" in task:
        task["histories"] = [
            {**h, "activity_dts": stored_to_wire(h.get("activity_dts"))} for h in task["histories"]
        ]
    return dict(sorted(task.items()))


def result_set(count: int, offset: int, limit: int, total: int) -> dict[str, Any]:
    """`more` and `next_offset` are left out on the last page, as UltraCart does."""
    page: dict[str, Any] = {"count": count, "offset": offset, "limit": limit, "total_records": total}
    if offset + count < total:
        page["more"] = True
        page["next_offset"] = offset + count
    return page
