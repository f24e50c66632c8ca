"""What a tool failure is, as types the front ends read: a kind, the fields it is about, and one message.

``ToolError`` becomes an error *result* (MCP), an inline form error or a reply (Slack), or exit 1 (CLI).
Front ends read ``kind`` and ``fields``; none of them parses the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from shared_client.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UltraCartError,
)
from shared_client.operations import GET_ATTACHMENT_UPLOAD_URL, UPLOAD_ATTACHMENT_BYTES
from shared_client.redis_support import SharedStateUnavailable
from shared_client.request_loop import WaitBeyondDeadline


class ErrorKind(StrEnum):
    BAD_INPUT = "bad_input"  # the arguments are wrong; nothing was sent, nothing written
    NOT_FOUND = "not_found"  # the task (or another object) does not exist
    CONFLICT = "conflict"  # another writer kept the change from sticking
    RATE_LIMITED = "rate_limited"  # UltraCart's limits: try again later (``retry_after``)
    UNAUTHORIZED = "unauthorized"  # UltraCart refused the credential
    UNKNOWN_OUTCOME = "unknown_outcome"  # a write may or may not have happened
    UPSTREAM = "upstream"  # UltraCart failed or answered something unusable


@dataclass(frozen=True)
class FieldError:
    """One field's problem: ``path`` as pydantic's ``loc`` joined with dots (``attachments.0.path``)."""

    path: str
    message: str

    @property
    def top(self) -> str:
        """The top-level argument the path starts with."""
        return self.path.split(".", 1)[0]

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ToolError(Exception):
    """A failure the caller can act on. ``message`` is the whole sentence for a person or a model."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = ErrorKind.UPSTREAM,
        fields: tuple[FieldError, ...] = (),
        retry_after: float | None = None,
        write: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.fields = fields
        self.retry_after = retry_after
        self.write = write  # for UltraCart's failures: whether the request was a write (None: not ours)
        self.status: int | None = None  # for UltraCart's failures: the HTTP status it answered, if any

    @property
    def field(self) -> str | None:
        """The first field named, if any."""
        return self.fields[0].path if self.fields else None

    def to_data(self) -> dict[str, Any]:
        """The error as JSON-ready data, for front ends that pass it on (MCP, the CLI)."""
        data: dict[str, Any] = {"kind": self.kind.value, "message": self.message}
        if self.fields:
            data["fields"] = [{"path": f.path, "message": f.message} for f in self.fields]
        if self.retry_after is not None:
            data["retry_after"] = round(self.retry_after, 1)
        if self.write is not None:
            data["write"] = self.write
        return data


class ToolInputError(ToolError):
    """The arguments are wrong (kind BAD_INPUT), or name something that does not exist (NOT_FOUND, e.g. no
    task #N): the fields say which. Nothing was written."""

    def __init__(
        self, message: str, *, fields: tuple[FieldError, ...], kind: ErrorKind = ErrorKind.BAD_INPUT
    ):
        super().__init__(message, kind=kind, fields=fields)

    @classmethod
    def about(cls, field: str, problem: str, *, kind: ErrorKind = ErrorKind.BAD_INPUT) -> ToolInputError:
        """``field: problem``, about one field."""
        error = FieldError(field, problem)
        return cls(str(error), fields=(error,), kind=kind)

    @classmethod
    def from_validation(cls, exc: ValidationError) -> ToolInputError:
        fields = tuple(_field_errors(exc))
        text = "; ".join(str(f) for f in fields)
        return cls(f"Invalid arguments: {text}. Nothing was changed.", fields=fields)


# --------------------------------------------------------------------------- pydantic's errors


def argument_name(name: str) -> str:
    """An argument's name as a message shows it: plain when it is a short identifier (or an index), else
    quoted short, since it came from the caller and must not fill the message."""
    return name if (name.isidentifier() or name.isdigit()) and len(name) <= 40 else repr(name)[:40]


def _field_path(loc: tuple[int | str, ...]) -> str:
    """``notes.0.text``, each part as :func:`argument_name` shows it."""
    return ".".join(argument_name(str(part)) for part in loc) or "arguments"


_NAMED = re.compile(r"^([a-z_]+): (.*)$", re.DOTALL)


def _field_errors(exc: ValidationError) -> list[FieldError]:
    """One FieldError per problem. A check across fields (a model validator, no ``loc``) names its field
    at the start of its message (``object_type: ...``): that name becomes the path."""
    found: list[FieldError] = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            found.append(FieldError(_field_path(loc), "is not an argument of this tool"))
            continue
        if kind == "missing":
            found.append(FieldError(_field_path(loc), "is required"))
            continue
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        message = " ".join(message.split())[:300]
        # A model validator's error sits at the model (no loc, or a list item's index) and names its field.
        named = _NAMED.match(message) if not loc or isinstance(loc[-1], int) else None
        if named:
            found.append(FieldError(_field_path((*loc, named.group(1))), named.group(2)))
        else:
            found.append(FieldError(_field_path(loc), message))
    return found


# --------------------------------------------------------------------------- UltraCart's errors


def from_api_error(exc: UltraCartError) -> ToolError:
    """What failed, UltraCart's own message, and what to do next. Never a stack trace or a secret."""
    kind, message = _describe(exc)
    # Redis not answering stopped the call before any request: which request it would have been is moot.
    write = None if isinstance(exc, SharedStateUnavailable) else exc.is_write
    error = ToolError(message, kind=kind, retry_after=getattr(exc, "retry_after", None), write=write)
    error.status = getattr(exc, "status", None)
    return error


_CHANGE_NO_TASK = frozenset({GET_ATTACHMENT_UPLOAD_URL.operation_id, UPLOAD_ATTACHMENT_BYTES.operation_id})


def _describe(exc: UltraCartError) -> tuple[ErrorKind, str]:
    op = f" ({exc.operation})" if exc.operation else ""
    ref = f" [request id {exc.request_id}]" if exc.request_id else ""
    # An upload URL and the bytes' upload are writes to the client (never shared, never blindly resent) but
    # change no task: a failed one needs no "may have been applied".
    write = exc.is_write and exc.operation not in _CHANGE_NO_TASK
    if isinstance(exc, NotFoundError):
        return (
            ErrorKind.NOT_FOUND,
            f"Not found{op}: {exc.message}. Check the task uuid or number (search_tasks finds it).{ref}",
        )
    if isinstance(exc, WaitBeyondDeadline):  # the client's own refusal: its message says when
        return ErrorKind.RATE_LIMITED, f"{exc.message}{op}. Nothing was sent."
    if isinstance(exc, RateLimitError):
        wait = f"{max(1.0, exc.retry_after):.0f} s" if exc.retry_after else "a minute"
        return (
            ErrorKind.RATE_LIMITED,
            f"UltraCart's rate limit was reached{op}: {exc.message}. Retry after {wait}.{ref}",
        )
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return ErrorKind.UNAUTHORIZED, (
            f"UltraCart refused the credential{op}: {exc.message}. Check ULTRACART_API_KEY or "
            f"ULTRACART_OAUTH_TOKEN and that it has the workflow_read/workflow_write scopes.{ref}"
        )
    if isinstance(exc, ServerError):
        if not write:
            return (
                ErrorKind.UPSTREAM,
                f"UltraCart failed{op}: {exc.message}. It was retried; try again in a minute.{ref}",
            )
        return ErrorKind.UNKNOWN_OUTCOME, (
            f"UltraCart failed{op}: {exc.message}. It was retried; the change may or may not have been "
            f"applied: look at the task before trying again.{ref}"
        )
    if isinstance(exc, APIStatusError):
        return (
            ErrorKind.UPSTREAM,
            f"UltraCart rejected the request{op}: {exc.message}. Nothing was changed.{ref}",
        )
    if isinstance(exc, SharedStateUnavailable):  # its message names the setting and says nothing was sent
        return (
            ErrorKind.UPSTREAM,
            f"{exc.message}{op}. Start Redis or correct UC_WORKFLOW_REDIS_URL, then try again.",
        )
    if isinstance(exc, APIConnectionError):
        if not exc.request_sent:
            return (
                ErrorKind.UPSTREAM,
                f"Could not reach UltraCart{op}: {exc.message}. Nothing was sent; try again.",
            )
        if not write:
            return (
                ErrorKind.UPSTREAM,
                f"{exc.message}. It was retried; nothing was changed. Try again in a minute.",
            )
        return ErrorKind.UNKNOWN_OUTCOME, (
            f"{exc.message}. The change may or may not have been applied: "
            "look at the task before trying again."
        )
    if isinstance(exc, APIResponseError):
        unexpected = f"UltraCart answered with something unexpected{op}: {exc.message}."
        if write:  # it answered, so the write arrived: whether it took effect is unknown
            return ErrorKind.UNKNOWN_OUTCOME, (
                f"{unexpected} The change may or may not have been applied: look at the task before trying "
                f"again.{ref}"
            )
        return ErrorKind.UPSTREAM, f"{unexpected}{ref}"
    return ErrorKind.UPSTREAM, f"UltraCart error{op}: {exc.message}{ref}"
