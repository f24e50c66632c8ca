"""Every tool's input and output schema is committed in ``shared_client/tools/schemas.json``: a schema
change shows in review, and the MCP server publishes that file (so it starts without generating them).

Regenerate after an intended change:  python -m shared_client.tools.schemas --write
(or UPDATE_SNAPSHOTS=1 pytest tests/mcp).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from mcp import Client

from server.app import build_server
from shared_client.tools import ALL_TOOLS, ToolContext
from shared_client.tools.schemas import SCHEMAS_FILE, generate, render


async def published_schemas(context: ToolContext) -> dict[str, Any]:
    async with Client(build_server(context)) as client:
        listed = await client.list_tools()
    return {
        tool.name: {"input": tool.input_schema, "output": tool.output_schema}
        for tool in sorted(listed.tools, key=lambda t: t.name)
    }


def test_the_committed_schemas_are_the_models() -> None:
    current = generate(ALL_TOOLS)
    assert set(current) == {t.name for t in ALL_TOOLS}
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SCHEMAS_FILE.write_text(render(current), encoding="utf-8")
        pytest.skip(f"schemas written to {SCHEMAS_FILE}")
    assert SCHEMAS_FILE.is_file(), "no schemas yet: run python -m shared_client.tools.schemas --write"
    committed = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    changed = sorted(
        name for name in set(committed) | set(current) if committed.get(name) != current.get(name)
    )
    assert not changed, (
        f"tool schemas changed: {changed}. If intended, run python -m shared_client.tools.schemas --write "
        "and commit shared_client/tools/schemas.json"
    )


async def test_the_server_publishes_the_committed_schemas(tool_context: ToolContext) -> None:
    committed = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    assert await published_schemas(tool_context) == committed
