"""Each member's digest setting, and the claim that makes each day's digest go out once.

One row per member (``digest_settings``): on or off, the local time (``HH:MM``), their Slack time zone (a
name from users.info ``tz``, read at ``/task digest`` time), and the state of their latest digest: the
local date it is for (``last_date``), when a replica claimed it, when it was sent, how many attempts.

Exactly once, across restarts and replicas: before building a digest a replica *claims* the member's
(member, local date) with one conditional ``UPDATE`` (``last_date`` moves from an earlier date to today
only once: of two replicas, one updates the row, the other's ``WHERE`` no longer matches). The DM is sent
after the claim and recorded (``sent_at``). A claim not recorded as sent ``retry_after`` seconds later (the
send failed, or the replica died while sending) is taken over by another conditional update, at most
``max_attempts`` times in all: a digest is retried rather than lost, and the small window in which a
replica died after Slack accepted the DM but before recording it is the only way to get one twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, or_, select, update

from shared_client.database import ID, Database, metadata

__all__ = [
    "DEFAULT_TIME",
    "DigestSetting",
    "DigestSettings",
    "digest_settings",
    "next_digest",
    "zone_name",
    "zone_named",
]

DEFAULT_TIME = (9, 0)  # `/task digest on` without an earlier time
ZONE = 64

digest_settings = Table(
    "digest_settings",
    metadata,
    Column("team_id", String(ID), primary_key=True),
    Column("slack_user_id", String(ID), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("local_time", String(5), nullable=False),  # "HH:MM", 24-hour, in `zone`
    Column("zone", String(ZONE), nullable=False),  # users.info `tz` (e.g. "Asia/Tokyo"), or "UTC+05:30"
    Column("updated_at", Float, nullable=False),  # Unix time
    # The local date (ISO) of the latest digest: claimed, sent, or skipped (set after that day's time).
    Column("last_date", String(10), nullable=True),
    Column("claimed_at", Float, nullable=True),  # Unix time; None: not claimed (skipped)
    Column("sent_at", Float, nullable=True),  # Unix time; None: being sent, failed, or skipped
    Column("attempts", Integer, nullable=False),
    # Newly assigned tasks are listed from here on: where the last digest sent stopped looking.
    Column("covered_until", Float, nullable=True),  # Unix time
    Index("digest_settings_enabled", "enabled"),
)


# How long after its time a digest missed by the calls (none came between its time and midnight) still
# goes out, the next day.
LATE = timedelta(hours=1)

_OFFSET = re.compile(r"^UTC([+-])(\d{2}):(\d{2})$")


def zone_name(zone: tzinfo | None) -> str:
    """What is stored for a time zone: its IANA name, else a fixed offset as ``UTC+05:30``, else ``UTC``."""
    if isinstance(zone, ZoneInfo):
        return zone.key
    if zone is None:
        return "UTC"
    offset = zone.utcoffset(None) or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_named(name: str) -> tzinfo:
    """The time zone :func:`zone_name` stored (UTC if it is no longer known)."""
    fixed = _OFFSET.match(name)
    try:
        if fixed is not None:
            minutes = int(fixed.group(2)) * 60 + int(fixed.group(3))
            return timezone(timedelta(minutes=-minutes if fixed.group(1) == "-" else minutes))
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError, OSError):  # not a zone (a directory, too long), past 24 h
        return UTC


def _hhmm(at: tuple[int, int]) -> str:
    return f"{at[0]:02d}:{at[1]:02d}"


def _at(value: str) -> tuple[int, int]:
    hour, _, minute = value.partition(":")
    return int(hour), int(minute or 0)


@dataclass(frozen=True)
class DigestSetting:
    team_id: str
    slack_user_id: str
    enabled: bool
    at: tuple[int, int]  # hour, minute in `zone`
    zone_name: str
    last_date: date | None = None
    claimed_at: float | None = None
    sent_at: float | None = None
    attempts: int = 0
    covered_until: float | None = None
    updated_at: float | None = None  # Unix time of the latest /task digest on|off|HH:MM

    @property
    def zone(self) -> tzinfo:
        return zone_named(self.zone_name)

    @property
    def time_text(self) -> str:
        return _hhmm(self.at)

    def local(self, now: datetime) -> datetime:
        return now.astimezone(self.zone)


def next_digest(setting: DigestSetting, now: datetime) -> datetime:
    """When the member's next digest goes out, in their time zone (wall-clock ``at`` of today, if today's
    is still to come, else of tomorrow)."""
    local = setting.local(now)
    today = local.date()
    day = today if setting.last_date is None or setting.last_date < today else today + timedelta(days=1)
    if day == today and (local.hour, local.minute) >= setting.at:
        return local  # due now: the next call of the feed's consumer sends it
    hour, minute = setting.at
    return datetime.combine(day, time(hour, minute), tzinfo=setting.zone)


def _row(row: Any) -> DigestSetting:
    return DigestSetting(
        team_id=str(row.team_id),
        slack_user_id=str(row.slack_user_id),
        enabled=bool(row.enabled),
        at=_at(str(row.local_time)),
        zone_name=str(row.zone),
        last_date=date.fromisoformat(row.last_date) if row.last_date else None,
        claimed_at=row.claimed_at,
        sent_at=row.sent_at,
        attempts=int(row.attempts or 0),
        covered_until=row.covered_until,
        updated_at=row.updated_at,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


class DigestSettings:
    """The members' digest settings and claims on the process's :class:`Database`. ``clock``: now, an aware
    datetime (tests inject one; ``/task digest`` and :class:`~slack_bot.digest.sender.Digests` share it)."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime] = utc_now,
        retry_after: float = 300.0,
        max_attempts: int = 3,
    ) -> None:
        self.db = database
        self.clock = clock
        self.retry_after = retry_after
        self.max_attempts = max_attempts

    async def get(self, team_id: str, slack_user_id: str) -> DigestSetting | None:
        d = digest_settings.c
        async with self.db.connect() as connection:
            row = (
                await connection.execute(
                    select(digest_settings).where(d.team_id == team_id, d.slack_user_id == slack_user_id)
                )
            ).first()
        return _row(row) if row is not None else None

    async def enabled(self) -> list[DigestSetting]:
        """Every member whose digest is on (every workspace)."""
        d = digest_settings.c
        query = select(digest_settings).where(d.enabled.is_(True)).order_by(d.team_id, d.slack_user_id)
        async with self.db.connect() as connection:
            return [_row(row) for row in await connection.execute(query)]

    async def turn_on(
        self, team_id: str, slack_user_id: str, *, zone: str, at: tuple[int, int] | None = None
    ) -> DigestSetting:
        """On at ``at`` (None: the member's earlier time, else :data:`DEFAULT_TIME`), in ``zone``. When
        that time has passed today, today's digest is skipped: the first goes out at the next ``at``."""
        now = self.clock()
        before = await self.get(team_id, slack_user_id)
        chosen = at or (before.at if before is not None else DEFAULT_TIME)
        values = {"enabled": True, "local_time": _hhmm(chosen), "zone": zone, "updated_at": now.timestamp()}
        insert = self.db.insert(digest_settings).values(
            team_id=team_id, slack_user_id=slack_user_id, attempts=0, **values
        )
        d = digest_settings.c
        today = now.astimezone(zone_named(zone))
        async with self.db.begin() as connection:
            await connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[d.team_id, d.slack_user_id],
                    set_={name: insert.excluded[name] for name in values},
                )
            )
            member = (d.team_id == team_id, d.slack_user_id == slack_user_id)
            day = today.date().isoformat()
            if (today.hour, today.minute) >= chosen:
                await connection.execute(
                    update(digest_settings)
                    .where(*member, or_(d.last_date.is_(None), d.last_date < day))
                    .values(last_date=day, claimed_at=None, sent_at=None, attempts=0)
                )
            else:
                # Today's was skipped (set after its time), not sent: the new time today is still to come.
                await connection.execute(
                    update(digest_settings)
                    .where(*member, d.last_date == day, d.claimed_at.is_(None))
                    .values(last_date=None)
                )
        setting = await self.get(team_id, slack_user_id)
        assert setting is not None
        return setting

    async def turn_off(self, team_id: str, slack_user_id: str) -> DigestSetting | None:
        """Off (its time and state kept for a later ``on``); the setting before, if any."""
        before = await self.get(team_id, slack_user_id)
        d = digest_settings.c
        async with self.db.begin() as connection:
            await connection.execute(
                update(digest_settings)
                .where(d.team_id == team_id, d.slack_user_id == slack_user_id)
                .values(enabled=False, updated_at=self.clock().timestamp())
            )
        return before

    async def set_zone(self, team_id: str, slack_user_id: str, zone: str) -> None:
        """The member's Slack time zone changed (they travelled): their digest goes by the new one. A day
        already done stays done (``last_date`` only moves forward), so a move west sends nothing twice."""
        d = digest_settings.c
        async with self.db.begin() as connection:
            await connection.execute(
                update(digest_settings)
                .where(d.team_id == team_id, d.slack_user_id == slack_user_id)
                .values(zone=zone)
            )

    def due_date(self, setting: DigestSetting, now: datetime) -> date | None:
        """The local date whose digest is due for this member now, if any: the time has come and that
        day's digest is not claimed yet, or its claim was never recorded as sent and may be retried."""
        if not setting.enabled:
            return None
        local = setting.local(now)
        today = local.date()
        if (local.hour, local.minute) < setting.at:
            return self._late(setting, now, today - timedelta(days=1))
        if setting.last_date is None or setting.last_date < today:
            return today
        if setting.last_date == today and self._retryable(setting, now.timestamp()):
            return today
        return None

    def _late(self, setting: DigestSetting, now: datetime, yesterday: date) -> date | None:
        """Yesterday, when its digest's time passed less than :data:`LATE` ago and no call came between
        it and midnight (a poll at 23:58:30, the next at 00:00:30: a 23:59 digest), and the digest was
        already set then: it goes out late rather than not at all."""
        hour, minute = setting.at
        due_at = datetime.combine(yesterday, time(hour, minute), tzinfo=setting.zone)
        if not timedelta(0) <= now - due_at <= LATE:
            return None
        if setting.updated_at is not None and setting.updated_at > due_at.timestamp():
            return None  # set after that time: that day's was skipped, not missed
        if setting.last_date is None or setting.last_date < yesterday:
            return yesterday
        if setting.last_date == yesterday and self._retryable(setting, now.timestamp()):
            return yesterday
        return None

    def _retryable(self, setting: DigestSetting, now: float) -> bool:
        return (
            setting.sent_at is None
            and setting.claimed_at is not None
            and setting.claimed_at < now - self.retry_after
            and setting.attempts < self.max_attempts
        )

    async def claim(self, setting: DigestSetting, day: date, now: datetime) -> bool:
        """Whether this caller is the one to send the member's digest for ``day`` (one conditional update
        of their row: one winner among replicas)."""
        d = digest_settings.c
        stamp = now.timestamp()
        iso = day.isoformat()
        member = (d.team_id == setting.team_id, d.slack_user_id == setting.slack_user_id, d.enabled.is_(True))
        first = (
            update(digest_settings)
            .where(*member, or_(d.last_date.is_(None), d.last_date < iso))
            .values(last_date=iso, claimed_at=stamp, sent_at=None, attempts=1)
        )
        again = (
            update(digest_settings)
            .where(
                *member,
                d.last_date == iso,
                d.sent_at.is_(None),
                d.claimed_at.is_not(None),
                d.claimed_at < stamp - self.retry_after,
                d.attempts < self.max_attempts,
            )
            .values(claimed_at=stamp, attempts=d.attempts + 1)
        )
        async with self.db.begin() as connection:
            if (await connection.execute(first)).rowcount == 1:
                return True
            return (await connection.execute(again)).rowcount == 1

    async def sent(self, setting: DigestSetting, day: date, *, covered_until: datetime | None) -> None:
        """The claimed digest for ``day`` went out (or had nothing to say): newly assigned tasks up to
        ``covered_until`` are told (None: nothing was looked at; the next digest starts where the last
        one stopped)."""
        d = digest_settings.c
        values: dict[str, float] = {"sent_at": self.clock().timestamp()}
        if covered_until is not None:
            values["covered_until"] = covered_until.timestamp()
        async with self.db.begin() as connection:
            await connection.execute(
                update(digest_settings)
                .where(
                    d.team_id == setting.team_id,
                    d.slack_user_id == setting.slack_user_id,
                    d.last_date == day.isoformat(),
                )
                .values(**values)
            )
