"""Fixtures for the Slack bot tests (the harness is in slack_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from slack_harness import Bot, MakeBot, start_bot

from slack_bot.store import Database, open_database, sqlite_url


@pytest.fixture
async def make_bot(tmp_path: Path) -> AsyncIterator[MakeBot]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(**options: Any) -> Bot:
        return await start_bot(tmp_path, cleanups, **options)

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def bot(make_bot: MakeBot) -> Bot:
    return await make_bot()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """The bot's database in an SQLite file of this test's own."""
    db = await open_database(sqlite_url(tmp_path / "slack.sqlite3"))
    yield db
    await db.aclose()
