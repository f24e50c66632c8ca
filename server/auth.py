"""Bearer-token guard for the HTTP transport: every request must carry ``Authorization: Bearer <token>``."""

from __future__ import annotations

import hmac
import logging

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)


class BearerTokenMiddleware:
    """Answers 401 unless the request's bearer token equals the configured one (constant-time compare).

    Lifespan and other non-HTTP scopes pass through. The token is never logged.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("a bearer token is required")
        self.app = app
        self._token = token.encode()

    def _authorized(self, header: str | None) -> bool:
        scheme, _, supplied = (header or "").partition(" ")
        # compare_digest runs even for a wrong scheme, so timing says nothing about which part failed.
        matches = hmac.compare_digest(supplied.strip().encode("latin-1", "replace"), self._token)
        return matches and scheme.lower() == "bearer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self._authorized(
            Headers(scope=scope).get("authorization")
        ):
            client = scope.get("client")
            logger.warning("refused an unauthenticated request from %s", client[0] if client else "unknown")
            response = JSONResponse(
                {
                    "error": "unauthorized",
                    "error_description": "send Authorization: Bearer <UC_WORKFLOW_MCP_TOKEN>",
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="uc-workflow-mcp"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
