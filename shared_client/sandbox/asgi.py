"""HTTP plumbing shared by /rest/v2 and /_sandbox: bodies, base URLs, UltraCart's response headers."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .wire import dumps, error_body, header_safe, new_request_id

REQUEST_ID_HEADER = "X-UltraCart-Request-Id"


def base_url_of(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "127.0.0.1"
    return f"{scope.get('scheme', 'http')}://{host}"


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def json_headers(request_id: str, body: bytes, error: str | None) -> list[tuple[bytes, bytes]]:
    """A JSON answer's raw headers: request id, and UC-REST-ERROR on an error."""
    headers = [
        (b"content-type", b"application/json; charset=UTF-8"),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
    ]
    if error is not None:
        headers.append((b"uc-rest-error", header_safe(error).encode("latin-1")))
    return headers


def error_response(status: int, message: str) -> Response:
    """UltraCart's error shape, for the routes outside /rest/v2."""
    return Response(
        dumps(error_body(status, message)),
        status_code=status,
        media_type="application/json",
        headers={"UC-REST-ERROR": header_safe(message)},
    )


class RequestIdMiddleware:
    """Every response carries X-UltraCart-Request-Id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if not any(k.lower() == b"x-ultracart-request-id" for k, _ in headers):
                    headers.append((b"x-ultracart-request-id", new_request_id().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
