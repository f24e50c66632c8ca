"""The compose file of "Running for a team" names only settings and commands that exist."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from shared_client.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_every_setting_in_the_compose_file_is_one_we_read() -> None:
    environment = compose()["x-uc-workflow"]["environment"]
    fields = {name.upper() for name in Settings.model_fields}
    assert set(environment) <= fields, set(environment) - fields
    # The team setup: shared gate and caches in Redis, the bot's state in PostgreSQL.
    assert environment["UC_WORKFLOW_REDIS_URL"].startswith("redis://")
    assert environment["UC_WORKFLOW_DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_every_command_in_the_compose_file_is_one_we_install() -> None:
    scripts = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]["scripts"]
    services = compose()["services"]
    for name in ("mcp", "slack"):
        command = services[name]["command"]
        assert command[0] in scripts
        assert services[name]["deploy"]["replicas"] >= 2  # replicas behind one address
    # Off loopback the MCP server requires its token.
    assert "--host" in services["mcp"]["command"]
    assert "UC_WORKFLOW_MCP_TOKEN" in compose()["x-uc-workflow"]["environment"]
