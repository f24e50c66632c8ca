"""Members' own UltraCart keys (``/task connect``): the vault that keeps them encrypted, and their clients.

A member pastes their own UltraCart simple key (:mod:`slack_bot.listeners.connect`); it is verified with
``GET /workflow/me`` and kept in the bot's database (:data:`slack_bot.store.connected_keys`) as a Fernet
token under ``UC_WORKFLOW_SECRET_KEY``, with who UltraCart said it is. From then on that member's tools run
with it (:func:`member_context`, called by :func:`slack_bot.actors.run_tool`): UltraCart's history names
them, "me" is theirs (groups included) and the requests spend their key's own budget (the shared gate keys
by the credential's fingerprint). A key UltraCart stops accepting (401, 403, 410) is marked failed once,
atomically, so its owner gets one DM however many calls or replicas notice; the member's searches and
changes then go through the workspace's key, and their "mine" is refused until they connect again.

The key is never logged, shown or returned: it is registered with :func:`shared_client.logs.register_secret`
as soon as it is accepted or read back, its client redacts its own credential from what UltraCart says, and
this module names a key only by a short prefix of its SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select, update

from shared_client.errors import (
    ApplicationDisabledError,
    AuthenticationError,
    PermissionDeniedError,
    UltraCartError,
)
from shared_client.logs import register_secret
from shared_client.models import WorkflowUser
from shared_client.settings import MAKE_FERNET_KEY
from shared_client.tools import ErrorKind, Tool, ToolContext, ToolError
from shared_client.tools.base import InT, OutT
from slack_bot.store import Database, connected_keys

if TYPE_CHECKING:
    from shared_client.client import WorkflowClient
    from slack_bot.deps import Deps

log = logging.getLogger("slack_bot")

SETTING = "UC_WORKFLOW_SECRET_KEY"
NO_SECRET_KEY = (
    f"Connecting your own UltraCart key needs {SETTING} on the bot: an admin sets it to a Fernet key "
    f"({MAKE_FERNET_KEY}) and restarts the bot."
)
KEY_STOPPED = (
    ":warning: Your UltraCart key stopped working (UltraCart refused it); `/task connect` again with a "
    "new one. Until then your changes go through the workspace's key."
)
KEY_STOPPED_MINE = (
    "Your UltraCart key stopped working (UltraCart refused it); `/task connect` again with a new one."
)
REFUSED_STATUSES = frozenset({401, 403, 410})  # the key is no good (wrong, revoked, application disabled)
MAX_KEY_LENGTH = 512  # longer is no simple key: refused without asking UltraCart
MAX_CLIENTS = 64  # members' clients (connection pool, people directory) kept at once


def key_fingerprint(key: str) -> str:
    """What names a key in memory and logs: its SHA-256, never the key."""
    return hashlib.sha256(b"uc-workflow-slack/member-key\0" + key.encode()).hexdigest()


class KeyRefused(Exception):
    """UltraCart refused the key (401, 403 or 410 to GET /workflow/me)."""


class KeyUnverified(Exception):
    """UltraCart could not be asked (unreachable, rate limited, 5xx): try again later."""


@dataclass(frozen=True)
class ConnectedKey:
    team_id: str
    slack_user_id: str
    key: str = field(repr=False)
    token: bytes = field(repr=False)  # the Fernet token as stored: names this connection (not an older one)
    uc_user_id: int
    uc_user_name: str
    verified_at: float
    failed_at: float | None

    @property
    def working(self) -> bool:
        return self.failed_at is None

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key)


class KeyVault:
    """The connected keys on the process's :class:`~slack_bot.store.Database` (whoever opened it closes it).
    ``secret_key``: ``UC_WORKFLOW_SECRET_KEY`` (a Fernet key); None: nothing can be stored or read."""

    def __init__(
        self, database: Database, secret_key: str | None, clock: Callable[[], float] | None = None
    ) -> None:
        self.db = database
        self._fernet = Fernet(secret_key.strip().encode()) if secret_key else None
        self._clock = clock or time.time  # Unix time: replicas compare each other's stamps

    @property
    def available(self) -> bool:
        return self._fernet is not None

    async def save(self, team_id: str, slack_user_id: str, key: str, user: WorkflowUser) -> ConnectedKey:
        """Keep (or replace) a member's verified key, encrypted; ``user``: UltraCart's ``me`` for it."""
        if self._fernet is None:
            raise RuntimeError(NO_SECRET_KEY)
        assert user.user_id is not None
        register_secret(key)
        token = self._fernet.encrypt(key.encode())
        values: dict[str, Any] = {
            "key_token": token,
            "uc_user_id": user.user_id,
            "uc_user_name": user.user or str(user.user_id),
            "verified_at": self._clock(),
            "failed_at": None,
        }
        insert = self.db.insert(connected_keys).values(team_id=team_id, slack_user_id=slack_user_id, **values)
        upsert = insert.on_conflict_do_update(
            index_elements=[connected_keys.c.team_id, connected_keys.c.slack_user_id],
            set_={name: insert.excluded[name] for name in values},
        )
        async with self.db.begin() as connection:
            await connection.execute(upsert)
        return ConnectedKey(
            team_id,
            slack_user_id,
            key,
            token,
            user.user_id,
            values["uc_user_name"],
            values["verified_at"],
            None,
        )

    async def get(self, team_id: str, slack_user_id: str) -> ConnectedKey | None:
        """The member's key (failed or not); None when there is none, or it cannot be decrypted with this
        ``UC_WORKFLOW_SECRET_KEY`` (logged: the setting changed)."""
        if self._fernet is None:
            return None
        c = connected_keys.c
        query = select(c.key_token, c.uc_user_id, c.uc_user_name, c.verified_at, c.failed_at).where(
            c.team_id == team_id, c.slack_user_id == slack_user_id
        )
        async with self.db.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        token = bytes(row.key_token)
        try:
            key = self._fernet.decrypt(token).decode()
        except (InvalidToken, UnicodeDecodeError):
            log.warning(
                "a connected UltraCart key cannot be decrypted: %s is not the key it was stored with", SETTING
            )
            return None
        register_secret(key)
        failed = None if row.failed_at is None else float(row.failed_at)
        return ConnectedKey(
            team_id,
            slack_user_id,
            key,
            token,
            int(row.uc_user_id),
            str(row.uc_user_name),
            float(row.verified_at),
            failed,
        )

    async def forget(self, team_id: str, slack_user_id: str) -> bool:
        """Whether there was a key to forget."""
        c = connected_keys.c
        async with self.db.begin() as connection:
            result = await connection.execute(
                delete(connected_keys).where(c.team_id == team_id, c.slack_user_id == slack_user_id)
            )
        return bool(result.rowcount)

    async def mark_failed(self, member: ConnectedKey) -> bool:
        """Mark this connection failed; True for the one call (in any replica) that did, so its owner is
        told once. A key connected since (another token) is left alone."""
        c = connected_keys.c
        statement = (
            update(connected_keys)
            .where(
                c.team_id == member.team_id,
                c.slack_user_id == member.slack_user_id,
                c.key_token == member.token,
                c.failed_at.is_(None),
            )
            .values(failed_at=self._clock())
        )
        async with self.db.begin() as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount)

    async def connected_user(self, team_id: str, slack_user_id: str) -> int | None:
        """The UltraCart user id a member proved with a working key of their own; None otherwise."""
        member = await self.get(team_id, slack_user_id)
        return member.uc_user_id if member is not None and member.working else None

    async def connected_members(self, team_id: str) -> dict[str, int]:
        """Every member of a workspace with a working key of their own: Slack id → UltraCart user id (for
        DMs and ``/task people``). Read without decrypting: a key this secret cannot open is not counted
        working by ``get`` either, so those are left out too (when the secret is unset, nobody is)."""
        if self._fernet is None:
            return {}
        c = connected_keys.c
        query = select(c.slack_user_id, c.uc_user_id, c.key_token).where(
            c.team_id == team_id, c.failed_at.is_(None)
        )
        async with self.db.connect() as connection:
            rows = (await connection.execute(query)).all()
        found: dict[str, int] = {}
        for row in rows:
            try:
                self._fernet.decrypt(bytes(row.key_token))
            except InvalidToken:
                continue
            found[str(row.slack_user_id)] = int(row.uc_user_id)
        return found


@dataclass
class _Client:
    context: ToolContext
    users: int = 0
    dropped: bool = False  # closed once its last call ends


class MemberKeys:
    """The vault, and one ``ToolContext`` per connected key with its own ``WorkflowClient`` from
    ``client_for`` (``shared_client.factory.build_keyed_backend``): kept in an LRU of ``max_clients``,
    closed when evicted (once idle) and at shutdown."""

    def __init__(
        self,
        vault: KeyVault,
        client_for: Callable[[str], WorkflowClient],
        *,
        sandbox: bool,
        description: str = "",
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.vault = vault
        self.client_for = client_for
        self.sandbox = sandbox
        self.description = description
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    async def verify(self, key: str) -> WorkflowUser:
        """Who UltraCart says ``key`` is (``GET /workflow/me``). KeyRefused or KeyUnverified."""
        if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
            raise KeyRefused
        ultracart = self.client_for(key)  # (not named "client": that is the Slack client, in this package)
        fingerprint = key_fingerprint(key)[:12]
        try:
            me = await ultracart.get_me()
        except (AuthenticationError, PermissionDeniedError, ApplicationDisabledError) as exc:
            log.info("refused a member's key (%s…): UltraCart answered %s", fingerprint, exc.status)
            raise KeyRefused from None
        except UltraCartError as exc:
            log.warning("could not verify a member's key (%s…): %s", fingerprint, type(exc).__name__)
            raise KeyUnverified from None
        finally:
            await ultracart.aclose()
        if me.user is None or me.user.user_id is None:
            raise KeyUnverified
        return me.user

    @contextlib.asynccontextmanager
    async def lease(self, member: ConnectedKey, base: ToolContext) -> AsyncIterator[ToolContext]:
        """The member's context for one call (its client is not closed while leased). ``base``: the
        workspace's context, whose write locks and task numbers it shares."""
        fingerprint = member.fingerprint
        entry = self._clients.get(fingerprint)
        if entry is None or entry.dropped:  # a dropped one closes when its last call ends
            context = ToolContext(
                self.client_for(member.key),
                sandbox=self.sandbox,
                description=self.description or base.description,
                allow_local_files=False,
                redis_url=base.redis_url,
                task_numbers=base.task_numbers,
                _task_locks=base._task_locks,
            )
            entry = self._clients[fingerprint] = _Client(context)
        self._clients.move_to_end(fingerprint)
        entry.users += 1
        try:
            await self._evict_idle()
            yield entry.context
        finally:
            entry.users -= 1
            if entry.dropped and entry.users == 0:
                if self._clients.get(fingerprint) is entry:
                    del self._clients[fingerprint]
                await entry.context.client.aclose()

    async def _evict_idle(self) -> None:
        extra = len(self._clients) - self.max_clients
        idle = [fp for fp, entry in self._clients.items() if entry.users == 0][: max(extra, 0)]
        for fingerprint in idle:
            await self._clients.pop(fingerprint).context.client.aclose()

    async def drop(self, member: ConnectedKey) -> None:
        """Close the member's client (disconnected, or its key failed), once no call uses it."""
        entry = self._clients.get(member.fingerprint)
        if entry is None:
            return
        entry.dropped = True
        if entry.users == 0:
            del self._clients[member.fingerprint]
            await entry.context.client.aclose()

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        entries = list(self._clients.values())
        self._clients.clear()
        for entry in entries:
            await entry.context.client.aclose()


def refused_key(error: ToolError) -> bool:
    """UltraCart refused the credential itself (not the request)."""
    return error.kind is ErrorKind.UNAUTHORIZED or error.status in REFUSED_STATUSES


async def working_key(deps: Deps, team: str, slack_id: str) -> ConnectedKey | None:
    """The member's connected key, if they have one UltraCart still accepts."""
    if deps.member_keys is None:
        return None
    member = await deps.member_keys.vault.get(team, slack_id)
    return member if member is not None and member.working else None


async def key_failed(deps: Deps, member: ConnectedKey) -> None:
    """UltraCart refused a member's key: marked failed, and its owner told, once."""
    assert deps.member_keys is not None
    if await deps.member_keys.vault.mark_failed(member):
        log.warning("a member's UltraCart key (%s…) stopped working", member.fingerprint[:12])
        try:
            await deps.client.chat_postMessage(channel=member.slack_user_id, text=KEY_STOPPED)
        except Exception as exc:  # the mark stays: they will see it on /task connect
            log.warning("could not tell a member their key stopped working: %s", type(exc).__name__)
    await deps.member_keys.drop(member)


async def run_with_key(
    deps: Deps,
    member: ConnectedKey,
    label: str | None,
    tool: Tool[InT, OutT],
    args: dict[str, Any],
    *,
    fallback: bool,
) -> OutT:
    """``tool`` with the member's own key. Refused by UltraCart: the key is marked failed (its owner told
    once) and, with ``fallback``, the call runs again with the workspace's key (UltraCart did nothing);
    without, a ToolError says to connect again."""
    assert deps.member_keys is not None
    async with deps.member_keys.lease(member, deps.tools) as context:
        try:
            return await tool.run(context.acting_as(label), args)
        except ToolError as error:
            if not refused_key(error):
                raise
    await key_failed(deps, member)
    if not fallback:
        raise ToolError(KEY_STOPPED_MINE, kind=ErrorKind.UNAUTHORIZED)
    return await tool.run(deps.tools.acting_as(label), args)
