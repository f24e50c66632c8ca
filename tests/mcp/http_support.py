"""The MCP server over HTTP for tests, everything on 127.0.0.1:

- ``serving``: the HTTP app (``build_http_app``, as ``uc-workflow-mcp --transport http`` builds it) under
  uvicorn in this process and event loop, so tests can read its log records;
- ``http_server``: ``uc-workflow-mcp --transport http --port 0`` as a real process;
- ``round_robin``: a reverse proxy that sends each HTTP request to the next of several servers, streaming
  responses through (a load balancer with no stickiness)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.types import Message, Receive, Scope, Send

from server.cli import MCP_PATH, build_http_app

# A handshake-era initialize, posted by hand (raw HTTP probes of the server's answers).
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

SERVER_COMMAND = str(Path(sys.executable).parent / "uc-workflow-mcp")
STARTUP_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def uvicorn_on_loopback(app: Any) -> AsyncIterator[int]:
    """Serve an ASGI app on a free loopback port; yield the port. The socket listens before uvicorn starts,
    so connections just queue."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = int(listener.getsockname()[1])
    config = uvicorn.Config(
        app, log_config=None, lifespan="on", log_level="warning", timeout_graceful_shutdown=5
    )
    runner = uvicorn.Server(config)
    task = asyncio.create_task(runner.serve(sockets=[listener]))
    try:
        yield port
    finally:
        runner.should_exit = True
        await task
        listener.close()


@contextlib.asynccontextmanager
async def serving(server: MCPServer[Any], token: str | None = None) -> AsyncIterator[str]:
    """Yield the endpoint's URL."""
    async with uvicorn_on_loopback(build_http_app(server, "127.0.0.1", token)) as port:
        yield f"http://127.0.0.1:{port}{MCP_PATH}"


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)


@contextlib.contextmanager
def http_server(env: dict[str, str], *extra: str, cwd: Path | None = None) -> Iterator[RunningServer]:
    """Start the HTTP server and yield once it says it listens (read from its stderr, no sleeps)."""
    process = subprocess.Popen(  # port 0: the server binds a free port and says which
        [SERVER_COMMAND, "--transport", "http", "--port", "0", "--log-level", "INFO", *extra],
        env=env,
        cwd=cwd or Path(env["UC_WORKFLOW_SANDBOX_DB"]).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = RunningServer("", process)
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            running.stderr_lines.append(line)
            listening = re.search(r"uc-workflow-mcp: listening on (http://\S+)", line)
            if listening:
                running.url = listening.group(1)
                ready.set()
        ready.set()  # the process ended

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not ready.wait(STARTUP_TIMEOUT) or process.poll() is not None:
            raise AssertionError(f"server did not start:\n{running.stderr}")
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.stdout is not None
    assert process.stdout.read() == "", "the HTTP server must not write to stdout"


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


@dataclass
class Forwarded:
    """One request the proxy passed on: to which upstream, what, and what it was answered."""

    upstream: int
    method: str
    status: int
    rpc_method: str | None


@dataclass
class RoundRobinProxy:
    """An ASGI reverse proxy: request N goes to ``upstreams[N % len(upstreams)]``, whatever it is (no
    stickiness: not by session, not by connection). Response bodies stream through as they arrive, so
    SSE (progress, a GET stream) passes unchanged; a client that goes away ends its upstream request."""

    upstreams: list[str]  # origins: http://127.0.0.1:PORT
    forwarded: list[Forwarded] = field(default_factory=list)
    _next: int = 0
    _http: httpx.AsyncClient | None = None

    def served_by(self, upstream: int) -> int:
        return sum(1 for f in self.forwarded if f.upstream == upstream)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert scope["type"] == "http" and self._http is not None
        index = self._next
        self._next = (self._next + 1) % len(self.upstreams)
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP | {"host", "content-length"}
        ]
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstreams[index] + scope["path"] + (f"?{query}" if query else "")
        request = self._http.build_request(scope["method"], url, headers=headers, content=bytes(body))
        response = await self._http.send(request, stream=True)
        self.forwarded.append(
            Forwarded(index, scope["method"], response.status_code, _rpc_method(bytes(body)))
        )
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers.multi_items()
                        if k.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    async for chunk in response.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b""})
                    group.cancel_scope.cancel()

                async def watch() -> None:
                    message: Message = {}
                    while message.get("type") != "http.disconnect":
                        message = await receive()
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                group.start_soon(watch)
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._http is not None:
                    await self._http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _rpc_method(body: bytes) -> str | None:
    import json

    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded.get("method") if isinstance(decoded, dict) else None


@contextlib.asynccontextmanager
async def round_robin(urls: list[str]) -> AsyncIterator[tuple[str, RoundRobinProxy]]:
    """Yield (the proxy's MCP URL, the proxy) in front of the servers at ``urls`` (their MCP URLs)."""
    origins = []
    for url in urls:
        parts = urlsplit(url)
        assert parts.path == MCP_PATH, url
        origins.append(f"{parts.scheme}://{parts.netloc}")
    proxy = RoundRobinProxy(origins)
    async with uvicorn_on_loopback(proxy) as port:
        yield f"http://127.0.0.1:{port}{MCP_PATH}", proxy
