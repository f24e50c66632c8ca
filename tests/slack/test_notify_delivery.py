"""Exactly once: the outbox across a restart, a failing Slack, a post that reached Slack from a process
that died before recording it, and pacing per channel."""

from __future__ import annotations

import asyncio
import logging

import pytest
from notify_support import Clock, Feed, dms, notifier, open_tasks, other_user, started, update
from slack_harness import CHANNEL, Bot, MakeBot
from sqlalchemy import update as sql_update

from slack_bot.notify.notifier import Notifier
from slack_bot.notify.outbox import Outbox
from slack_bot.notify.tables import notify_outbox


@pytest.fixture
async def rig(make_bot: MakeBot) -> tuple[Bot, Feed, Clock]:
    return await started(make_bot)


async def test_a_restart_sends_nothing_again_and_misses_nothing(rig: tuple[Bot, Feed, Clock]) -> None:
    bot, feed, clock = rig
    owner = other_user(bot, "owner@demo.example")
    one, two, three = await open_tasks(bot, 3, avoid=("Sam Rivera",))
    before = notifier(bot, clock)
    await update(owner, task=one.uuid, assignee="Sam Rivera")
    await feed.poll()
    await before(feed.store, feed.fingerprint)
    assert len(dms(bot, "USAM")) == 1
    await update(owner, task=two.uuid, assignee="Sam Rivera")
    await feed.poll()
    await before.plan(feed.store, feed.fingerprint, "T1")  # planned, then the process stops before sending

    after = notifier(bot, clock)  # the bot again, on the same database
    await update(owner, task=three.uuid, assignee="Sam Rivera")  # while it was down
    await feed.poll()
    await after(feed.store, feed.fingerprint)
    sent = dms(bot, "USAM")
    assert len(sent) == 3
    for task, dm in zip((one, two, three), sent, strict=True):
        assert f"#{task.number} " in dm.text_of_blocks() or f"#{task.number}*" in dm.text_of_blocks()
    await after(feed.store, feed.fingerprint)
    await before(feed.store, feed.fingerprint)
    assert len(dms(bot, "USAM")) == 3


async def test_a_failed_post_is_retried_later_then_sent_once(
    rig: tuple[Bot, Feed, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    bot, feed, clock = rig
    run = notifier(bot, clock, retry_delay=5.0, max_attempts=3)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    await update(other_user(bot, "owner@demo.example"), task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    bot.slack.fail["chat.postMessage"] = "internal_error"
    await run(feed.store, feed.fingerprint)
    (row,) = await Outbox(bot.deps.identities.db).rows(task_uuid=task.uuid)
    assert (row.state, row.attempts) == ("pending", 1)
    del bot.slack.fail["chat.postMessage"]
    await run(feed.store, feed.fingerprint)  # not yet: it waits its back-off
    assert bot.slack.posted("USAM") == []
    clock.now += 5.0
    await run(feed.store, feed.fingerprint)
    (posted,) = bot.slack.posted("USAM")
    assert f"#{task.number}" in str(posted["blocks"])
    (row,) = await Outbox(bot.deps.identities.db).rows(task_uuid=task.uuid)
    assert (row.state, row.ts) == ("sent", posted["ts"])
    assert bot.slack.of("conversations.history")  # a retried post is looked for first: it may be there

    (other,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    await update(other_user(bot, "owner@demo.example"), task=other.uuid, assignee="Sam Rivera")
    await feed.poll()
    bot.slack.fail["chat.postMessage"] = "internal_error"
    with caplog.at_level(logging.INFO, logger="slack_bot.notify"):
        for _ in range(3):
            await run(feed.store, feed.fingerprint)
            clock.now += 60.0
    (row,) = await Outbox(bot.deps.identities.db).rows(task_uuid=other.uuid)
    assert (row.state, row.attempts, row.error) == ("failed", 3, "internal_error")
    assert "failed after 3 attempt(s) (internal_error)" in caplog.text
    assert bot.deps.client.token is not None and bot.deps.client.token not in caplog.text


async def test_a_post_that_reached_slack_before_its_process_died_is_not_posted_again(
    rig: tuple[Bot, Feed, Clock],
) -> None:
    bot, feed, clock = rig
    db = bot.deps.identities.db
    await bot.command("subscribe")  # every task, in CHANNEL
    owner = other_user(bot, "owner@demo.example")
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    dead = notifier(bot, clock, lease=120.0)
    await update(owner, task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    await dead(feed.store, feed.fingerprint)
    await update(owner, task=task.uuid, priority="critical")
    await feed.poll()
    await dead(feed.store, feed.fingerprint)
    (dm,) = bot.slack.posted("USAM")
    (card,) = bot.slack.posted(CHANNEL)
    (reply,) = bot.slack.posted(CHANNEL, thread_ts=card["ts"])
    # As if the process had died after each post and before recording it.
    async with db.begin() as conn:
        await conn.execute(
            sql_update(notify_outbox).values(
                state="sending", ts=None, claimed_at=clock.now, claimed_by="dead"
            )
        )
    mark = bot.slack.mark()
    revived = notifier(bot, clock, lease=120.0)
    await revived(feed.store, feed.fingerprint)
    assert bot.slack.calls[mark:] == []  # its lease holds: the other process may be alive
    clock.now += 121.0
    await revived(feed.store, feed.fingerprint)
    assert [c for c in bot.slack.of("chat.postMessage") if c.index >= mark] == []
    assert {c.method for c in bot.slack.calls[mark:]} >= {"conversations.history", "conversations.replies"}
    rows = {r.channel + (r.mode or ""): r for r in await Outbox(db).rows(task_uuid=task.uuid)}
    assert {r.state for r in rows.values()} == {"sent"}
    assert {r.ts for r in rows.values()} == {dm["ts"], card["ts"], reply["ts"]}


async def test_posts_to_one_channel_are_paced_not_dropped(rig: tuple[Bot, Feed, Clock]) -> None:
    bot, feed, clock = rig
    await bot.command("subscribe events:priority")
    owner = other_user(bot, "owner@demo.example")
    tasks = await open_tasks(bot, 3, avoid=())
    for task in tasks:
        await update(owner, task=task.uuid, priority="critical" if task.priority != "critical" else "low")
    await feed.poll()
    paced = notifier(bot, clock)
    paced.pace = 1.0
    start = clock.now
    await paced(feed.store, feed.fingerprint)
    assert len(bot.slack.posted(CHANNEL)) == 3
    assert clock.slept == [1.0, 1.0] and clock.now == start + 2.0


async def test_sent_notifications_are_forgotten_after_the_retention(rig: tuple[Bot, Feed, Clock]) -> None:
    bot, feed, clock = rig
    run = notifier(bot, clock, retention=86400.0)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    await update(other_user(bot, "owner@demo.example"), task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    outbox = Outbox(bot.deps.identities.db)
    assert [r.state for r in await outbox.rows(task_uuid=task.uuid)] == ["sent"]
    clock.now += 86400.0 + 3600.0
    await run(feed.store, feed.fingerprint)
    assert await outbox.rows(task_uuid=task.uuid) == []
    assert len(dms(bot, "USAM")) == 1  # and nothing sent again


async def test_a_replica_stopped_mid_send_finishes_that_post_and_records_it(
    rig: tuple[Bot, Feed, Clock],
) -> None:
    """SIGTERM cancels the bot's tasks: a post it has begun still goes out once and is recorded, so another
    replica neither waits out the claim's lease nor posts it again."""
    bot, feed, clock = rig
    await bot.command("subscribe events:priority")
    owner = other_user(bot, "owner@demo.example")
    tasks = await open_tasks(bot, 2, avoid=())
    for task in tasks:
        await update(owner, task=task.uuid, priority="critical" if task.priority != "critical" else "low")
    await feed.poll()
    pacing, go_on = asyncio.Event(), asyncio.Event()

    async def held_sleep(seconds: float) -> None:  # the pause between two posts to the channel
        pacing.set()
        await go_on.wait()

    stopping = Notifier(bot.deps, team_id="T1", clock=clock, sleep=held_sleep, pace=1.0)
    running = asyncio.ensure_future(stopping(feed.store, feed.fingerprint))
    async with asyncio.timeout(10):
        await pacing.wait()  # the second post is claimed and waits its turn
        running.cancel()  # the replica is told to stop
        await asyncio.sleep(0)
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert len(bot.slack.posted(CHANNEL)) == 2
    rows = await Outbox(bot.deps.identities.db).rows(channel=CHANNEL)
    assert {r.state for r in rows} == {"sent"}
    await notifier(bot, clock)(feed.store, feed.fingerprint)  # another replica: nothing left to send
    assert len(bot.slack.posted(CHANNEL)) == 2


async def test_a_members_dm_goes_out_before_channels_posts(rig: tuple[Bot, Feed, Clock]) -> None:
    """Channels are sent a slot each; a DM is never left waiting behind their floods."""
    bot, feed, clock = rig
    await bot.command("subscribe events:assigned")
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    await update(other_user(bot, "owner@demo.example"), task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    mark = bot.slack.mark()
    await notifier(bot, clock, concurrency=1)(feed.store, feed.fingerprint)
    posts = [c.args.get("channel") for c in bot.slack.calls[mark:] if c.method == "chat.postMessage"]
    assert posts == ["USAM", CHANNEL]
