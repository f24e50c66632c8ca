"""Who a Slack user is in UltraCart: an override set with ``/task iam``, else the UltraCart user whose
e-mail is the Slack profile's e-mail. Also the groups a Slack user says they belong to (UltraCart tells
the API group membership only for the credential's own user).

Kept in the bot's database (:mod:`slack_bot.store`), so every replica sees the same links. Each write is
one atomic statement (``INSERT … ON CONFLICT``): replicas writing the same row at once leave one row, never
an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, select

from slack_bot.store import Database, group_memberships, identities

OVERRIDE = "override"
EMAIL = "email"


@dataclass(frozen=True)
class Mapping:
    slack_user_id: str
    uc_user_id: int
    source: str  # OVERRIDE or EMAIL
    updated_at: float


class IdentityStore:
    """The identity links and group memberships, on the process's :class:`~slack_bot.store.Database`
    (whoever opened it closes it)."""

    def __init__(self, database: Database, clock: Callable[[], float] | None = None) -> None:
        self.db = database
        self._clock = clock or time.time  # Unix time: replicas compare each other's stamps

    # ----------------------------------------------------------------- identities

    async def get(self, team_id: str, slack_user_id: str) -> Mapping | None:
        t = identities.c
        query = select(t.slack_user_id, t.uc_user_id, t.source, t.updated_at).where(
            t.team_id == team_id, t.slack_user_id == slack_user_id
        )
        async with self.db.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return Mapping(str(row.slack_user_id), int(row.uc_user_id), str(row.source), float(row.updated_at))

    async def set(self, team_id: str, slack_user_id: str, uc_user_id: int, source: str) -> None:
        """Link (or re-link) a Slack user. An e-mail match never replaces a ``/task iam`` choice: a
        replica that looked before the choice was made cannot undo it (``forget`` does)."""
        values = {"uc_user_id": uc_user_id, "source": source, "updated_at": self._clock()}
        insert = self.db.insert(identities).values(team_id=team_id, slack_user_id=slack_user_id, **values)
        upsert = insert.on_conflict_do_update(
            index_elements=[identities.c.team_id, identities.c.slack_user_id],
            set_={name: insert.excluded[name] for name in values},
            where=None if source == OVERRIDE else identities.c.source != OVERRIDE,
        )
        async with self.db.begin() as connection:
            await connection.execute(upsert)

    async def forget(self, team_id: str, slack_user_id: str) -> None:
        t = identities.c
        async with self.db.begin() as connection:
            await connection.execute(
                delete(identities).where(t.team_id == team_id, t.slack_user_id == slack_user_id)
            )

    async def slack_users_for(self, team_id: str, uc_user_id: int) -> list[str]:
        """Slack users mapped to this UltraCart user, overrides first, then the most recent."""
        t = identities.c
        query = (
            select(t.slack_user_id)
            .where(t.team_id == team_id, t.uc_user_id == uc_user_id)
            .order_by(case((t.source == OVERRIDE, 0), else_=1), t.updated_at.desc(), t.slack_user_id)
        )
        async with self.db.connect() as connection:
            return [str(sid) for sid in (await connection.scalars(query))]

    # ----------------------------------------------------------------- groups

    async def groups(self, team_id: str, slack_user_id: str) -> list[int]:
        g = group_memberships.c
        query = (
            select(g.group_id)
            .where(g.team_id == team_id, g.slack_user_id == slack_user_id)
            .order_by(g.group_id)
        )
        async with self.db.connect() as connection:
            return [int(gid) for gid in (await connection.scalars(query))]

    async def join(self, team_id: str, slack_user_id: str, group_id: int) -> None:
        insert = self.db.insert(group_memberships).values(
            team_id=team_id, slack_user_id=slack_user_id, group_id=group_id
        )
        async with self.db.begin() as connection:
            await connection.execute(insert.on_conflict_do_nothing())

    async def leave(self, team_id: str, slack_user_id: str, group_id: int) -> None:
        g = group_memberships.c
        where = and_(g.team_id == team_id, g.slack_user_id == slack_user_id, g.group_id == group_id)
        async with self.db.begin() as connection:
            await connection.execute(delete(group_memberships).where(where))
