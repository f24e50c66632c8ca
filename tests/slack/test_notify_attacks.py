"""Adversarial review of the notifications (issue 13): what Slack, an operator or a member could do to
them, through the real harness (signed requests, the mock Slack Web API, the sandbox, SQLite)."""

from __future__ import annotations

import pytest
from notify_support import Clock, Feed, notifier, open_tasks, other_user, update
from slack_harness import Bot, MakeBot

from shared_client.feed.store import FeedStore
from slack_bot.notify.outbox import Outbox


@pytest.fixture
async def rig(make_bot: MakeBot) -> tuple[Bot, Feed, Clock]:
    bot = await make_bot()
    clock = Clock()
    feed = Feed(bot, FeedStore(bot.deps.identities.db), clock)
    await feed.poll()  # the baseline
    await notifier(bot, clock)(feed.store, feed.fingerprint)  # the cursor starts here
    return bot, feed, clock


async def test_slack_rate_limiting_delays_a_dm_but_never_drops_it(rig: tuple[Bot, Feed, Clock]) -> None:
    """Slack answering 429 ``ratelimited`` (past the client's own retries) is Slack's pacing, not a failed
    post: it must not use up the bounded attempts, or a busy workspace loses its notifications."""
    bot, feed, clock = rig
    run = notifier(bot, clock, retry_delay=5.0, max_attempts=2)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    await update(other_user(bot, "owner@demo.example"), task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    bot.slack.rate_limit["chat.postMessage"] = 8  # two tries of the client's 1 + 3 retries each
    for _ in range(2):
        await run(feed.store, feed.fingerprint)
        clock.now += 60.0
    assert bot.slack.rate_limit["chat.postMessage"] == 0
    (row,) = await Outbox(bot.deps.identities.db).rows(task_uuid=task.uuid)
    assert row.state == "pending", (row.state, row.attempts, row.error)
    await run(feed.store, feed.fingerprint)
    (posted,) = bot.slack.posted("USAM")
    assert f"#{task.number}" in str(posted["blocks"])
    (row,) = await Outbox(bot.deps.identities.db).rows(task_uuid=task.uuid)
    assert row.state == "sent"
