"""Every tool's input and output schema, as the MCP server publishes them, is committed in
snapshots/tools.json so a schema change shows in review.

Regenerate after an intended change:  UPDATE_SNAPSHOTS=1 pytest tests/mcp
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import build_server
from shared_client.tools import ALL_TOOLS, ToolContext

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"


async def published_schemas(context: ToolContext) -> dict[str, Any]:
    async with Client(build_server(context)) as client:
        listed = await client.list_tools()
    return {
        tool.name: {"input": tool.input_schema, "output": tool.output_schema}
        for tool in sorted(listed.tools, key=lambda t: t.name)
    }


async def test_schemas_match_snapshot(tool_context: ToolContext) -> None:
    current = await published_schemas(tool_context)
    assert set(current) == {t.name for t in ALL_TOOLS}
    rendered = json.dumps(current, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(rendered, encoding="utf-8")
        pytest.skip(f"snapshot written to {SNAPSHOT}")
    assert SNAPSHOT.is_file(), f"no snapshot yet: run UPDATE_SNAPSHOTS=1 pytest {Path(__file__).parent}"
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    changed = sorted(
        name for name in set(committed) | set(current) if committed.get(name) != current.get(name)
    )
    assert not changed, (
        f"tool schemas changed: {changed}. If intended, run UPDATE_SNAPSHOTS=1 pytest tests/mcp and commit "
        f"{SNAPSHOT.relative_to(Path(__file__).parents[2])}"
    )


async def test_published_schema_is_the_input_models_schema(tool_context: ToolContext) -> None:
    """No schema is invented in the server: it is the registry model's own."""
    current = await published_schemas(tool_context)
    for tool in ALL_TOOLS:
        assert current[tool.name]["input"] == tool.input_model.model_json_schema()
        assert current[tool.name]["output"] == tool.output_model.model_json_schema(mode="serialization")
        assert current[tool.name]["input"].get("additionalProperties") is False, tool.name
