"""Fixtures for the MCP server tests: a fresh sandbox database per test, a ToolContext on it, and the
environment a subprocess needs to run on the sandbox (never on UltraCart)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared_client.factory import build_backend
from shared_client.settings import Settings
from shared_client.tools import ToolContext


def sandbox_environment(db_path: Path) -> dict[str, str]:
    """os.environ without UltraCart credentials or an MCP token, pointed at the sandbox."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ULTRACART_") and k not in ("UC_WORKFLOW_MCP_TOKEN", "UC_WORKFLOW_SANDBOX_DB")
    }
    env["UC_WORKFLOW_SANDBOX"] = "1"
    env["UC_WORKFLOW_SANDBOX_DB"] = str(db_path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def sandbox_env(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = sandbox_environment(db_path)
    for key in list(os.environ):
        if key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Settings also reads ./.env: run from an empty directory.
    monkeypatch.chdir(db_path.parent)
    return env


@pytest.fixture
async def tool_context(sandbox_env: dict[str, str]) -> AsyncIterator[ToolContext]:
    backend = build_backend(Settings(), force_sandbox=True)
    try:
        yield ToolContext(backend.client, sandbox=backend.sandbox, description=backend.description)
    finally:
        await backend.client.aclose()
