"""The exception tree of the UltraCart client.

``UltraCartError``
 ├─ ``APIConnectionError``            could not reach UltraCart (or the answer never arrived)
 │   └─ ``APITimeoutError``
 ├─ ``APIResponseError``              UltraCart answered something that is not UltraCart JSON
 └─ ``APIStatusError``                UltraCart answered and said no
     ├─ ``BadRequestError`` 400
     │   └─ ``NotFoundError``          404, or a 400 about an unknown object
     ├─ ``AuthenticationError`` 401 / ``PermissionDeniedError`` 403
     ├─ ``ApplicationDisabledError`` 410
     ├─ ``RateLimitError`` 429
     └─ ``ServerError`` 5xx

Every error the client raises carries the operation id, the HTTP status, UltraCart's ``UC-REST-ERROR``
message and the request id, and says whether the failed request was a write (``is_write``). None of them
ever carries a credential: messages come from UltraCart's answer, never from our request.
"""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from shared_client.models import Error
from shared_client.operations import OPERATIONS

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "ApplicationDisabledError",
    "AuthenticationError",
    "BadRequestError",
    "ErrorContext",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UltraCartError",
    "error_for_status",
]


class ErrorContext(TypedDict, total=False):
    """What any error may say about the request it came from."""

    request_id: str | None
    operation: str | None  # an operation id of shared_client.operations


class UltraCartError(Exception):
    """Base of every error raised by the client."""

    status: int | None = None

    def __init__(self, message: str, *, request_id: str | None = None, operation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.operation = operation

    @property
    def is_write(self) -> bool:
        """Whether the failed request changes something at UltraCart (so it may have taken effect).

        From the operation table; an error that names no known operation counts as a write, the
        cautious reading.
        """
        operation = OPERATIONS.get(self.operation or "")
        return operation.is_write if operation is not None else True

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " | ".join(parts) if len(parts) > 1 else self.message


class APIConnectionError(UltraCartError):
    """UltraCart could not be reached, or the connection broke before its answer arrived.

    ``request_sent`` tells whether the request may have reached UltraCart (and so taken effect).
    """

    def __init__(self, message: str, *, request_sent: bool, **context: Unpack[ErrorContext]) -> None:
        super().__init__(message, **context)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIResponseError(UltraCartError):
    """UltraCart (or a proxy in front of it) answered with a body that is not UltraCart's JSON."""

    def __init__(self, message: str, *, status: int, body: str = "", **context: Unpack[ErrorContext]) -> None:
        super().__init__(message, **context)
        self.status = status
        self.body = body


class APIStatusError(UltraCartError):
    """UltraCart answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error: Error | None = None,
        body: Any = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.status = status
        self.error = error
        self.body = body

    @property
    def object_id(self) -> str | None:
        return self.error.object_id if self.error else None


class BadRequestError(APIStatusError):
    """400: UltraCart rejected the input."""


class NotFoundError(BadRequestError):
    """The object does not exist (UltraCart answers 400 for an unknown uuid; 404 is mapped here too)."""


class AuthenticationError(APIStatusError):
    """401: the key or token is missing, wrong, or lacks the scope."""


class PermissionDeniedError(APIStatusError):
    """403: the credential may not do this."""


class ApplicationDisabledError(APIStatusError):
    """410: UltraCart disabled the authorized application."""


class RateLimitError(APIStatusError):
    """429: over UltraCart's rate limit, or a concurrent request from the same credential."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: UltraCart failed."""


def _looks_not_found(message: str) -> bool:
    lowered = message.lower()
    return (
        "not found" in lowered or "does not exist" in lowered or ("unknown" in lowered and "uuid" in lowered)
    )


def error_for_status(
    status: int,
    message: str,
    *,
    request_id: str | None,
    error: Error | None,
    body: Any,
    operation: str | None,
    retry_after: float | None = None,
) -> APIStatusError:
    """Map an HTTP status (and UltraCart's message) onto the exception tree."""
    kwargs: dict[str, Any] = {
        "status": status,
        "request_id": request_id,
        "error": error,
        "body": body,
        "operation": operation,
    }
    if status == 404 or (status == 400 and _looks_not_found(message)):
        return NotFoundError(message, **kwargs)
    if status == 400:
        return BadRequestError(message, **kwargs)
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionDeniedError(message, **kwargs)
    if status == 410:
        return ApplicationDisabledError(message, **kwargs)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return APIStatusError(message, **kwargs)
