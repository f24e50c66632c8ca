"""Adversarial review of list_recent_changes (issue 13): windows at the edges of time, odd limits and
cursors, a change feed that cannot answer; on the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from tool_support import Tools

from shared_client.tools import ToolError


@pytest.mark.parametrize(
    "args",
    [
        {"since": "1900-01-01"},
        {"since": "1969-12-31T23:59:59Z", "limit": 1},
        {"since": "2999-01-01"},
        {"until": "9999-12-31"},
        {"since": "2000-01-01", "until": "9999-12-31", "limit": 1},
        {"limit": 10**9},
        {"limit": 0},
        {"limit": -1},
    ],
)
async def test_windows_and_limits_at_the_edges(tools: Tools, args: dict[str, Any]) -> None:
    """Before 1970, centuries ahead, a window to 9999, a page size of a billion, zero or below: an answer
    (whose cursor goes on with the same window) or one clear line, never a crash."""
    try:
        out = await tools.run("list_recent_changes", args)
    except ToolError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400, str(exc)
        return
    if out.get("next_cursor"):
        more = await tools.run("list_recent_changes", {**args, "cursor": out["next_cursor"]})
        assert more["since"] == out["since"]
