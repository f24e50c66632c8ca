"""A bad prompt request (unknown prompt, missing or unknown argument, bad task reference) is answered as
invalid params with the message a tool would give, in memory and over HTTP; it is logged at INFO, with no
traceback and nothing at ERROR."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from http_support import serving
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from server.app import HANDOVER_PROMPT, TRIAGE_PROMPT, build_server
from shared_client.tools import ToolContext

BAD_REQUESTS: list[tuple[str, dict[str, str], str]] = [
    (HANDOVER_PROMPT, {}, "task: is required"),
    (
        "summarise_task",
        {},
        f"Unknown prompt 'summarise_task'; the prompts are {HANDOVER_PROMPT}, {TRIAGE_PROMPT}",
    ),
    (HANDOVER_PROMPT, {"task": "#1", "tsak": "#1"}, "tsak: is not an argument of this prompt"),
    (TRIAGE_PROMPT, {"assignee": "me"}, "assignee: is not an argument of this prompt"),
    (
        HANDOVER_PROMPT,
        {"task": "the blue one"},
        "task: use a task number like '#123' or '123', or a task uuid",
    ),
]


@contextlib.asynccontextmanager
async def connected(tool_context: ToolContext, transport: str, mode: str) -> AsyncIterator[Client]:
    server = build_server(tool_context)
    if transport == "memory":
        async with Client(server, mode=mode) as client:
            yield client
        return
    async with serving(server) as url, Client(url, mode=mode) as client:
        yield client


@pytest.mark.parametrize("transport", ["memory", "http"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_bad_prompt_requests_are_invalid_params(
    tool_context: ToolContext, caplog: pytest.LogCaptureFixture, transport: str, mode: str
) -> None:
    caplog.set_level(logging.INFO)
    async with connected(tool_context, transport, mode) as client:
        for name, arguments, expected in BAD_REQUESTS:
            with pytest.raises(MCPError) as raised:
                await client.get_prompt(name, arguments)
            error: Any = raised.value.error
            assert error.code == INVALID_PARAMS, (name, arguments, error)
            assert error.message.startswith(expected), (name, arguments, error)
        assert (await client.get_prompt(HANDOVER_PROMPT, {"task": "#1"})).messages  # still serving
    refusals = [r for r in caplog.records if r.name == "server.app" and "refused" in r.getMessage()]
    assert len(refusals) == len(BAD_REQUESTS)
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in refusals)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
