"""The change feed's loop: every ``UC_WORKFLOW_POLL_SECONDS``, the leader of a credential polls UltraCart and
hands what it found to its consumers (the Slack bot's notifier and digests).

Every replica runs a :class:`FeedRunner`; each round it tries the lease (:mod:`shared_client.feed.lease`),
and only the holder polls, so the feed costs one search per interval per credential whatever the number of
replicas. The poll runs as background work (:func:`shared_client.pacing.background`): behind every
interactive call in the gate's queue, and within the budget's background share. When the budget is tight
the poll's requests wait, the round takes longer, and the next one is put off (up to :data:`MAX_STRETCH`
intervals); a round that failed (UltraCart, the database, Redis) is retried later in the same way.

Consumers are awaited after every round the leader runs, even one whose poll failed (a Slack post left over
from the previous round is still sent while UltraCart is down); each keeps its own cursor in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from shared_client.feed.lease import Lease
from shared_client.feed.poller import ChangeFeed, PollResult
from shared_client.feed.store import FeedStore
from shared_client.pacing import background

__all__ = ["MAX_STRETCH", "Consumer", "FeedRunner", "Round"]

LOG = logging.getLogger(__name__)

Consumer = Callable[[FeedStore, str], Awaitable[None]]
"""Awaited by the leader after each round with the store and the credential's fingerprint."""

PRUNE_EVERY = 3600.0  # seconds between two prunings of old changes (FeedStore.prune)
MAX_STRETCH = 8  # a tight budget or failures put the next poll off by at most this many intervals


@dataclass
class Round:
    leader: bool
    result: PollResult | None = None  # None: not the leader, or the poll failed
    error: str | None = None  # one line, for logs


class FeedRunner:
    def __init__(
        self,
        feed: ChangeFeed,
        lease: Lease,
        *,
        consumers: Sequence[Consumer] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.feed = feed
        self.lease = lease
        self.consumers = list(consumers)
        self.monotonic = monotonic
        self.stretch = 1
        self.rounds = 0
        self._pruned_at: float | None = None
        self._wake = asyncio.Event()
        self.round_done = asyncio.Condition()  # notified after every round (tests wait on it)

    @property
    def interval(self) -> float:
        return self.feed.interval

    def wake(self) -> None:
        """Run the next round now instead of at the end of the interval."""
        self._wake.set()

    async def run_round(self) -> Round:
        """Try the lease; as leader, poll and then hand over to the consumers."""
        try:
            leader = await self.lease.acquire()
        except Exception as exc:  # Redis down: nobody can be sure to lead, so nobody polls
            LOG.warning("change feed: the lease is unavailable (%s); not polling", _line(exc))
            return Round(False, error=_line(exc))
        if not leader:
            return Round(False)
        renewing = asyncio.ensure_future(self._renew())
        outcome = Round(True)
        try:
            with background():
                started = self.monotonic()
                try:
                    outcome.result = await self.feed.poll()
                except Exception as exc:
                    outcome.error = _line(exc)
                    LOG.warning("change feed: the poll failed (%s); retrying later", outcome.error)
                took = self.monotonic() - started
                if self._pruned_at is None or self.monotonic() - self._pruned_at > PRUNE_EVERY:
                    self._pruned_at = self.monotonic()
                    try:
                        await self.feed.store.prune(self.feed.fingerprint)
                    except Exception as exc:
                        LOG.warning("change feed: pruning old changes failed (%s)", _line(exc))
                for consumer in self.consumers:
                    try:
                        await consumer(self.feed.store, self.feed.fingerprint)
                    except Exception as exc:
                        LOG.warning("change feed: %s failed (%s)", _name(consumer), _line(exc))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewing
        slow = took > max(2.0, self.interval / 4)  # its requests waited for the budget or for others
        if outcome.error is not None or slow:
            self.stretch = min(self.stretch * 2, MAX_STRETCH)
        else:
            self.stretch = 1
        return outcome

    async def _renew(self) -> None:
        """Keep the lease while a long round runs (a baseline over many pages)."""
        while True:
            await asyncio.sleep(max(self.interval, 10.0))
            await self.lease.acquire()

    async def run(self) -> None:
        """Rounds for ever, ``interval`` apart (stretched when tight); cancel to stop."""
        try:
            while True:
                self._wake.clear()  # a wake() during the round brings the next one at once
                outcome = await self.run_round()
                self.rounds += 1
                async with self.round_done:
                    self.round_done.notify_all()
                # Only after a poll that worked (slow or not): a replica whose polls fail (its database, its
                # network) lets the lease lapse while it backs off, so that a healthy one may take over.
                await self._wait(
                    self.interval * self.stretch, leading=outcome.leader and outcome.error is None
                )
        finally:
            with contextlib.suppress(Exception):
                await self.lease.release()

    async def _wait(self, delay: float, *, leading: bool) -> None:
        """Until the next round (or a :meth:`wake`). A ``leading`` runner keeps its lease meanwhile, one
        interval at a time: a wait stretched past the lease's TTL for a tight budget must not hand the feed to
        a replica that was never stretched (it would poll at once, and the back-off would be lost)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(remaining, self.interval))
                return
            if leading and deadline - loop.time() > 0:
                try:
                    leading = await self.lease.acquire()
                except Exception:  # Redis down: the next round says so
                    leading = False

    async def wait_rounds(self, count: int) -> None:
        """Wait until ``count`` more rounds have run (tests: under ``asyncio.timeout``)."""
        target = self.rounds + count
        async with self.round_done:
            await self.round_done.wait_for(lambda: self.rounds >= target)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _name(consumer: Consumer) -> str:
    return getattr(consumer, "__qualname__", None) or type(consumer).__name__
