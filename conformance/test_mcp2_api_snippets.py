"""Executable versions of the mcp 2.x snippets quoted in NOTES.md (so the notes stay true).

Run: /work/venv/bin/python -m pytest conformance/test_mcp2_api_snippets.py
Everything runs in-process via ``mcp.Client(server)``: no subprocess, no network.
"""

from __future__ import annotations

from typing import TypedDict

import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import AssistantMessage, UserMessage
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from pydantic import BaseModel

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Order(BaseModel):
    order_id: str
    total: float


class Stats(TypedDict):
    count: int


def build() -> MCPServer:
    mcp = MCPServer("notes-demo", version="1.2.3", instructions="How to use me.")

    # Tool annotations: ToolAnnotations takes snake_case kwargs; the wire uses camelCase.
    @mcp.tool(
        title="Get order",
        annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=True),
    )
    def get_order(order_id: str) -> Order:
        """Fetch one order."""  # docstring -> tool description
        return Order(order_id=order_id, total=9.5)

    @mcp.tool()
    def count_things() -> Stats:  # TypedDict -> structured too
        """Count things."""
        return {"count": 3}

    @mcp.tool()
    def echo_number(n: int) -> int:  # primitive -> structured as {"result": n}
        """Echo."""
        return n

    @mcp.tool(structured_output=False)
    def plain(text: str) -> str:  # opt out: text content only, no outputSchema
        """Plain."""
        return text.upper()

    @mcp.tool()
    async def slow(steps: int, ctx: Context) -> str:  # Context is injected by type, hidden from schema
        """Reports progress and logs."""
        for i in range(steps):
            await ctx.report_progress(i + 1, steps)
        # ctx.info()/ctx.log() still work but emit MCPDeprecationWarning (logging is deprecated
        # as of protocol 2026-07-28, SEP-2577); use stdlib logging to stderr for server logs.
        return "ok"

    @mcp.tool()
    def fails() -> str:
        """Always fails."""
        raise ToolError("order not found")  # -> isError=True, text "Error executing tool fails: ..."

    @mcp.resource("orders://{order_id}", name="order", mime_type="application/json")
    def order_resource(order_id: str) -> str:
        return Order(order_id=order_id, total=1.0).model_dump_json()

    @mcp.prompt(name="refund", description="Draft a refund reply.")
    def refund(order_id: str, tone: str = "polite") -> list[UserMessage | AssistantMessage]:
        # required/optional prompt args come from the signature (tone has a default -> optional)
        return [UserMessage(f"Draft a {tone} refund note for {order_id}."), AssistantMessage("Sure.")]

    @mcp.completion()  # type: ignore[untyped-decorator, no-untyped-call]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if isinstance(ref, PromptReference) and ref.name == "refund" and argument.name == "tone":
            return Completion(values=[t for t in ("polite", "firm") if t.startswith(argument.value)])
        return None

    return mcp


async def test_tools_annotations_and_structured_output() -> None:
    async with Client(build()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        t = tools["get_order"]
        assert t.description == "Fetch one order."
        assert t.annotations is not None and t.annotations.read_only_hint is True
        assert t.output_schema is not None and t.output_schema["required"] == ["order_id", "total"]
        assert tools["plain"].output_schema is None
        assert "ctx" not in tools["slow"].input_schema["properties"]

        r = await client.call_tool("get_order", {"order_id": "A1"})
        assert r.structured_content == {"order_id": "A1", "total": 9.5}
        assert isinstance(r.content[0], TextContent)  # JSON text copy for older clients
        assert (await client.call_tool("count_things", {})).structured_content == {"count": 3}
        assert (await client.call_tool("echo_number", {"n": 7})).structured_content == {"result": 7}
        r = await client.call_tool("plain", {"text": "hi"})
        assert r.structured_content is None and r.content[0] == TextContent(type="text", text="HI")

        seen: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(progress)

        r = await client.call_tool("slow", {"steps": 2}, progress_callback=on_progress)
        assert seen == [1, 2]

        r = await client.call_tool("fails", {})
        assert r.is_error is True
        assert (
            isinstance(r.content[0], TextContent)
            and r.content[0].text == "Error executing tool fails: order not found"
        )


async def test_resource_template_prompt_completion() -> None:
    async with Client(build()) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["orders://{order_id}"]
        assert (await client.list_resources()).resources == []  # templates are not listed as resources
        read = await client.read_resource("orders://A7")
        first = read.contents[0]
        assert isinstance(first, TextResourceContents) and first.text == '{"order_id":"A7","total":1.0}'

        prompts = (await client.list_prompts()).prompts
        args = {a.name: a.required for a in prompts[0].arguments or []}
        assert args == {"order_id": True, "tone": False}
        got = await client.get_prompt("refund", {"order_id": "A1"})
        assert [m.role for m in got.messages] == ["user", "assistant"]

        done = await client.complete(
            PromptReference(type="ref/prompt", name="refund"), {"name": "tone", "value": "f"}
        )
        assert done.completion.values == ["firm"]
        other = await client.complete(
            PromptReference(type="ref/prompt", name="x"), {"name": "y", "value": ""}
        )
        assert other.completion.values == []  # handler returned None
