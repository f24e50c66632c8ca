"""Adversarial review of the notifications (issue 13): what Slack, an operator or a member could do to
them, through the real harness (signed requests, the mock Slack Web API, the sandbox, SQLite)."""

from __future__ import annotations

import pytest
from notify_support import Clock, Feed, notifier, open_tasks, other_user, started, update
from slack_harness import CHANNEL, TEAM, Bot, MakeBot

from slack_bot.notify.outbox import Outbox
from slack_bot.notify.subscriptions import SubscriptionStore


@pytest.fixture
async def rig(make_bot: MakeBot) -> tuple[Bot, Feed, Clock]:
    return await started(make_bot)


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


async def test_a_member_unlinked_since_joining_a_group_is_not_dmed_its_tasks(
    rig: tuple[Bot, Feed, Clock],
) -> None:
    """``/task groups join`` needs an identity; an admin's ``/task unlink`` takes it away. The group's
    tasks (their cards, notes, customers' objects) must not go on reaching the unlinked member."""
    bot, feed, clock = rig
    for member in ("UPRIYA", "USAM"):
        await bot.deps.identities.join(TEAM, member, 203)  # Fraud Review
    reply, _ = await bot.command("unlink <@USAM|sam>", user="UOWNER")
    assert reply.status == 200
    assert await bot.deps.identities.get(TEAM, "USAM") is None
    run = notifier(bot, clock)
    (task,) = await open_tasks(bot, 1, avoid=("Fraud Review",))
    await update(other_user(bot, "owner@demo.example"), task=task.uuid, assignee="group:Fraud Review")
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    (dm,) = bot.slack.posted("UPRIYA")
    assert "your group *Fraud Review*" in str(dm["blocks"])
    assert bot.slack.posted("USAM") == []


async def test_a_post_whose_answer_was_lost_is_not_posted_twice(rig: tuple[Bot, Feed, Clock]) -> None:
    """The connection drops after Slack posted the DM and before its answer: the post must be looked for
    (its metadata names it) before it is made again, not re-sent blindly by the Slack client."""
    bot, feed, clock = rig
    run = notifier(bot, clock, retry_delay=5.0)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    await update(other_user(bot, "owner@demo.example"), task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    bot.slack.drop["chat.postMessage"] = 1
    for _ in range(3):
        await run(feed.store, feed.fingerprint)
        clock.now += 60.0
    assert bot.slack.drop["chat.postMessage"] == 0
    assert len(bot.slack.posted("USAM")) == 1, "the DM was posted twice"
    (row,) = await Outbox(bot.deps.identities.db).rows(task_uuid=task.uuid)
    assert row.state == "sent" and row.ts == bot.slack.posted("USAM")[0]["ts"]


@pytest.mark.parametrize("which", ["²", "1" * 5000, "٣"])
async def test_unsubscribe_with_a_number_python_cannot_read_is_a_usage_error(
    rig: tuple[Bot, Feed, Clock], which: str
) -> None:
    """``str.isdigit`` accepts superscripts and other scripts' digits that ``int`` refuses (and Python
    refuses more than 4,300 digits): the member gets the usage, not "something went wrong"."""
    bot, _, _ = rig
    await bot.command("subscribe")
    reply, name = await bot.command(f"unsubscribe {which}")
    assert reply.status == 200
    told = str((await bot.response(name)).args)
    assert "Something went wrong" not in told and ":warning:" in told, told[:300]
    (kept,) = await SubscriptionStore(bot.deps.identities.db).of_channel(TEAM, CHANNEL)
    assert kept.created_by == "UALICE"


@pytest.mark.parametrize("words", ["assignee:²", "group:²", "created_by:²", "created_by:" + "1" * 5000])
async def test_a_subscription_filter_with_digits_python_cannot_read_is_refused_clearly(
    rig: tuple[Bot, Feed, Clock], words: str
) -> None:
    bot, _, _ = rig
    reply, name = await bot.command(f"subscribe {words}")
    assert reply.status == 200
    told = str((await bot.response(name)).args)
    assert "Something went wrong" not in told, told[:300]
    assert await SubscriptionStore(bot.deps.identities.db).of_channel(TEAM, CHANNEL) == []
