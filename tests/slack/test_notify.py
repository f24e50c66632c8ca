"""DMs from the change feed: the real bot's pieces (its database, the mock Slack Web API, the sandbox), the
feed's own store, and changes made by other UltraCart users straight on the sandbox's REST API."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from notify_support import Clock, Feed, dms, note, notifier, open_tasks, other_user, update
from slack_harness import TEAM, Bot, MakeBot

from shared_client.feed.lease import FileLease
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.runner import FeedRunner
from shared_client.feed.store import FeedStore
from shared_client.models import WorkflowUser
from slack_bot.keys import KeyVault
from slack_bot.notify.notifier import Notifier
from slack_bot.notify.outbox import Outbox


@pytest.fixture
async def rig(make_bot: MakeBot) -> tuple[Bot, Feed, Clock]:
    bot = await make_bot()
    clock = Clock()
    store = FeedStore(bot.deps.identities.db)
    feed = Feed(bot, store, clock)
    await feed.poll()  # the baseline
    return bot, feed, clock


async def test_a_task_assigned_by_another_user_reaches_the_linked_and_the_connected_member(
    rig: tuple[Bot, Feed, Clock],
) -> None:
    bot, feed, clock = rig
    # Tom connected his own key (UltraCart user 1005, Marcus Lee's).
    vault = KeyVault(bot.deps.identities.db, Fernet.generate_key().decode())
    await vault.save(TEAM, "UTOM", "user:marcus@demo.example", WorkflowUser(user_id=1005, user="Marcus Lee"))
    bot.deps.connected_members = vault.connected_members
    first = notifier(bot, clock)
    await first(feed.store, feed.fingerprint)  # starts at the feed's newest change: nothing old is sent
    assert bot.slack.of("chat.postMessage") == []

    sam = other_user(bot, "sam@demo.example")
    for_alice, for_marcus = await open_tasks(bot, 2, avoid=("Alice Carter", "Marcus Lee"))
    await update(sam, task=for_alice.uuid, assignee="Alice Carter")
    await update(sam, task=for_marcus.uuid, assignee="Marcus Lee", priority="high")
    await feed.poll()
    await first(feed.store, feed.fingerprint)

    (alice,) = dms(bot, "UALICE")
    assert f"#{for_alice.number}" in alice.text_of_blocks()
    assert "This task was assigned to you" in alice.text_of_blocks()
    assert alice.args["metadata"]["event_type"] == "uc_workflow_notification"
    (tom,) = dms(bot, "UTOM")  # one message for the assignment and the priority of one version
    assert f"#{for_marcus.number}" in tom.text_of_blocks() and "priority" in tom.text_of_blocks()
    assert any(b.get("type") == "actions" for b in tom.blocks)  # the card's buttons
    assert {c.args["channel"] for c in bot.slack.of("chat.postMessage")} == {"UALICE", "UTOM"}

    await first(feed.store, feed.fingerprint)  # again: nothing new
    assert len(bot.slack.of("chat.postMessage")) == 2


async def test_a_group_assignment_reaches_the_members_of_the_group(rig: tuple[Bot, Feed, Clock]) -> None:
    bot, feed, clock = rig
    for member in ("UPRIYA", "USAM"):
        await bot.deps.identities.join(TEAM, member, 203)  # Fraud Review
    run = notifier(bot, clock)
    await run(feed.store, feed.fingerprint)
    (task,) = await open_tasks(bot, 1, avoid=("Fraud Review",))
    await update(other_user(bot, "owner@demo.example"), task=task.uuid, assignee="group:Fraud Review")
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    for member in ("UPRIYA", "USAM"):
        (dm,) = dms(bot, member)
        assert "your group *Fraud Review*" in dm.text_of_blocks()
    assert dms(bot, "UALICE") == []


async def test_a_task_that_becomes_overdue_reaches_its_assignee(rig: tuple[Bot, Feed, Clock]) -> None:
    bot, feed, clock = rig
    run = notifier(bot, clock)
    await run(feed.store, feed.fingerprint)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    alice = other_user(bot, "alice@demo.example")
    await update(alice, task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    assert len(dms(bot, "USAM")) == 1  # the assignment
    mark = bot.slack.mark()
    await update(alice, task=task.uuid, due="2020-01-01")  # its due date has passed
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    (dm,) = dms(bot, "USAM", after=mark)
    assert "This task of yours is overdue (due 2020-01-01)" in dm.text_of_blocks()
    assert f"#{task.number}" in dm.text_of_blocks()
    await feed.poll()  # still overdue: not again
    await run(feed.store, feed.fingerprint)
    assert dms(bot, "USAM", after=mark) == [dm]


async def test_nobody_hears_of_their_own_change_from_slack(rig: tuple[Bot, Feed, Clock]) -> None:
    bot, feed, clock = rig
    run = notifier(bot, clock)
    await run(feed.store, feed.fingerprint)
    (task,) = await open_tasks(bot, 1, avoid=("Alice Carter",))
    _, name = await bot.command(f"assign #{task.number} me", user="UALICE")
    assert "Alice" in (await bot.response(name)).text_of_blocks()
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    assert dms(bot, "UALICE") == []
    assert (await Outbox(bot.deps.identities.db).rows(task_uuid=task.uuid)) == []


async def test_the_dm_of_a_reassignment_from_slack_is_not_sent_twice(rig: tuple[Bot, Feed, Clock]) -> None:
    bot, feed, clock = rig
    run = notifier(bot, clock)
    await run(feed.store, feed.fingerprint)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    _, name = await bot.command(f"assign #{task.number} <@USAM|sam>", user="UALICE")
    await bot.response(name)
    immediate = await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "USAM")
    assert "<@UALICE> assigned you this task" in immediate.text_of_blocks()
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    assert dms(bot, "USAM") == [immediate]
    (row,) = await Outbox(bot.deps.identities.db).rows(task_uuid=task.uuid)
    assert row.state == "sent" and row.channel == "USAM"


async def test_a_note_by_another_user_on_my_task_is_no_dm_but_an_assignment_is(
    rig: tuple[Bot, Feed, Clock],
) -> None:
    bot, feed, clock = rig
    run = notifier(bot, clock)
    await run(feed.store, feed.fingerprint)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    alice = other_user(bot, "alice@demo.example")
    await note(alice, task.uuid, "Called the customer")
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    assert bot.slack.of("chat.postMessage") == []  # DMs are for assignments and overdue tasks
    await update(alice, task=task.uuid, assignee="Sam Rivera")
    await feed.poll()
    await run(feed.store, feed.fingerprint)
    assert len(dms(bot, "USAM")) == 1


async def test_through_the_feed_runner_a_dm_arrives_within_one_round_and_nothing_of_the_past(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot()
    store = FeedStore(bot.deps.identities.db)
    feed = ChangeFeed(bot.ctx.client, store, interval=60.0, leader="test")
    lease = FileLease(tmp_path, feed.fingerprint)
    sam = other_user(bot, "sam@demo.example")
    old, new = await open_tasks(bot, 2, avoid=("Alice Carter",))
    before = FeedRunner(feed, lease)  # a feed without the notifier (an older deployment)
    assert (await before.run_round()).result.baseline  # type: ignore[union-attr]
    await update(sam, task=old.uuid, assignee="Alice Carter")
    assert (await before.run_round()).result.changes  # type: ignore[union-attr]

    runner = FeedRunner(feed, lease, consumers=[Notifier(bot.deps, pace=0.0)])  # its team from auth.test
    await runner.run_round()
    assert bot.slack.of("chat.postMessage") == []  # the notifier's first round: nothing of the past
    await update(sam, task=new.uuid, assignee="Alice Carter")
    outcome = await runner.run_round()
    assert outcome.leader and outcome.result is not None and outcome.result.changes
    (dm,) = dms(bot, "UALICE")
    assert f"#{new.number}" in dm.text_of_blocks()
    await lease.release()
