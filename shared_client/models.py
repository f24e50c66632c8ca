"""Pydantic models for every schema of UltraCart's Workflow API (see openapi/workflow-openapi.yaml).

Three rules make these models safe against a real, drifting API:

* Enumerations are *open*: a value UltraCart adds tomorrow becomes a pseudo-member, never an error.
* Unknown fields are kept (``extra="allow"``), so a task read and written back loses nothing.
* Date-times parse every form UltraCart sends into timezone-aware values and serialize back in
  UltraCart's form (ISO 8601 with an offset, milliseconds only when there are any).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, PrivateAttr

__all__ = [
    "BaseResponse",
    "Error",
    "ErrorResponse",
    "ObjectType",
    "Priority",
    "Property",
    "ResponseMetadata",
    "ResultSet",
    "SearchStatus",
    "Status",
    "SystemTaskType",
    "UCDateTime",
    "Warning",
    "WorkflowAgentAuth",
    "WorkflowAgentAuthResponse",
    "WorkflowAttachment",
    "WorkflowAttachmentUploadUrl",
    "WorkflowAttachmentUploadUrlResponse",
    "WorkflowGroup",
    "WorkflowGroupsResponse",
    "WorkflowNote",
    "WorkflowTask",
    "WorkflowTaskHistory",
    "WorkflowTaskOpenCountResponse",
    "WorkflowTaskResponse",
    "WorkflowTaskTagsResponse",
    "WorkflowTasksRequest",
    "WorkflowTasksResponse",
    "WorkflowUser",
    "WorkflowUserResponse",
    "WorkflowUsersResponse",
    "format_uc_datetime",
    "parse_uc_datetime",
]


# --------------------------------------------------------------------------- date-times


def parse_uc_datetime(value: Any) -> datetime:
    """Parse UltraCart's date-time forms into an aware datetime.

    Accepts ``2018-12-03T14:27:10.312-05:00``, ``2023-05-18T10:46:27-04:00``, a trailing ``Z``,
    offsets without a colon (``-0500``), and datetime objects. A naive value is taken as UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Python 3.11 parses "-0500" and ".312" fine; normalise a space separator too.
        if len(text) > 10 and text[10] == " ":
            text = text[:10] + "T" + text[11:]
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 date-time: {value!r}") from exc
    else:
        raise ValueError(f"not a date-time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_uc_datetime(value: datetime) -> str:
    """UltraCart's wire form: ISO 8601 with an offset; milliseconds only when present."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec)


def _assume_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UCDateTime = Annotated[
    datetime,
    # pydantic's own (Rust) ISO 8601 parser reads every form UltraCart sends; only a naive value needs help.
    AfterValidator(_assume_utc),
    PlainSerializer(format_uc_datetime, return_type=str, when_used="json"),
]
"""A timezone-aware date-time that reads and writes UltraCart's ISO 8601 forms."""


# --------------------------------------------------------------------------- open enumerations


class OpenStrEnum(StrEnum):
    """A string enum that accepts values it does not know, as pseudo-members.

    UltraCart adds enum values without notice; its own Python SDK crashes on them. Ours keeps them.
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        return self._name_ in type(self).__members__


class Priority(OpenStrEnum):
    LOW = "1 - low"
    MEDIUM = "2 - medium"
    HIGH = "3 - high"
    CRITICAL = "4 - critical"


class Status(OpenStrEnum):
    OPEN = "open"
    CLOSED = "closed"
    DELAYED = "delayed"
    AWAITING_CUSTOMER_FEEDBACK = "awaiting customer feedback"
    CLOSED_SYSTEM = "closed - system"
    CLOSED_CUSTOMER = "closed - customer"
    CLOSED_EXPIRATION = "closed - expiration"

    @property
    def is_closed(self) -> bool:
        return self.value.startswith("closed")


class SearchStatus(OpenStrEnum):
    """The statuses a search accepts (narrower than a task's)."""

    OPEN = "open"
    CLOSED = "closed"
    DELAYED = "delayed"
    AWAITING_CUSTOMER_FEEDBACK = "awaiting customer feedback"


class ObjectType(OpenStrEnum):
    ORDER = "order"
    AUTO_ORDER = "auto order"
    ITEM = "item"
    CUSTOMER_PROFILE = "customer profile"
    STOREFRONT = "storefront"


class SystemTaskType(OpenStrEnum):
    ORDER_ACCOUNTS_RECEIVABLE = "order_accounts_receivable"
    ORDER_FRAUD_REVIEW = "order_fraud_review"
    AUTO_ORDER_CARD_UPDATE_ISSUE = "auto_order_card_update_issue"
    AUTO_ORDER_CANCELED_PAYMENT = "auto_order_canceled_payment"
    ITEM_LOW_STOCK = "item_low_stock"
    ITEM_OUT_OF_STOCK = "item_out_of_stock"


# --------------------------------------------------------------------------- schema models


class UCModel(BaseModel):
    """Base for UltraCart schemas: unknown fields are kept and written back."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True)

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready dict in UltraCart's form; absent (None) fields are left out, as UltraCart does."""
        return self.model_dump(mode="json", exclude_none=True)


class Property(UCModel):
    name: str | None = None
    value: str | None = None


class WorkflowUser(UCModel):
    """UltraCart's schema: ``user_id``, ``user`` and ``user_icon_url``; no e-mail. On some accounts
    ``user`` is itself an e-mail address (:func:`email_name`)."""

    user: str | None = Field(default=None, description="The user's name (on some accounts an e-mail address)")
    user_icon_url: str | None = None
    user_id: int | None = None


def email_name(user: WorkflowUser) -> str | None:
    """The user's name, lowercased, when UltraCart's ``user`` is itself an e-mail address (else None):
    the only e-mail an UltraCart user has."""
    name = (user.user or "").strip()
    local, at, domain = name.partition("@")
    if at and local and "." in domain and not any(c.isspace() for c in name):
        return name.lower()
    return None


class WorkflowGroup(UCModel):
    group: str | None = None
    group_id: int | None = None


class WorkflowAttachment(UCModel):
    download_key: str | None = Field(default=None, description="Temporary download URL")
    file_name: str | None = None
    file_uuid: str | None = None
    mime_type: str | None = None
    upload_key: str | None = None


class WorkflowNote(UCModel):
    attachments: list[WorkflowAttachment] | None = None
    edit_dts: UCDateTime | None = None
    note: str | None = None
    note_dts: UCDateTime | None = None
    original_note: str | None = None
    user: WorkflowUser | None = None


class WorkflowTaskHistory(UCModel):
    activity_dts: UCDateTime | None = None
    description: str | None = None
    ip_address: str | None = None
    user: WorkflowUser | None = None


class WorkflowTask(UCModel):
    assigned_to_group: str | None = None
    assigned_to_group_id: int | None = None
    assigned_to_user: str | None = None
    assigned_to_user_id: int | None = None
    assigned_to_user_or_group: str | None = None
    attachments: list[WorkflowAttachment] | None = None
    created_by: WorkflowUser | None = None
    created_dts: UCDateTime | None = None
    delay_until_dts: UCDateTime | None = None
    dependant_workflow_task_uuid: str | None = None
    due_dts: UCDateTime | None = None
    expiration_dts: UCDateTime | None = None
    global_task_number: int | None = None
    histories: list[WorkflowTaskHistory] | None = None
    last_update_dts: UCDateTime | None = None
    merchant_id: str | None = None
    notes: list[WorkflowNote] | None = None
    object_email: str | None = None
    object_id: str | None = None
    object_task_number: int | None = None
    object_type: ObjectType | None = None
    object_url: str | None = None
    priority: Priority | None = None
    properties: list[Property] | None = None
    related_workflow_task_uuid: str | None = None
    status: Status | None = None
    system_task_type: SystemTaskType | None = None
    tags: list[str] | None = None
    task_context: str | None = None
    task_details: str | None = None
    task_name: str | None = None
    workflow_task_uuid: str | None = None

    def property_value(self, name: str) -> str | None:
        for prop in self.properties or []:
            if prop.name == name:
                return prop.value
        return None


class WorkflowTasksRequest(UCModel):
    """Search filters (POST /workflow/tasks/search). Every filter combines with AND."""

    assigned_to_group: str | None = None
    assigned_to_group_id: int | None = None
    assigned_to_me: bool | None = None
    assigned_to_user: str | None = None
    assigned_to_user_id: int | None = None
    created_by: WorkflowUser | None = None
    created_dts_begin: UCDateTime | None = None
    created_dts_end: UCDateTime | None = None
    delay_until_dts_begin: UCDateTime | None = None
    delay_until_dts_end: UCDateTime | None = None
    due_dts_begin: UCDateTime | None = None
    due_dts_end: UCDateTime | None = None
    last_update_dts_begin: UCDateTime | None = None
    last_update_dts_end: UCDateTime | None = None
    object_email: str | None = None
    object_type: ObjectType | None = None
    priority: Priority | None = None
    status: SearchStatus | None = None
    tags: list[str] | None = None
    unassigned: bool | None = None


class WorkflowAttachmentUploadUrl(UCModel):
    key: str | None = None
    url: str | None = None


class WorkflowAgentAuth(UCModel):
    jwt: str | None = None
    merchant_id: str | None = None
    websocket_url: str | None = None


class Error(UCModel):
    developer_message: str | None = None
    error_code: str | None = None
    more_info: str | None = None
    object_id: str | None = None
    user_message: str | None = None


class Warning(UCModel):
    more_info: str | None = None
    warning_code: str | None = None
    warning_message: str | None = None


class ResultSet(UCModel):
    count: int | None = None
    limit: int | None = None
    more: bool | None = None
    next_offset: int | None = None
    offset: int | None = None
    total_records: int | None = None


class ResponseMetadata(UCModel):
    payload_name: str | None = None
    result_set: ResultSet | None = None


# --------------------------------------------------------------------------- response wrappers


class BaseResponse(UCModel):
    error: Error | None = None
    metadata: ResponseMetadata | None = None
    success: bool | None = None
    warning: Warning | None = None
    _request_id: str | None = PrivateAttr(default=None)

    @property
    def request_id(self) -> str | None:
        """UltraCart's X-UltraCart-Request-Id for the call that produced this response."""
        return self._request_id

    @property
    def result_set(self) -> ResultSet | None:
        return self.metadata.result_set if self.metadata else None


class ErrorResponse(BaseResponse):
    pass


class WorkflowTaskResponse(BaseResponse):
    task: WorkflowTask | None = None


class WorkflowTasksResponse(BaseResponse):
    task_context: str | None = None
    tasks: list[WorkflowTask] | None = None


class WorkflowUserResponse(BaseResponse):
    user: WorkflowUser | None = None


class WorkflowUsersResponse(BaseResponse):
    my_user_id: int | None = None
    users: list[WorkflowUser] | None = None


class WorkflowGroupsResponse(BaseResponse):
    groups: list[WorkflowGroup] | None = None


class WorkflowAttachmentUploadUrlResponse(BaseResponse):
    workflow_attachment_upload_url: WorkflowAttachmentUploadUrl | None = None


class WorkflowTaskOpenCountResponse(BaseResponse):
    open_count: int | None = None


class WorkflowTaskTagsResponse(BaseResponse):
    tags: list[str] | None = None


class WorkflowAgentAuthResponse(BaseResponse):
    agent_auth: WorkflowAgentAuth | None = None
