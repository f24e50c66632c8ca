"""Attacks on "each Events API event handled once, by one replica": a claimant that dies before
answering, a prune that fails after the claim was won. Slack stops retrying at the first 2xx it gets, and
its first retry comes at once (then a minute later, then five)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from slack_harness import Bot
from sqlalchemy.ext.asyncio import create_async_engine

from slack_bot.event_log import EventLog
from slack_bot.identity import IdentityStore
from slack_bot.store import Database, DatabaseUnavailable, open_database, sqlite_url


async def test_a_claimant_that_died_before_answering_does_not_lose_the_event(bot: Bot) -> None:
    now = [1_700_000_000.0]
    bot.deps.events = EventLog(bot.deps.identities.db, clock=lambda: now[0], stale_after=30)
    body = bot.event_body({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
    event_id = json.loads(body)["event_id"]
    assert await bot.deps.events.claim(event_id, "T1")  # replica A claimed it, then died before answering
    soon = await bot.event(body, retry_num=1)  # Slack's immediate retry, to replica B
    # Not handled here (A may be at work), and not a 2xx: a 2xx would end Slack's retries for good.
    assert soon.status >= 500 and "x-slack-no-retry" not in soon.headers
    assert not bot.slack.of("views.publish")
    now[0] += 60
    later = await bot.event(body, retry_num=2)  # the retry a minute later, which Slack now sends
    assert later.status == 200
    await bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "UALICE")


async def test_a_retry_of_a_handled_event_ends_slacks_retries(bot: Bot) -> None:
    done = asyncio.Event()
    handled = bot.deps.events.handled

    async def mark(event_id: str) -> None:
        await handled(event_id)
        done.set()

    bot.deps.events.handled = mark  # type: ignore[method-assign]
    body = bot.event_body({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
    assert (await bot.event(body)).status == 200
    await asyncio.wait_for(done.wait(), timeout=10)
    again = await bot.event(body, retry_num=1)
    assert again.status == 200 and again.headers.get("x-slack-no-retry") == "1"
    assert len(bot.slack.of("views.publish")) == 1


class FailingPrune(EventLog):
    async def prune(self, now: float | None = None) -> int:
        raise DatabaseUnavailable("UC_WORKFLOW_DATABASE_URL", OSError("connection reset"))


async def test_a_prune_that_fails_never_fails_the_claim_it_follows(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    log = FailingPrune(database)
    with caplog.at_level(logging.WARNING, logger="slack_bot.event_log"):
        # Won: failing now would answer Slack 500 with the event claimed, and drop its retries.
        assert await log.claim("EvPrune", "T1")
    assert any("could not prune" in r.getMessage() for r in caplog.records)
    assert not await log.claim("EvPrune", "T1")
    assert not await log.is_handled("EvPrune")
    await log.handled("EvPrune")
    assert await log.is_handled("EvPrune")


async def test_every_connection_busy_is_the_database_not_answering_not_an_unexpected_error(
    tmp_path: Path,
) -> None:
    db = await open_database(sqlite_url(tmp_path / "slack.sqlite3"))
    await db.engine.dispose()
    # A pool of one, as when a burst of listeners holds every connection of a replica's pool.
    db.engine = create_async_engine(db.url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    try:
        async with db.engine.connect():
            with pytest.raises(DatabaseUnavailable) as caught:
                await IdentityStore(db).get("T1", "UALICE")
            with pytest.raises(DatabaseUnavailable):
                await EventLog(db).claim("Ev1", "T1")
        assert caught.value.cause == "TimeoutError"
    finally:
        await db.aclose()
