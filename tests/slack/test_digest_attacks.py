"""Adversarial review of the daily digest (issue 13): clocks, replicas and workspaces that could make it
go missing, go twice or go to the wrong place; through the real harness (signed ``/task digest``, the mock
Slack Web API, a real SQLite database, the feed's store and an injected clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from slack_harness import Bot
from sqlalchemy import update
from test_digest import FP, Clock, command, dms, feed_of, poll, set_zone, task, utc, with_clock

from slack_bot.digest.store import digest_settings
from slack_bot.identity import LINK


async def test_a_2359_digest_is_sent_when_the_polls_straddle_midnight(bot: Bot) -> None:
    """The digest runs after each poll; a poll at 23:58:30 and the next at 00:00:30 (a 60 s interval, a
    slower one when the budget is tight) must not skip that day's 23:59 digest altogether."""
    clock = Clock(utc("2026-12-01T08:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    set_zone(bot, "UALICE", "UTC", 0)
    assert "today at 23:59" in await command(bot, "digest 23:59")
    await poll(store, [task(40, user=1002, due=utc("2026-11-30T12:00:00"))], at=clock.now)
    clock.now = utc("2026-12-01T23:58:30")
    await digests(store, FP)
    assert dms(bot, "UALICE") == []
    clock.now = utc("2026-12-02T00:00:30")
    await digests(store, FP)
    [late] = dms(bot, "UALICE")
    assert "Tuesday 1 December" in late.args["text"]  # the day it was for
    clock.now = utc("2026-12-02T00:01:30")
    await digests(store, FP)
    clock.now = utc("2026-12-02T23:59:00")  # and the next day's, once
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 2


async def test_a_digest_turned_on_just_after_midnight_does_not_send_yesterdays(bot: Bot) -> None:
    clock = Clock(utc("2026-12-02T00:05:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    set_zone(bot, "UALICE", "UTC", 0)
    await poll(store, [task(41, user=1002, due=utc("2026-11-30T12:00:00"))], at=clock.now)
    assert "today at 23:59" in await command(bot, "digest 23:59")
    await digests(store, FP)
    assert dms(bot, "UALICE") == []


async def test_a_digest_posted_by_a_replica_that_died_before_recording_it_is_not_sent_again(
    bot: Bot,
) -> None:
    clock = Clock(utc("2026-12-01T08:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    set_zone(bot, "UALICE", "UTC", 0)
    await command(bot, "digest on")
    await poll(store, [task(42, user=1002, due=utc("2026-11-30T12:00:00"))], at=clock.now)
    settings = bot.deps.digest_settings
    recorded = settings.sent

    async def died(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("the replica died after posting, before recording it")

    settings.sent = died  # type: ignore[method-assign]
    clock.now = utc("2026-12-01T09:00:00")
    with pytest.raises(SystemExit):
        await digests(store, FP)
    settings.sent = recorded  # type: ignore[method-assign]
    assert len(dms(bot, "UALICE")) == 1
    clock.now = utc("2026-12-01T09:10:00")  # past the retry delay: another replica takes it over
    await digests(store, FP)
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 1, "the digest went out twice"
    clock.now = utc("2026-12-02T09:00:00")  # the next day's is sent
    await digests(store, FP)
    assert len(dms(bot, "UALICE")) == 2


async def test_a_digest_setting_of_another_workspace_is_not_served_with_this_ones_key(bot: Bot) -> None:
    """Two workspaces' bots may share one database (every table is keyed by team): a member's digest of
    workspace T2 must not be built from this bot's UltraCart feed nor sent with its token."""
    clock = Clock(utc("2026-12-01T08:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    await poll(store, [task(43, user=1002, due=utc("2026-11-30T12:00:00"))], at=clock.now)
    settings = bot.deps.digest_settings
    await bot.deps.identities.set("T2", "UALICE", 1002, LINK)  # user 1002 of T2's UltraCart account
    await settings.turn_on("T2", "UALICE", zone="UTC", at=(9, 0))
    clock.now = utc("2026-12-01T09:00:00")
    await digests(store, FP)
    assert dms(bot, "UALICE") == []
    async with bot.deps.identities.db.connect() as conn:
        (row,) = (await conn.execute(digest_settings.select())).all()
    assert row.last_date is None  # left for T2's own bot


async def test_a_digest_whose_answer_was_lost_is_not_sent_twice(bot: Bot) -> None:
    """Slack posted the digest and the connection dropped before its answer."""
    clock = Clock(utc("2026-12-01T08:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    set_zone(bot, "UALICE", "UTC", 0)
    await command(bot, "digest on")
    await poll(store, [task(44, user=1002, due=utc("2026-11-30T12:00:00"))], at=clock.now)
    bot.slack.drop["chat.postMessage"] = 1
    for minute in (0, 6, 12):
        clock.now = utc("2026-12-01T09:00:00") + timedelta(minutes=minute)
        await digests(store, FP)
    assert bot.slack.drop["chat.postMessage"] == 0
    assert len(bot.slack.posted("UALICE")) == 1, "the digest went out twice"


async def test_a_stored_time_zone_that_is_no_zone_falls_back_to_utc_and_stops_nobody_else(bot: Bot) -> None:
    """A zone name the tz database does not hold as a zone (a directory such as ``America``, a hand-edited
    or too long name, an offset past 24 hours) must not stop every member's digest."""
    clock = Clock(utc("2026-12-01T08:00:00"))
    digests = with_clock(bot, clock)
    store = feed_of(bot, clock)
    set_zone(bot, "UALICE", "UTC", 0)
    set_zone(bot, "USAM", "UTC", 0)
    await command(bot, "digest on", user="UALICE")
    await command(bot, "digest on", user="USAM")
    await poll(
        store,
        [
            task(45, user=1002, due=utc("2026-11-30T12:00:00")),
            task(46, user=1003, due=utc("2026-11-30T12:00:00")),
        ],
        at=clock.now,
    )
    for bad in ("America", "UTC+99:99", "Europe/" + "x" * 300):
        async with bot.deps.identities.db.begin() as conn:
            await conn.execute(
                update(digest_settings).where(digest_settings.c.slack_user_id == "UALICE").values(zone=bad)
            )
        assert "UTC" in await command(bot, "digest", user="UALICE")
    clock.now = utc("2026-12-01T09:00:00")
    await digests(store, FP)
    assert len(bot.slack.posted("UALICE")) == 1  # in UTC
    assert len(bot.slack.posted("USAM")) == 1
