"""Demo MCP server (mcp 2.x ``MCPServer``) used to prove the conformance tooling works.

It has exactly what the conformance scenarios we run need, written the way the real
server should be written:

* one tool (``add``) with annotations and structured output,
* one static resource and one resource template,
* one prompt with an argument,
* a completion handler (prompt argument + template variable).

Run it:

    python conformance/demo_server.py --transport stdio
    python conformance/demo_server.py --transport streamable-http --host 127.0.0.1 --port 8765
    # -> MCP endpoint at http://127.0.0.1:8765/mcp

DNS-rebinding protection: with ``--host 127.0.0.1`` (or ``localhost``/``::1``) and no explicit
``transport_security``, mcp 2.x auto-enables Host/Origin validation for localhost, which is exactly
what the ``dns-rebinding-protection`` scenario checks. When binding anything else (``0.0.0.0``,
a container IP) it is OFF unless you pass ``TransportSecuritySettings`` yourself, so we always pass
it explicitly (see ``loopback_transport_security``).
"""

from __future__ import annotations

import argparse
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
    ToolAnnotations,
)
from pydantic import BaseModel, Field

CITIES = ["amsterdam", "athens", "berlin", "boston", "paris", "park city", "prague"]


class AddResult(BaseModel):
    """Structured output of the ``add`` tool (becomes the tool's ``outputSchema``)."""

    total: int = Field(description="a + b")
    expression: str


def build_server() -> MCPServer:
    mcp = MCPServer(
        "uc-workflow-demo",
        version="0.0.1",
        instructions="Demo server for conformance testing.",
    )

    @mcp.tool(
        title="Add two integers",
        description="Add two integers and return the sum.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def add(a: int, b: int) -> AddResult:
        # A BaseModel (or TypedDict/dataclass) return annotation => structured output:
        # tools/list advertises outputSchema, tools/call returns structuredContent
        # plus a JSON text block for older clients.
        return AddResult(total=a + b, expression=f"{a} + {b}")

    @mcp.resource(
        "demo://about",
        name="about",
        description="What this server is.",
        mime_type="text/plain",
    )
    def about() -> str:
        return "uc-workflow demo MCP server"

    @mcp.resource(
        "demo://weather/{city}",
        name="weather",
        description="Fake weather report for a city.",
        mime_type="text/plain",
    )
    def weather(city: str) -> str:
        return f"Weather for {city}: sunny, 21C"

    @mcp.prompt(name="trip_plan", description="Plan a trip to a city.")
    def trip_plan(city: str) -> str:
        return f"Plan a three-day trip to {city}."

    # MCPServer.completion() has no type annotations in mcp 2.3.0, so mypy --strict needs this ignore.
    @mcp.completion()  # type: ignore[untyped-decorator, no-untyped-call]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        wants_city = (isinstance(ref, PromptReference) and ref.name == "trip_plan") or (
            isinstance(ref, ResourceTemplateReference) and ref.uri == "demo://weather/{city}"
        )
        if wants_city and argument.name == "city":
            values = [c for c in CITIES if c.startswith(argument.value.lower())]
            return Completion(values=values, total=len(values), has_more=False)
        return None  # MCPServer turns None into an empty completion {"values": []}

    return mcp


def loopback_transport_security() -> TransportSecuritySettings:
    """Host/Origin allow-list accepting only loopback names (what dns-rebinding-protection expects).

    ``:*`` is a wildcard port; a bare name covers a Host header without a port.
    """
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    transport: Literal["stdio", "streamable-http"] = args.transport

    mcp = build_server()
    if transport == "stdio":
        mcp.run("stdio")
    else:
        mcp.run(
            "streamable-http",
            host=args.host,
            port=args.port,
            streamable_http_path="/mcp",
            transport_security=loopback_transport_security(),
        )


if __name__ == "__main__":
    main()
