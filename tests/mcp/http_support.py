"""The MCP server's HTTP app (``build_http_app``, as ``uc-workflow-mcp --transport http`` builds it) under
uvicorn on 127.0.0.1, in this process and event loop, so tests can read its log records."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

from server.cli import MCP_PATH, build_http_app


@contextlib.asynccontextmanager
async def serving(server: MCPServer[Any], token: str | None = None) -> AsyncIterator[str]:
    """Yield the endpoint's URL. The socket listens before uvicorn starts, so connections just queue."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        build_http_app(server, "127.0.0.1", token), log_config=None, lifespan="on", log_level="warning"
    )
    runner = uvicorn.Server(config)
    task = asyncio.create_task(runner.serve(sockets=[listener]))
    try:
        yield f"http://127.0.0.1:{port}{MCP_PATH}"
    finally:
        runner.should_exit = True
        await task
        listener.close()
