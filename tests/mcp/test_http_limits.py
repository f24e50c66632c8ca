"""Over streamable HTTP, a request as large as attach_file promises (10 MB, in base64) goes through, and a
larger one gets an error naming the limit rather than mcp's bare "Server returned an error response"."""

from __future__ import annotations

import base64

import pytest
from http_support import serving
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_REQUEST

from server.app import build_server
from server.cli import max_request_body_bytes
from shared_client.tools import ToolContext
from shared_client.tools.files import MAX_ATTACHMENT_BYTES


async def _a_task(client: Client) -> str:
    found = await client.call_tool("search_tasks", {"status": "open", "limit": 1})
    assert found.structured_content is not None
    return f"#{found.structured_content['tasks'][0]['number']}"


async def test_attach_file_up_to_its_promised_size_over_http(tool_context: ToolContext) -> None:
    content = b"%PDF-" + b"x" * (MAX_ATTACHMENT_BYTES - 5)  # exactly the limit: 13.3 MiB of base64
    async with serving(build_server(tool_context)) as url, Client(url) as client:
        task = await _a_task(client)
        result = await client.call_tool(
            "attach_file",
            {
                "task": task,
                "content_base64": base64.b64encode(content).decode(),
                "file_name": "big.pdf",
            },
        )
        assert not result.is_error, result.content
        assert result.structured_content is not None
        assert result.structured_content["attachment"]["file_name"] == "big.pdf"
        assert result.structured_content["attachment"]["mime_type"] == "application/pdf"


async def test_a_request_over_the_limit_is_told_the_limit(tool_context: ToolContext) -> None:
    limit = max_request_body_bytes()
    async with serving(build_server(tool_context)) as url, Client(url) as client:
        task = await _a_task(client)
        with pytest.raises(MCPError) as raised:
            await client.call_tool(
                "attach_file",
                {"task": task, "content_base64": "A" * (limit + 1), "file_name": "huge.pdf"},
            )
        assert raised.value.error.code == INVALID_REQUEST
        assert f"up to {limit} bytes" in raised.value.error.message
        assert "10 MB" in raised.value.error.message
        # The session survives the refusal.
        assert not (await client.call_tool("count_open_tasks", {})).is_error
