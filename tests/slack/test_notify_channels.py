"""Channel subscriptions: `/task subscribe`, then the change feed's changes (made by other UltraCart users
on the sandbox's REST API) posted as one card per task and replies in its thread."""

from __future__ import annotations

import pytest
from notify_support import Clock, Feed, note, notifier, open_tasks, other_user, update
from slack_harness import CHANNEL, Bot, MakeBot

from shared_client.feed.store import FeedStore
from slack_bot.notify.notifier import Notifier

OTHER_CHANNEL = "C0OTHER"


@pytest.fixture
async def rig(make_bot: MakeBot) -> tuple[Bot, Feed, Notifier]:
    bot = await make_bot()
    clock = Clock()
    feed = Feed(bot, FeedStore(bot.deps.identities.db), clock)
    await feed.poll()  # the baseline
    run = notifier(bot, clock)
    await run(feed.store, feed.fingerprint)
    return bot, feed, run


async def subscribe(bot: Bot, text: str, *, channel: str = CHANNEL, user: str = "UALICE") -> str:
    _, name = await bot.command(f"subscribe {text}", user=user, channel=channel)
    return (await bot.response(name)).text_of_blocks()


async def step(feed: Feed, run: Notifier) -> None:
    await feed.poll()
    await run(feed.store, feed.fingerprint)


async def test_one_card_then_replies_in_its_thread_with_the_card_updated(
    rig: tuple[Bot, Feed, Notifier],
) -> None:
    bot, feed, run = rig
    told = await subscribe(bot, 'assignee:"Sam Rivera" events:assigned,note,closed')
    assert "subscribed this channel" in told and "assigned, note, closed" in told
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    alice = other_user(bot, "alice@demo.example")

    await update(alice, task=task.uuid, assignee="Sam Rivera")
    await step(feed, run)
    (card,) = bot.slack.posted(CHANNEL)
    assert f"#{task.number}" in json_of(card) and "assigned to Sam Rivera" in json_of(card)
    assert card["metadata"]["event_type"] == "uc_workflow_notification"

    await note(alice, task.uuid, "Waiting for the carrier")
    await step(feed, run)
    (reply,) = bot.slack.posted(CHANNEL, thread_ts=card["ts"])
    assert "note by Alice Carter: Waiting for the carrier" in reply["text"]
    (updated,) = [c for c in bot.slack.of("chat.update") if c.args.get("ts") == card["ts"]]
    assert "Waiting for the carrier" in updated.text_of_blocks()  # the card shows its notes

    mark = bot.slack.mark()
    await update(alice, task=task.uuid, priority="critical")  # not an event the channel asked for
    await step(feed, run)
    assert bot.slack.calls[mark:] == []

    await update(alice, task=task.uuid, status="closed")
    await step(feed, run)
    replies = bot.slack.posted(CHANNEL, thread_ts=card["ts"])
    assert len(replies) == 2 and "closed" in replies[1]["text"]
    assert len(bot.slack.posted(CHANNEL)) == 1  # never a new top-level post per change


async def test_filters_are_respected_and_a_task_leaving_them_is_told_once(
    rig: tuple[Bot, Feed, Notifier],
) -> None:
    bot, feed, run = rig
    await subscribe(bot, 'status:open assignee:"Sam Rivera"')
    theirs, other = await open_tasks(bot, 2, avoid=("Sam Rivera",))
    owner = other_user(bot, "owner@demo.example")
    await update(owner, task=theirs.uuid, assignee="Sam Rivera")
    await update(owner, task=other.uuid, assignee="Priya Shah")  # not Sam's: not posted
    await step(feed, run)
    (card,) = bot.slack.posted(CHANNEL)
    assert f"#{theirs.number}" in json_of(card)

    await update(owner, task=theirs.uuid, status="closed")  # it matched before: the thread hears of it
    await step(feed, run)
    (closed,) = bot.slack.posted(CHANNEL, thread_ts=card["ts"])
    assert "closed" in closed["text"]
    mark = bot.slack.mark()
    await note(owner, theirs.uuid, "Closed by mistake?")  # closed now: out of the filters
    await note(owner, other.uuid, "Another note")
    await step(feed, run)
    assert bot.slack.calls[mark:] == []


async def test_events_not_asked_for_are_not_posted(rig: tuple[Bot, Feed, Notifier]) -> None:
    bot, feed, run = rig
    await subscribe(bot, "events:closed")
    (task,) = await open_tasks(bot, 1, avoid=("Priya Shah",))
    owner = other_user(bot, "owner@demo.example")
    await update(owner, task=task.uuid, assignee="Priya Shah", priority="high")
    await note(owner, task.uuid, "Looked at it")
    await step(feed, run)
    assert bot.slack.posted(CHANNEL) == []
    await update(owner, task=task.uuid, status="closed")
    await step(feed, run)
    (card,) = bot.slack.posted(CHANNEL)
    activity = card["blocks"][-1]["elements"][0]["text"]  # what happened, under the card
    assert activity.startswith(":bell: closed") and "priority" not in activity


async def test_several_subscriptions_of_a_channel_make_one_message(rig: tuple[Bot, Feed, Notifier]) -> None:
    bot, feed, run = rig
    await subscribe(bot, 'assignee:"Sam Rivera"')
    await subscribe(bot, "priority:high events:priority")
    await subscribe(bot, "priority:high", channel=OTHER_CHANNEL)
    (task,) = await open_tasks(bot, 1, avoid=("Sam Rivera",))
    await update(
        other_user(bot, "owner@demo.example"), task=task.uuid, assignee="Sam Rivera", priority="high"
    )
    await step(feed, run)
    (here,) = bot.slack.posted(CHANNEL)
    assert "assigned to Sam Rivera" in json_of(here) and "priority" in json_of(here)
    assert len(bot.slack.posted(OTHER_CHANNEL)) == 1


async def test_subscribe_checks_the_filters_as_search_does_and_lists_and_removes(
    rig: tuple[Bot, Feed, Notifier],
) -> None:
    bot, _, _ = rig
    told = await subscribe(bot, "statsu:open")
    assert "is not a search filter" in told and "/task subscribe FILTERS" in told
    told = await subscribe(bot, "assignee:nobody-at-all-xyz")
    assert "nobody matches" in told
    told = await subscribe(bot, "status:open events:assigned,bogus")
    assert "`bogus` is not an event" in told
    told = await subscribe(bot, "status:open sort:due")
    assert "sort" in told
    await subscribe(bot, "status:open events:closed")
    await subscribe(bot, "assignee:me")
    _, name = await bot.command("subscriptions")
    listed = (await bot.response(name)).text_of_blocks()
    assert "1. `status:open` — closed" in listed and "2. `assignee:me` — all events" in listed
    _, name = await bot.command("unsubscribe")
    assert "/task unsubscribe N" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command("unsubscribe 1")
    assert "removed 1 subscription" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command("subscriptions")
    listed = (await bot.response(name)).text_of_blocks()
    assert "1. `assignee:me`" in listed and "status:open" not in listed


def json_of(message: dict[str, object]) -> str:
    import json

    return json.dumps(message, ensure_ascii=False)
