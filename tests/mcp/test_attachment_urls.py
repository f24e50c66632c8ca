"""The embedded sandbox (in this process) answers upload URLs under .invalid that nobody outside can reach:
get_attachment_upload_url says so and points to attach_file instead of asking for a PUT there."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from mcp import Client

from server.app import build_server
from shared_client.tools import ToolContext


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_embedded_sandbox_upload_url_points_to_attach_file(
    tool_context: ToolContext, mode: str
) -> None:
    assert tool_context.sandbox
    async with Client(build_server(tool_context), mode=mode) as client:
        result = await client.call_tool("get_attachment_upload_url", {"extension": "pdf"})
    assert not result.is_error and result.structured_content is not None
    out = result.structured_content
    assert (urlsplit(out["url"]).hostname or "").endswith(".invalid")
    assert out["how_to_use"].startswith("Do not PUT to url")
    assert "only this server's own process can reach" in out["how_to_use"]
    assert "attach_file (content_base64 and file_name)" in out["how_to_use"]


async def test_instructions_say_where_attachment_urls_work(tool_context: ToolContext) -> None:
    async with Client(build_server(tool_context)) as client:
        embedded = client.instructions or ""
    assert "Attachment URLs here (upload and download) belong to the sandbox inside this server" in embedded
    assert "attach_file (content_base64 and file_name)" in embedded
    remote = ToolContext(tool_context.client, sandbox=False, description="UltraCart at https://example.test")
    async with Client(build_server(remote)) as client:
        assert "Attachment URLs here" not in (client.instructions or "")
