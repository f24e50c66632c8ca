"""``uc-workflow-mcp``: serve the registry's tools over stdio (default) or streamable HTTP.

Stdio writes nothing but protocol to stdout; every log line goes to stderr. Over HTTP the server binds
127.0.0.1 with DNS-rebinding protection; another address needs ``UC_WORKFLOW_MCP_TOKEN``, which is then
required as ``Authorization: Bearer <token>`` on every request. Several HTTP replicas behind one address
serve any request, with no stickiness (``server/replicas.py``). ``--credentials per-request`` (HTTP only)
acts with each request's own UltraCart key instead of the server's (``server/per_request.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared_client import commandline
from shared_client.tools.base import TOOLSETS

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from server.per_request import CallerContexts
    from shared_client.tools import ToolContext

logger = logging.getLogger("server")

PROG = "uc-workflow-mcp"
MCP_PATH = "/mcp"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MIN_TOKEN_LENGTH = 24  # a bearer token guessable by brute force guards nothing


def parse_toolsets(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in TOOLSETS]
    if unknown or not names:
        raise commandline.UsageError(
            f"--toolsets: unknown toolset {', '.join(repr(n) for n in unknown) or repr(value)}; "
            f"use a comma-separated list of {', '.join(TOOLSETS)}"
        )
    return names


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def transport_security(host: str) -> TransportSecuritySettings:
    """Host/Origin checks against DNS rebinding: loopback names, plus the bound address itself."""
    from mcp.server.transport_security import TransportSecuritySettings

    if is_unspecified(host):
        # 0.0.0.0 / :: answers under any name the machine has; the required bearer token is the guard.
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = f"[{host.strip('[]')}]" if ":" in host else host
    if bound not in names:
        names.append(bound)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*names, *(f"{name}:*" for name in names)],
        allowed_origins=[
            f"{scheme}://{name}{port}"
            for scheme in ("http", "https")
            for name in names
            for port in ("", ":*")
        ],
    )


def build_parser() -> commandline.CommandParser:
    parser = commandline.command_parser(
        PROG,
        "MCP server for UltraCart Workflow tasks. Runs on the local sandbox unless "
        "ULTRACART_API_KEY or ULTRACART_OAUTH_TOKEN is set.",
    )
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    commandline.add_listen_options(
        parser, port=8000, port_help=f"HTTP port (default 8000); endpoint {MCP_PATH}"
    )
    parser.add_argument("--read-only", action="store_true", help="serve only the read-only tools")
    parser.add_argument(
        "--toolsets",
        default=",".join(TOOLSETS),
        help=f"comma-separated toolsets to serve (default all: {','.join(TOOLSETS)})",
    )
    parser.add_argument(
        "--credentials",
        choices=["server", "per-request"],
        default="server",
        help="whose UltraCart key the tools use: the server's (ULTRACART_API_KEY or ULTRACART_OAUTH_TOKEN; "
        "default), or per-request: each HTTP request's own, in the x-ultracart-simple-key header "
        "(--transport http only; UltraCart at ULTRACART_BASE_URL, or the sandbox with --sandbox)",
    )
    commandline.add_sandbox_option(parser)
    commandline.add_log_level_option(parser, default="warning")
    return parser


def check_http_binding(host: str, token: str | None) -> None:
    """A non-loopback bind needs a bearer token, and one long enough not to be guessed."""
    if is_loopback(host):
        return
    if not token:
        raise commandline.UsageError(
            f"--host {host} is not a loopback address: set UC_WORKFLOW_MCP_TOKEN to require a bearer token, "
            "or bind 127.0.0.1"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise commandline.UsageError(
            f"--host {host} is not a loopback address: UC_WORKFLOW_MCP_TOKEN must be at least "
            f"{MIN_TOKEN_LENGTH} characters (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def max_request_body_bytes() -> int:
    """What attach_file promises, in base64 (4/3 of the bytes), with room for the rest of the request."""
    from shared_client.tools.files import MAX_ATTACHMENT_BYTES

    return MAX_ATTACHMENT_BYTES * 4 // 3 + 64 * 1024


class BodyLimitAnswer:
    """mcp answers a body over its limit with a bare 413, which mcp's client reports only as "Server
    returned an error response". This gives that 413 a JSON-RPC error naming the limit instead."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        from mcp.types import INVALID_REQUEST

        self.app = app
        self.limit = limit
        self.code = INVALID_REQUEST

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def answer(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {
                            "code": self.code,
                            "message": f"The request is too large: this server takes requests up to "
                            f"{self.limit} bytes (attach_file: files up to 10 MB, base64 makes them 4/3 "
                            "larger).",
                        },
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            elif not replaced:  # mcp's own plain-text body of the 413 is dropped
                await send(message)

        await self.app(scope, receive, answer)


def build_http_app(
    server: MCPServer[Any], host: str, token: str | None, callers: CallerContexts | None = None
) -> ASGIApp:
    """The HTTP app; ``callers`` (``--credentials per-request``): every request must carry a key UltraCart
    accepts, checked after the bearer token (when there is one)."""
    limit = max_request_body_bytes()
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=transport_security(host),
        host=host,
        max_request_body_size=limit,
    )
    from server.replicas import SiblingSessions

    # Behind a load balancer a session's requests land on any replica: each serves the others' sessions.
    app = SiblingSessions(app, server.session_manager, MCP_PATH)
    app = BodyLimitAnswer(app, limit)
    if callers is not None:
        from server.per_request import CallerKeyMiddleware

        app = CallerKeyMiddleware(app, callers)
    if token:
        from server.auth import BearerTokenMiddleware

        app = BearerTokenMiddleware(app, token)
    return app


def serve(args: argparse.Namespace) -> None:
    settings = commandline.load_settings()
    commandline.setup_logging(args.log_level, settings)
    token = settings.uc_workflow_mcp_token.get_secret_value() if settings.uc_workflow_mcp_token else None
    toolsets = parse_toolsets(args.toolsets)
    per_request = args.credentials == "per-request"
    if per_request and args.transport != "http":
        raise commandline.UsageError(
            "--credentials per-request needs --transport http: over stdio no request carries a key "
            "(set ULTRACART_API_KEY for --credentials server instead)"
        )
    if args.transport == "http":
        check_http_binding(args.host, token)

    from server.app import build_server
    from server.changes import change_log_for

    change_log = change_log_for(settings)  # list_recent_changes: what the change feed saw, if one runs
    context: ToolContext | CallerContexts
    callers: CallerContexts | None = None
    if per_request:
        from server.per_request import CallerContexts
        from shared_client.factory import build_keyed_backend

        keyed = build_keyed_backend(settings, sandbox=args.sandbox or settings.uc_workflow_sandbox)
        if settings.has_ultracart_credentials:
            logger.info("--credentials per-request: the UltraCart credential in the settings is not used")
        context = callers = CallerContexts(
            keyed.client_for, sandbox=keyed.sandbox, description=keyed.description, change_log=change_log
        )
        where = f"{keyed.description}, with each caller's own key"
    else:
        from shared_client.factory import build_backend
        from shared_client.tools import ToolContext

        backend = build_backend(settings, force_sandbox=args.sandbox)
        context = ToolContext(
            backend.client,
            sandbox=backend.sandbox,
            description=backend.description,
            # Over HTTP the caller may be on another machine: attach_file must not read this one's files.
            allow_local_files=args.transport == "stdio",
            change_log=change_log,
        )
        where = backend.description
    security = None
    if args.transport == "http":  # replicas behind one address seal and open each other's request state
        from server.replicas import request_state_security

        security = request_state_security(settings, server_credential=not per_request)
    server = build_server(
        context, read_only=args.read_only, toolsets=toolsets, request_state_security=security
    )
    logger.info("serving %s on %s", "read-only tools" if args.read_only else "tools", where)

    if args.transport == "stdio":
        server.run("stdio")
        return

    import socket

    import uvicorn

    app = build_http_app(server, args.host, token, callers)
    url_host = f"[{args.host}]" if ":" in args.host else args.host
    # Bind before saying so: a taken port is one clear line, not a uvicorn traceback after "listening".
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
        listener.listen(2048)  # from here on, connections queue until uvicorn serves them
    except OSError as exc:
        listener.close()
        raise commandline.UsageError(
            f"cannot listen on {url_host}:{args.port}: {exc.strerror or exc}"
        ) from None
    port = listener.getsockname()[1]  # the one bound: --port 0 picks a free one
    print(f"{PROG}: listening on http://{url_host}:{port}{MCP_PATH}", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        app, host=args.host, port=port, log_config=None, log_level=args.log_level, lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[listener])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return commandline.run_command(PROG, lambda: serve(args))
    return 0
