"""Each Events API delivery handled once, by one replica.

Slack sends an event again (``X-Slack-Retry-Num``) when its delivery was not answered within 3 seconds or
failed, and the retry may reach another replica behind the same address. So every delivery claims its
``event_id`` in the database first (insert if absent; the primary key decides between replicas), and only
the claim's winner runs the listener:

- a delivery whose event was handled is answered 200 with ``X-Slack-No-Retry`` and dropped;
- a delivery whose event is claimed but not yet handled is answered 503 and dropped: the claimant may be
  at work (the usual retry: the first answer was slow), or may have died before answering. Any 2xx would
  end Slack's retries, and Slack's first retry comes at once, so a 200 here would lose every event whose
  claimant died; a 503 has Slack send it again a minute later;
- a claim is *stale* when not marked handled ``stale_after`` seconds after it was made. The replica that
  claimed it died (or hung) before its listener finished, so the retry takes the claim over (one
  conditional update: one taker) and handles the event; Slack retries after about a minute and again
  after five, so such an event is handled late rather than lost. A listener that ran and failed has
  finished (the user was told, :mod:`slack_bot.errors`): it is not run again.

Claims older than ``keep_for`` (a day; Slack retries for minutes) are pruned, at most once per
``prune_every``, by whichever replica claims next; a prune that fails is logged, and never fails the claim
it follows (that claim is won: failing its delivery would leave the event claimed and not handled).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from slack_bot.store import Database, DatabaseUnavailable, slack_events

LOG = logging.getLogger(__name__)


class EventLog:
    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], float] | None = None,
        stale_after: float = 30.0,
        keep_for: float = 86_400.0,
        prune_every: float = 3_600.0,
    ) -> None:
        self.db = database
        self.clock = clock or time.time  # Unix time: replicas compare each other's stamps
        self.stale_after = stale_after
        self.keep_for = keep_for
        self.prune_every = prune_every
        self._pruned_at: float | None = None

    async def claim(self, event_id: str, team_id: str) -> bool:
        """Whether this delivery of ``event_id`` is the one to handle (see the module's rules)."""
        now = self.clock()
        e = slack_events.c
        insert = self.db.insert(slack_events).values(
            event_id=event_id, team_id=team_id, claimed_at=now, handled=False
        )
        take_over = (
            update(slack_events)
            .where(e.event_id == event_id, e.handled.is_(False), e.claimed_at < now - self.stale_after)
            .values(claimed_at=now)
        )
        async with self.db.begin() as connection:
            inserted = await connection.execute(insert.on_conflict_do_nothing().returning(e.event_id))
            won = inserted.first() is not None
            if not won:
                # The rowcount of a one-row UPDATE: reported alike by asyncpg and sqlite3.
                won = (await connection.execute(take_over)).rowcount == 1
                if won:
                    LOG.warning("event %s: its first claim was never finished; handling it now", event_id)
        if won and (self._pruned_at is None or now - self._pruned_at >= self.prune_every):
            try:
                await self.prune(now)
            except (DatabaseUnavailable, SQLAlchemyError) as exc:
                LOG.warning("could not prune old event claims (%s); tried again later", type(exc).__name__)
        return won

    async def is_handled(self, event_id: str) -> bool:
        """Whether the listener of ``event_id`` has finished (False: claimed and at work, or never
        finished; or not claimed at all)."""
        query = select(slack_events.c.handled).where(slack_events.c.event_id == event_id)
        async with self.db.connect() as connection:
            return bool((await connection.execute(query)).scalar())

    async def handled(self, event_id: str) -> None:
        """The listener of the claimed ``event_id`` has finished (done, or failed and reported)."""
        async with self.db.begin() as connection:
            await connection.execute(
                update(slack_events).where(slack_events.c.event_id == event_id).values(handled=True)
            )

    async def prune(self, now: float | None = None) -> int:
        """Forget claims older than ``keep_for``; how many."""
        now = self.clock() if now is None else now
        self._pruned_at = now
        async with self.db.begin() as connection:
            done = await connection.execute(
                delete(slack_events).where(slack_events.c.claimed_at < now - self.keep_for)
            )
        return int(done.rowcount)
