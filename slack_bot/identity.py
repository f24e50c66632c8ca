"""Who a Slack user is in UltraCart, as far as the bot can tell without being told by just anyone.

A member's UltraCart identity comes from, in this order (:func:`slack_bot.actors.identify`):

1. their own UltraCart key, connected with ``/task connect`` (``Deps.connected_user``; :data:`CONNECTED`);
2. a link a workspace admin or owner made (``/task link @member USER``, or a Link button in ``/task people``;
   :data:`LINK`);
3. their own ``/task iam USER`` request, once an admin approved it (:data:`IAM`);
4. automatically, only when the UltraCart user's ``user`` is exactly the member's Slack profile e-mail
   (Slack verifies members' e-mails; UltraCart's users have no other e-mail; :data:`EMAIL`, not stored).

The first release's unverified ``/task iam`` rows (:data:`OVERRIDE`) and e-mail matches are ignored. Also
kept here: ``/task iam`` requests waiting for an admin, and the groups a Slack user says they belong to
(UltraCart tells the API group membership only for the credential's own user).

Kept in the bot's database (:mod:`slack_bot.store`), so every replica sees the same links. Each write is
one atomic statement (``INSERT … ON CONFLICT``, ``DELETE … WHERE``): replicas writing the same row at once
leave one row, never an error, and of two admins approving one request at once exactly one does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, delete, select

from slack_bot.store import Database, group_memberships, identities, identity_requests

CONNECTED = "connected"  # the member's own key (not stored here)
LINK = "link"  # an admin linked them
IAM = "iam"  # they asked with /task iam, an admin approved
EMAIL = "email"  # the UltraCart user's name is their Slack e-mail (not stored)
OVERRIDE = "override"  # the first release's unverified /task iam: ignored
TRUSTED = (LINK, IAM)  # the stored sources that say who someone is


@dataclass(frozen=True)
class Mapping:
    slack_user_id: str
    uc_user_id: int
    source: str  # LINK or IAM (or a first-release source, which nothing trusts)
    updated_at: float


@dataclass(frozen=True)
class IdentityRequest:
    slack_user_id: str
    uc_user_id: int
    requested_at: float


class IdentityStore:
    """The identity links, requests and group memberships, on the process's
    :class:`~slack_bot.store.Database` (whoever opened it closes it)."""

    def __init__(self, database: Database, clock: Callable[[], float] | None = None) -> None:
        self.db = database
        self._clock = clock or time.time  # Unix time: replicas compare each other's stamps

    # ----------------------------------------------------------------- identities

    async def get(self, team_id: str, slack_user_id: str) -> Mapping | None:
        """The member's stored row, whatever its source (callers trust only :data:`TRUSTED`)."""
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
        """Link (or re-link) a Slack user: ``source`` is :data:`LINK` or :data:`IAM`, decided by an admin."""
        if source not in TRUSTED:
            raise ValueError(f"an identity is set by an admin ({' or '.join(TRUSTED)}), not {source!r}")
        values = {"uc_user_id": uc_user_id, "source": source, "updated_at": self._clock()}
        insert = self.db.insert(identities).values(team_id=team_id, slack_user_id=slack_user_id, **values)
        upsert = insert.on_conflict_do_update(
            index_elements=[identities.c.team_id, identities.c.slack_user_id],
            set_={name: insert.excluded[name] for name in values},
        )
        async with self.db.begin() as connection:
            await connection.execute(upsert)

    async def forget(self, team_id: str, slack_user_id: str) -> bool:
        """Unlink; whether there was a trusted link."""
        t = identities.c
        async with self.db.begin() as connection:
            before = await connection.scalar(
                select(t.source).where(t.team_id == team_id, t.slack_user_id == slack_user_id)
            )
            await connection.execute(
                delete(identities).where(t.team_id == team_id, t.slack_user_id == slack_user_id)
            )
        return before in TRUSTED

    async def slack_users_for(self, team_id: str, uc_user_id: int) -> list[str]:
        """Slack users linked to this UltraCart user (by an admin, or approved), the most recent first."""
        t = identities.c
        query = (
            select(t.slack_user_id)
            .where(t.team_id == team_id, t.uc_user_id == uc_user_id, t.source.in_(TRUSTED))
            .order_by(t.updated_at.desc(), t.slack_user_id)
        )
        async with self.db.connect() as connection:
            return [str(sid) for sid in (await connection.scalars(query))]

    async def links(self, team_id: str) -> list[Mapping]:
        """Every trusted link in the workspace (for ``/task people``)."""
        t = identities.c
        query = (
            select(t.slack_user_id, t.uc_user_id, t.source, t.updated_at)
            .where(t.team_id == team_id, t.source.in_(TRUSTED))
            .order_by(t.uc_user_id, t.slack_user_id)
        )
        async with self.db.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            Mapping(str(r.slack_user_id), int(r.uc_user_id), str(r.source), float(r.updated_at)) for r in rows
        ]

    # ----------------------------------------------------------------- /task iam requests

    async def request(self, team_id: str, slack_user_id: str, uc_user_id: int) -> None:
        """The member asks to be ``uc_user_id``; replaces an earlier request of theirs."""
        values = {"uc_user_id": uc_user_id, "requested_at": self._clock()}
        insert = self.db.insert(identity_requests).values(
            team_id=team_id, slack_user_id=slack_user_id, **values
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[identity_requests.c.team_id, identity_requests.c.slack_user_id],
            set_={name: insert.excluded[name] for name in values},
        )
        async with self.db.begin() as connection:
            await connection.execute(upsert)

    async def pending(self, team_id: str, slack_user_id: str) -> IdentityRequest | None:
        r = identity_requests.c
        query = select(r.slack_user_id, r.uc_user_id, r.requested_at).where(
            r.team_id == team_id, r.slack_user_id == slack_user_id
        )
        async with self.db.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return IdentityRequest(str(row.slack_user_id), int(row.uc_user_id), float(row.requested_at))

    async def take_request(self, team_id: str, slack_user_id: str, uc_user_id: int) -> bool:
        """Remove the member's request for ``uc_user_id``; whether it was still there (so of two admins
        answering it at once, one does)."""
        r = identity_requests.c
        where = and_(r.team_id == team_id, r.slack_user_id == slack_user_id, r.uc_user_id == uc_user_id)
        async with self.db.begin() as connection:
            result = await connection.execute(delete(identity_requests).where(where))
        return bool(result.rowcount)

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
