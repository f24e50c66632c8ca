"""What the app is built from: injected, so tests hand in a mock Slack client and a sandbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from slack_sdk.http_retry.async_handler import AsyncRetryHandler, HttpRequest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from shared_client.constants import DEFAULT_BASE_URL
from shared_client.tools import ToolContext
from shared_client.tools.directory import PeopleSnapshot
from slack_bot.digest.store import DigestSettings
from slack_bot.event_log import EventLog
from slack_bot.identity import IdentityStore

if TYPE_CHECKING:
    from shared_client.feed.store import FeedStore
    from slack_bot.keys import MemberKeys

SLACK_RESPONSE_URL_PREFIXES = ("https://hooks.slack.com/",)


# A trigger id lives 3 seconds: a retry after a 429's Retry-After (or a dropped connection, which may
# have opened the modal already) comes too late or twice, so these calls are never retried.
TRIGGER_METHODS = frozenset({"views.open", "views.push"})


# A dropped connection may come after Slack posted the message: posted again blindly it shows twice. Not
# retried on a connection error (the notifier and the digest look for the post, by its metadata, first).
POSTING_METHODS = frozenset({"chat.postMessage"})


def _method(request: HttpRequest) -> str:
    return urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1]


def spends_a_trigger(request: HttpRequest) -> bool:
    return _method(request) in TRIGGER_METHODS


class NoTriggerRetries(AsyncRetryHandler):
    """``inner``, except that a call spending a trigger id (:data:`TRIGGER_METHODS`), or one of
    ``methods``, is not retried."""

    def __init__(self, inner: AsyncRetryHandler, methods: frozenset[str] = frozenset()) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner
        self.methods = methods

    async def can_retry_async(self, *, request: HttpRequest, **attempt: Any) -> bool:
        if spends_a_trigger(request) or _method(request) in self.methods:
            return False
        return await self.inner.can_retry_async(request=request, **attempt)

    async def prepare_for_next_attempt_async(self, **attempt: Any) -> None:
        await self.inner.prepare_for_next_attempt_async(**attempt)


def slack_retry_handlers() -> list[AsyncRetryHandler]:
    """Slack's own 429s (after its Retry-After) and dropped connections are retried, except for calls
    that spend a trigger id, and for posts on a dropped connection (:data:`POSTING_METHODS`)."""
    return [
        NoTriggerRetries(AsyncConnectionErrorRetryHandler(), POSTING_METHODS),
        NoTriggerRetries(AsyncRateLimitErrorRetryHandler(max_retry_count=3)),
    ]


def slack_web_client(token: str, base_url: str) -> AsyncWebClient:
    """``base_url``: ``Settings.slack_api_url`` (``SLACK_API_URL``)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=slack_retry_handlers(),
    )


@dataclass
class SlackProfile:
    name: str
    email: str | None
    fetched_at: float
    zone: tzinfo | None = None  # their Slack time zone: a date they pick means that day there
    is_admin: bool = False  # a workspace admin or owner (users.info's is_admin / is_owner)
    is_guest: bool = False  # a guest account (users.info's is_restricted / is_ultra_restricted)
    is_stranger: bool = False  # from another organization, in a Slack Connect channel (is_stranger)


async def no_connected_user(team: str, slack_id: str) -> int | None:
    """Without ``/task connect``: nobody has connected a key."""
    return None


async def no_connected_members(team: str) -> dict[str, int]:
    return {}


@dataclass
class Deps:
    tools: ToolContext
    client: AsyncWebClient
    signing_secret: str
    identities: IdentityStore
    # Only these response_url prefixes are posted to (they arrive in signed payloads, but a modal carries
    # one through private_metadata; being strict costs nothing).
    response_url_prefixes: tuple[str, ...] = SLACK_RESPONSE_URL_PREFIXES
    # ``Settings.ultracart_base_url``: a linked object's URL is a link on a card only to this host (or
    # ultracart.com); whoever made the task chose the URL.
    ultracart_url: str = DEFAULT_BASE_URL
    # The UltraCart user id of a member's own connected key (``/task connect``), if any: the strongest
    # proof of who they are (see slack_bot.identity). ``connected_members``: every connected member of a
    # workspace, Slack id → UltraCart user id (for DMs and ``/task people``).
    connected_user: Callable[[str, str], Awaitable[int | None]] = no_connected_user
    connected_members: Callable[[str], Awaitable[dict[str, int]]] = no_connected_members
    # ``UC_WORKFLOW_SLACK_ALLOW_GUESTS`` and ``UC_WORKFLOW_SLACK_CHANNELS`` (None: every channel).
    allow_guests: bool = False
    channels: frozenset[str] | None = None
    admission_wait: float = 2.0  # how long the guest / channel check may take before the listener acks
    options_wait: float = 2.0  # how long a picker may wait for a cold people cache (Slack allows 3 s)
    profile_ttl: float = 600.0
    # An e-mail with no Slack account may get one (a new member): asked again after this long.
    email_miss_ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic  # for the caches' ages
    # Members' own UltraCart keys (/task connect, :mod:`slack_bot.keys`); None: not offered.
    member_keys: MemberKeys | None = None
    # The change feed of the workspace's key (its store and credential fingerprint), when it runs in this
    # deployment: App Home's "newly assigned" reads its changes. None: not known.
    feed: FeedStore | None = None
    feed_fingerprint: str = ""
    # The workspace this bot serves (its token's team): the notifier and the digests send for it only. Set
    # from the start-up auth.test; else asked once (:meth:`team`).
    team_id: str | None = None
    # Caches (per process).
    profiles: dict[str, SlackProfile] = field(default_factory=dict)
    slack_ids_by_email: dict[str, str] = field(default_factory=dict)
    slack_email_misses: dict[str, float] = field(default_factory=dict)  # e-mail → when Slack had none
    bot_dms: dict[str, str] = field(default_factory=dict)  # member → the channel id of their DM with the bot
    _people_refresh: asyncio.Task[PeopleSnapshot] | None = None
    # Which replica handles each Events API delivery: on the identities' database (a test may replace it).
    events: EventLog = field(init=False, repr=False)
    # Members' daily digests (/task digest, :mod:`slack_bot.digest`), with the clock they go by.
    digest_settings: DigestSettings = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.events = EventLog(self.identities.db)
        self.digest_settings = DigestSettings(self.identities.db)

    async def team(self) -> str:
        """The workspace this bot serves (auth.test, once)."""
        if self.team_id is None:
            answer = await self.client.auth_test()
            self.team_id = str(answer.get("team_id") or "")
        return self.team_id

    async def people(self) -> PeopleSnapshot:
        return await self.tools.people.get()

    def refresh_people(self) -> asyncio.Task[PeopleSnapshot]:
        """One background refresh at a time."""
        if self._people_refresh is None or self._people_refresh.done():
            self._people_refresh = asyncio.ensure_future(self.people())
            # A failed refresh is retried on the next miss; its error is not left unretrieved.
            self._people_refresh.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._people_refresh

    async def people_quickly(self) -> PeopleSnapshot | None:
        """For pickers, which must answer within Slack's 3 s: the fresh cache, else the last snapshot
        while a refresh runs behind, else whatever arrives within ``options_wait``."""
        if self.tools.people.is_fresh():
            return await self.people()
        refresh = self.refresh_people()
        if self.tools.people.latest is not None:
            return self.tools.people.latest
        try:
            return await asyncio.wait_for(asyncio.shield(refresh), self.options_wait)
        except TimeoutError:
            return None
