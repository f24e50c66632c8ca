"""Two bot replicas on one PostgreSQL database, each with its own engine and Notifier, running at once:
every notification (DMs and channel posts) arrives once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

from notify_support import Clock, Feed, note, open_tasks, other_user, update
from slack_harness import CHANNEL, MakeBot

from shared_client.feed.store import FeedStore
from slack_bot.identity import IdentityStore
from slack_bot.notify.notifier import Notifier
from slack_bot.store import open_database


async def test_two_replicas_send_each_notification_once(make_bot: MakeBot, postgres_url: str) -> None:
    bot = await make_bot(database_url=postgres_url)
    second_db = await open_database(postgres_url)  # the other replica's own engine
    bot.cleanups.insert(0, second_db.aclose)
    other_deps = dataclasses.replace(bot.deps, identities=IdentityStore(second_db))
    clock = Clock()
    feed = Feed(bot, FeedStore(bot.deps.identities.db), clock)
    await feed.poll()  # the baseline
    replicas = [
        Notifier(deps, team_id="T1", clock=clock, sleep=clock.sleep, pace=0.0, name=name)
        for deps, name in ((bot.deps, "one"), (other_deps, "two"))
    ]
    stores = [feed.store, FeedStore(second_db)]

    async def both() -> None:
        await asyncio.gather(*(r(s, feed.fingerprint) for r, s in zip(replicas, stores, strict=True)))

    await both()
    await bot.command("subscribe")  # every task, in CHANNEL
    await bot.deps.identities.join("T1", "UPRIYA", 203)
    owner = other_user(bot, "owner@demo.example")
    tasks = await open_tasks(bot, 4, avoid=("Sam Rivera", "Fraud Review"))
    for task in tasks[:2]:
        await update(owner, task=task.uuid, assignee="Sam Rivera")
    for task in tasks[2:]:
        await update(owner, task=task.uuid, assignee="group:Fraud Review")
    await feed.poll()
    await both()
    for task in tasks:
        await note(owner, task.uuid, "Following up")
    await feed.poll()
    await both()
    await both()  # nothing is left, nothing is sent again

    posts = bot.slack.of("chat.postMessage")
    identities = Counter(c.args["metadata"]["event_payload"]["id"] for c in posts)
    assert identities and max(identities.values()) == 1, identities
    assert len([c for c in posts if c.args["channel"] == "USAM"]) == 2
    assert len([c for c in posts if c.args["channel"] == "UPRIYA"]) == 2
    cards = bot.slack.posted(CHANNEL)
    assert len(cards) == 4  # one card per task
    for card in cards:
        assert len(bot.slack.posted(CHANNEL, thread_ts=card["ts"])) == 1  # the note, in its thread
