"""The bot's change feed: every replica runs a :class:`~shared_client.feed.runner.FeedRunner` on the
workspace's UltraCart key; the one holding the lease polls and feeds the notifier (DMs, channel
subscriptions) and the digests. Started with the bot, stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from shared_client.client import WorkflowClient
from shared_client.feed.lease import lease_for
from shared_client.feed.poller import ChangeFeed
from shared_client.feed.runner import Consumer, FeedRunner
from shared_client.feed.store import FeedStore
from shared_client.settings import Settings

__all__ = ["feed_runner", "running_feed"]


def feed_runner(
    settings: Settings, store: FeedStore, client: WorkflowClient, consumers: Sequence[Consumer]
) -> FeedRunner:
    interval = settings.uc_workflow_poll_seconds
    lease = lease_for(
        client.fingerprint,
        redis_url=settings.redis_url,
        state_dir=settings.state_dir,
        ttl=max(3 * interval, 30.0),  # a leader that stops is replaced within this long
    )
    feed = ChangeFeed(client, store, interval=interval, leader=lease.holder)
    return FeedRunner(feed, lease, consumers=consumers)


@contextlib.asynccontextmanager
async def running_feed(runner: FeedRunner) -> AsyncIterator[FeedRunner]:
    """The runner's loop as a task for the block's duration."""
    task = asyncio.ensure_future(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
