"""What replicas of ``uc-workflow-mcp --transport http`` share, so that any replica serves any request.

Behind one address with no stickiness, consecutive requests of one client land on different processes:

- 2026-07-28 clients (mcp 2.x's default) are stateless by protocol: one self-contained POST per request.
  The only state that rides between two of their requests is a multi-round call's ``requestState``
  (``Resolve``/``Elicit``), which mcp seals with AES-GCM. ``request_state_security`` gives every replica the
  same key, derived from a secret the replicas already share (``UC_WORKFLOW_MCP_TOKEN``, else the UltraCart
  credential; with ``--credentials per-request`` the token only), so state sealed by one is opened by
  another; a replica with another secret answers "Invalid or expired requestState" (and one with another
  token answers 401 before that).
- Handshake-era clients (2025-xx) open a session on the replica that answers their ``initialize``, which
  keeps it as mcp always does (its GET stream, several SSE streams). ``SiblingSessions`` lets every other
  replica serve that session's POSTs too, the way mcp's stateless mode serves every request: this server
  keeps nothing per session (no server-to-client request, no notification outside a request's own stream,
  no per-session log level), so a fresh per-request transport is all a POST needs. A GET or DELETE for a
  session held by another replica is answered 405, which clients take as "no stream here".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING

from starlette.datastructures import Headers

if TYPE_CHECKING:
    from mcp.server.request_state import RequestStateSecurity
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.types import ASGIApp, Receive, Scope, Send

    from shared_client.settings import Settings

logger = logging.getLogger(__name__)

# Domain separation: the request-state key is not the token or the UltraCart key, and reveals neither.
KEY_LABEL = b"uc-workflow-mcp/request-state/v1/"


def shared_secret(settings: Settings, *, server_credential: bool = True) -> tuple[str, bytes] | None:
    """(setting name, value) of the secret every replica of one deployment already has: the MCP token
    (required off loopback), else the UltraCart simple key, else the OAuth token; None when there is none
    (the embedded sandbox on loopback). ``server_credential=False`` (``--credentials per-request``: the
    server has no UltraCart credential of its own, and one left in the settings is not used): the token
    only."""
    candidates = [("UC_WORKFLOW_MCP_TOKEN", settings.uc_workflow_mcp_token)]
    if server_credential:
        candidates += [
            ("ULTRACART_API_KEY", settings.ultracart_api_key),
            ("ULTRACART_OAUTH_TOKEN", settings.ultracart_oauth_token),
        ]
    for name, value in candidates:
        if value is not None and value.get_secret_value():
            return name, value.get_secret_value().encode()
    return None


def derive_request_state_key(source: str, secret: bytes) -> bytes:
    """32 bytes for mcp's request-state codec: HMAC-SHA256 of the secret, labelled with its source."""
    return hmac.new(KEY_LABEL + source.encode(), secret, hashlib.sha256).digest()


def request_state_security(settings: Settings, *, server_credential: bool = True) -> RequestStateSecurity:
    """One ``requestState`` key for every replica that has the same secret (see ``shared_secret``); a
    process-local key when there is none (with per-request keys and no token: replicas then do not open
    each other's state). The secret and the key are never logged."""
    from mcp.server.request_state import RequestStateSecurity

    found = shared_secret(settings, server_credential=server_credential)
    if found is None:
        logger.info("request state: a process-local key (no UC_WORKFLOW_MCP_TOKEN or UltraCart credential)")
        return RequestStateSecurity.ephemeral()
    source, secret = found
    logger.info("request state: a key derived from %s, the same on every replica that has it", source)
    return RequestStateSecurity(keys=[derive_request_state_key(source, secret)])


class SiblingSessions:
    """Serves a handshake-era POST whose ``Mcp-Session-Id`` this replica does not hold (another replica
    answered its ``initialize``) statelessly, as mcp's ``stateless_http`` serves every request; the sessions
    this replica holds, requests without a session and 2026-07-28 requests go to mcp unchanged.

    It reads two private members of mcp's session manager (the sessions it holds, and its stateless
    handler); ``tests/mcp/test_replicas.py`` pins the behaviour on the installed mcp."""

    def __init__(self, app: ASGIApp, manager: StreamableHTTPSessionManager, path: str) -> None:
        from mcp.server.transport_security import RequestBodyLimitMiddleware

        self.app = app
        self.manager = manager
        self.path = path
        self.stateless = RequestBodyLimitMiddleware(self._serve_stateless, manager.max_request_body_size)

    def _foreign_session(self, headers: Headers) -> str | None:
        from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
        from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
        from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

        session = headers.get(MCP_SESSION_ID_HEADER)
        version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if session is None or self.manager.stateless:
            return None
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None  # the 2026-07-28 path: stateless already, mcp validates it
        if session in self.manager._server_instances:
            return None  # held here: mcp serves it as it always does
        return session

    async def _serve_stateless(self, scope: Scope, receive: Receive, send: Send) -> None:
        from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER

        version = Headers(scope=scope).get(MCP_PROTOCOL_VERSION_HEADER)
        await self.manager._handle_stateless_request(version, scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        session = self._foreign_session(Headers(scope=scope))
        if session is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST":
            logger.debug("serving a POST of a session another replica holds, statelessly")
            await self.stateless(scope, receive, send)
            return
        await _not_here(scope, receive, send)


async def _not_here(scope: Scope, receive: Receive, send: Send) -> None:
    """405 for a GET (the server-to-client stream) or DELETE of a session another replica holds: mcp's
    client then does without the stream, or leaves the session to expire on its replica."""
    from mcp.types import INVALID_REQUEST
    from starlette.responses import JSONResponse

    error = {
        "code": INVALID_REQUEST,
        "message": "This replica does not hold the session: it serves its POSTs, not its stream.",
    }
    answer = JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, 405, headers={"allow": "POST"})
    await answer(scope, receive, send)
