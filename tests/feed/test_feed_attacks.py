"""Attacks on the change feed (shared_client.feed): pages that move while they are read, clocks that disagree,
replicas that race, leaders that stall, and a database or Redis that is not what the feed expected. Real
sandbox, real SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared_client.database import Database, open_database, sqlite_url
from shared_client.feed.lease import RedisLease
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.runner import FeedRunner
from shared_client.feed.store import FeedStore
from tests.conftest import MakeClient
from tests.feed.test_feed import Clock, FakeMonotonic, feed_on


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(sqlite_url(tmp_path / "feed.sqlite3"))
    yield db
    await db.aclose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "feed.sqlite3")
    else:
        url = request.getfixturevalue("postgres_url")
    db = await open_database(url)
    yield db
    await db.aclose()


# --- the runner ------------------------------------------------------------------------------------------


async def test_slow_consumers_do_not_put_the_next_poll_off(
    make_client: MakeClient, database: Database, tmp_path: Path
) -> None:
    """Slack's posting limits make consumers slow (a queue at one message a second): that is not a tight
    UltraCart budget, and the next poll must still come one interval later."""
    from shared_client.feed.lease import FileLease

    owner = make_client().client
    mono = FakeMonotonic()

    async def slow_consumer(store: FeedStore, fingerprint: str) -> None:
        mono.now += 120.0  # two minutes of Slack posts

    runner = FeedRunner(
        feed_on(owner, database),
        FileLease(tmp_path, owner.fingerprint),
        consumers=[slow_consumer],
        monotonic=mono,
    )
    await runner.run_round()
    await runner.run_round()
    assert runner.stretch == 1


class FailingFeed(ChangeFeed):
    async def poll(self) -> Any:
        raise RuntimeError("UltraCart is answering 429s")


class Recording(FeedRunner):
    led: list[bool]

    async def run_round(self) -> Any:
        outcome = await super().run_round()
        self.led.append(outcome.leader)
        return outcome


async def test_a_stretched_leader_keeps_its_lease_while_it_waits(
    make_client: MakeClient, database: Database, redis_url: str
) -> None:
    """A tight budget stretches the leader's wait to several intervals; if its lease lapses meanwhile, another
    replica (never stretched) takes over and polls at once: the back-off is lost across replicas."""
    owner = make_client().client
    name = f"stretch-{owner.fingerprint[:8]}-{id(database)}"
    interval = 0.3
    store = FeedStore(database)
    leader = FeedRunner(
        FailingFeed(owner, store, interval=interval, leader="one"), RedisLease(redis_url, name, ttl=1.0)
    )
    follower = Recording(
        ChangeFeed(owner, store, interval=interval, leader="two", clock=Clock()),
        RedisLease(redis_url, name, ttl=1.0),
    )
    follower.led = []
    leader.stretch = 4  # after rounds that waited for the budget; this one fails too: the next is 2.4 s away
    leading = asyncio.ensure_future(leader.run())
    following: asyncio.Future[None] | None = None
    try:
        async with asyncio.timeout(20):
            await leader.wait_rounds(1)
            assert leader.stretch == 8
            following = asyncio.ensure_future(follower.run())
            await leader.wait_rounds(1)  # the leader's next round, 8 intervals (past its lease's TTL) later
    finally:
        for task in (leading, following):
            if task is not None:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    assert len(follower.led) >= 3 and not any(follower.led)
