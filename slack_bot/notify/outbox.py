"""The outbox: every notification once, by its identity, with its state, in the deployment's database.

A row is ``pending`` until a replica claims it (``UPDATE … WHERE state = 'pending'``: one replica wins),
``sending`` while it posts, then ``sent`` (with Slack's ts) or, after a bounded number of tries, ``failed``.
A row left ``sending`` by a process that died is claimed again after the lease; before posting it again
the sender looks in Slack for the message (each carries its identity in its ``metadata``).

Posts to one Slack channel (or one member's DM) go out one at a time, in order, by one replica at a time
(a per-channel lease, ``notify_channels``), at most one per ``pace`` seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from shared_client.database import Database
from slack_bot.notify.tables import notify_cards, notify_channels, notify_outbox, notify_slack_writes

__all__ = [
    "CHANNEL",
    "DM",
    "Delivery",
    "Outbox",
    "Row",
]

DM = "dm"
CHANNEL = "channel"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
POST, REPLY = "post", "reply"


@dataclass(frozen=True)
class Delivery:
    """One notification to plan: to ``channel`` (a channel, or a member for a DM) about one task."""

    identity: str
    team_id: str
    channel: str
    kind: str  # DM or CHANNEL
    task_uuid: str
    fingerprint: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Row:
    id: int
    identity: str
    team_id: str
    channel: str
    kind: str
    task_uuid: str
    fingerprint: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_try_at: float
    claimed_at: float | None
    mode: str | None
    thread_ts: str | None
    created_at: float
    ts: str | None = None
    error: str | None = None


def _row(r: Any) -> Row:
    return Row(
        int(r.id),
        str(r.identity),
        str(r.team_id),
        str(r.channel),
        str(r.kind),
        str(r.task_uuid),
        str(r.fingerprint),
        json.loads(r.payload),
        str(r.state),
        int(r.attempts),
        float(r.next_try_at),
        None if r.claimed_at is None else float(r.claimed_at),
        r.mode,
        r.thread_ts,
        float(r.created_at),
        r.ts,
        r.error,
    )


class Outbox:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time, lease: float = 120.0) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease

    def insert_statement(self, delivery: Delivery, *, state: str = PENDING, holder: str | None = None) -> Any:
        now = self.clock()
        return (
            self.db.insert(notify_outbox)
            .values(
                identity=delivery.identity,
                team_id=delivery.team_id,
                channel=delivery.channel,
                kind=delivery.kind,
                task_uuid=delivery.task_uuid,
                fingerprint=delivery.fingerprint,
                payload=json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True),
                state=state,
                attempts=0,
                next_try_at=now,
                claimed_by=holder,
                claimed_at=now if state == SENDING else None,
                mode=POST if state == SENDING else None,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["identity"])
        )

    async def add_claimed(self, delivery: Delivery, holder: str) -> bool:
        """Record ``delivery`` as being sent now by ``holder`` (a post made outside the sender, e.g. the
        immediate DM to a new assignee); False when it was there already (then someone else sends it)."""
        async with self.db.begin() as conn:
            result = await conn.execute(self.insert_statement(delivery, state=SENDING, holder=holder))
        return bool(result.rowcount)

    async def get(self, identity: str) -> Row | None:
        async with self.db.connect() as conn:
            found = (
                await conn.execute(select(notify_outbox).where(notify_outbox.c.identity == identity))
            ).first()
        return _row(found) if found else None

    async def rows(self, *, channel: str | None = None, task_uuid: str | None = None) -> list[Row]:
        query = select(notify_outbox).order_by(notify_outbox.c.id)
        if channel is not None:
            query = query.where(notify_outbox.c.channel == channel)
        if task_uuid is not None:
            query = query.where(notify_outbox.c.task_uuid == task_uuid)
        async with self.db.connect() as conn:
            return [_row(r) for r in (await conn.execute(query)).all()]

    # ------------------------------------------------------------------ the work

    async def channels_with_work(self) -> list[str]:
        """Channels with a row due now: pending and due, or left sending past the lease."""
        o = notify_outbox.c
        now = self.clock()
        query = (
            select(o.channel)
            .where(
                or_(
                    and_(o.state == PENDING, o.next_try_at <= now),
                    and_(o.state == SENDING, o.claimed_at < now - self.lease),
                )
            )
            .group_by(o.channel)
            .order_by(o.channel)
        )
        async with self.db.connect() as conn:
            return [str(c) for c in await conn.scalars(query)]

    async def next_row(self, channel: str) -> Row | None:
        """The channel's oldest unfinished row (its posts go out in order)."""
        o = notify_outbox.c
        query = (
            select(notify_outbox)
            .where(o.channel == channel, o.state.in_([PENDING, SENDING]))
            .order_by(o.id)
            .limit(1)
        )
        async with self.db.connect() as conn:
            found = (await conn.execute(query)).first()
        return _row(found) if found else None

    def due(self, row: Row) -> bool:
        now = self.clock()
        if row.state == PENDING:
            return row.next_try_at <= now
        return row.claimed_at is None or row.claimed_at < now - self.lease

    async def claim(self, row: Row, holder: str, mode: str, thread_ts: str | None) -> bool:
        """Take ``row`` (pending, or sending past the lease) atomically: of two replicas one wins."""
        o = notify_outbox.c
        now = self.clock()
        values: dict[str, Any] = {"state": SENDING, "claimed_by": holder, "claimed_at": now}
        if row.state == PENDING:
            values.update(mode=mode, thread_ts=thread_ts)
        claimable = or_(o.state == PENDING, and_(o.state == SENDING, o.claimed_at < now - self.lease))
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(notify_outbox).where(o.id == row.id, claimable).values(**values)
            )
        return result.rowcount == 1

    async def sent(self, row: Row, holder: str, ts: str | None) -> None:
        o = notify_outbox.c
        async with self.db.begin() as conn:
            await conn.execute(
                update(notify_outbox)
                .where(o.id == row.id, o.claimed_by == holder)
                .values(state=SENT, ts=ts, error=None)
            )

    async def failed(
        self, row: Row, holder: str, error: str, *, retry_at: float | None, counted: bool = True
    ) -> None:
        """One more failed try: pending again at ``retry_at``, or failed for good (None). ``counted``
        False: a try Slack turned away (rate limited) that uses up none of the bounded attempts."""
        o = notify_outbox.c
        attempts = row.attempts + 1 if counted else row.attempts
        values: dict[str, Any] = {"attempts": attempts, "error": error[:200], "claimed_by": None}
        if retry_at is None:
            values["state"] = FAILED
        else:
            values.update(state=PENDING, next_try_at=retry_at)
        async with self.db.begin() as conn:
            await conn.execute(
                update(notify_outbox).where(o.id == row.id, o.claimed_by == holder).values(**values)
            )

    async def give_back(self, row: Row, holder: str) -> None:
        """A claim this process cannot finish (it is stopping): claimable at once by another replica, which
        looks for the post in Slack before posting it (it may have gone out)."""
        o = notify_outbox.c
        async with self.db.begin() as conn:
            await conn.execute(
                update(notify_outbox)
                .where(o.id == row.id, o.claimed_by == holder, o.state == SENDING)
                .values(claimed_at=0.0)
            )

    async def prune(self, before: float) -> int:
        """Forget notifications sent or failed before ``before`` (Unix time), and who made which version
        from Slack then: the change feed does not hand a change over twice, so their identities are no
        longer needed. A card's ts is kept: its thread goes on."""
        o, w = notify_outbox.c, notify_slack_writes.c
        async with self.db.begin() as conn:
            gone = await conn.execute(
                delete(notify_outbox).where(o.state.in_([SENT, FAILED]), o.created_at < before)
            )
            await conn.execute(delete(notify_slack_writes).where(w.written_at < before))
        return int(gone.rowcount or 0)

    # ------------------------------------------------------------------ channels

    async def lease_channel(self, channel: str, holder: str) -> float | None:
        """Hold ``channel`` for ``lease`` seconds (one replica posts to it at a time); the earliest time the
        next post may go out there, or None when another replica holds it."""
        c = notify_channels.c
        now = self.clock()
        async with self.db.begin() as conn:
            await conn.execute(
                self.db.insert(notify_channels)
                .values(channel=channel, holder=None, lease_until=0.0, next_at=0.0)
                .on_conflict_do_nothing(index_elements=["channel"])
            )
            taken = await conn.execute(
                update(notify_channels)
                .where(c.channel == channel, or_(c.holder.is_(None), c.holder == holder, c.lease_until < now))
                .values(holder=holder, lease_until=now + self.lease)
            )
            if taken.rowcount != 1:
                return None
            return float(await conn.scalar(select(c.next_at).where(c.channel == channel)) or 0.0)

    async def renew_channel(self, channel: str, holder: str, next_at: float) -> bool:
        c = notify_channels.c
        async with self.db.begin() as conn:
            renewed = await conn.execute(
                update(notify_channels)
                .where(c.channel == channel, c.holder == holder)
                .values(lease_until=self.clock() + self.lease, next_at=next_at)
            )
        return renewed.rowcount == 1

    async def release_channel(self, channel: str, holder: str) -> None:
        c = notify_channels.c
        async with self.db.begin() as conn:
            await conn.execute(
                update(notify_channels).where(c.channel == channel, c.holder == holder).values(holder=None)
            )

    # ------------------------------------------------------------------ cards

    async def card(self, channel: str, task_uuid: str) -> str | None:
        c = notify_cards.c
        async with self.db.connect() as conn:
            ts = await conn.scalar(select(c.ts).where(c.channel == channel, c.task_uuid == task_uuid))
        return str(ts) if ts else None

    async def channels_with_cards(self, task_uuids: Sequence[str]) -> set[tuple[str, str]]:
        c = notify_cards.c
        wanted = list(dict.fromkeys(task_uuids))
        found: set[tuple[str, str]] = set()
        async with self.db.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = await conn.execute(
                    select(c.channel, c.task_uuid).where(c.task_uuid.in_(wanted[start : start + 500]))
                )
                found.update((str(r.channel), str(r.task_uuid)) for r in rows)
        return found

    async def remember_card(self, channel: str, task_uuid: str, ts: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                self.db.insert(notify_cards)
                .values(channel=channel, task_uuid=task_uuid, ts=ts, posted_at=self.clock())
                .on_conflict_do_nothing(index_elements=["channel", "task_uuid"])
            )
