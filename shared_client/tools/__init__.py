"""The registry: one flat list of every tool, and one filter (read-only, toolsets).

Read-only is the tool's own annotation; there are no parallel lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared_client.tools.attachments import ATTACHMENT_TOOLS
from shared_client.tools.base import TOOLSETS, Hints, InputModel, OutputModel, Tool, ToolError, ToolInputError
from shared_client.tools.context import PeopleDirectory, ToolContext
from shared_client.tools.people import PEOPLE_TOOLS
from shared_client.tools.tasks import TASK_TOOLS

__all__ = [
    "ALL_TOOLS",
    "TOOLSETS",
    "Hints",
    "InputModel",
    "OutputModel",
    "PeopleDirectory",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolInputError",
    "get_tool",
    "select_tools",
]

ALL_TOOLS: tuple[Tool, ...] = (*PEOPLE_TOOLS, *TASK_TOOLS, *ATTACHMENT_TOOLS)  # type: ignore[type-arg]


def select_tools(*, read_only: bool = False, toolsets: Iterable[str] | None = None) -> list[Tool]:  # type: ignore[type-arg]
    """The tools to serve: only read-only ones under ``read_only``; only the named toolsets if given."""
    wanted = set(toolsets) if toolsets is not None else set(TOOLSETS)
    unknown = wanted - set(TOOLSETS)
    if unknown:
        raise ValueError(f"unknown toolset(s) {', '.join(sorted(unknown))}; use {', '.join(TOOLSETS)}")
    return [t for t in ALL_TOOLS if t.toolset in wanted and (t.read_only or not read_only)]


def get_tool(name: str) -> Tool:  # type: ignore[type-arg]
    for tool in ALL_TOOLS:
        if tool.name == name:
            return tool
    raise KeyError(name)
