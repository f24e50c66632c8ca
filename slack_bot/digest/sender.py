"""The change feed's consumer that sends the daily digests that are due.

``FeedRunner(..., consumers=[Digests(deps)])`` awaits it after every poll, on the feed's leader: each call
reads the members whose digest is on, and for each one whose local time has reached their ``HH:MM`` and
whose digest for that local date is not claimed yet, claims it (:meth:`DigestSettings.claim`: one
replica wins), builds the three lists from the feed's snapshot (no UltraCart call) and DMs them.

Who gets one: a member with a trusted identity (their own connected key, an admin's link or an approved
``/task iam``). A member without one gets nothing that day (their day is marked done, so they are not
looked at again on every poll). A member with nothing in any list gets no DM either: a daily "nothing due"
would teach people to ignore the bot's DMs, and App Home says so whenever they look.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

import aiohttp
from slack_sdk.errors import SlackApiError

from shared_client.feed.store import FeedStore
from slack_bot.blocks import common as c
from slack_bot.blocks.digest import digest_blocks, digest_text
from slack_bot.deps import Deps
from slack_bot.digest.lists import from_feed, window_start
from slack_bot.digest.store import DigestSetting
from slack_bot.identity import TRUSTED
from slack_bot.notify.notifier import find_posted, notification_metadata

__all__ = ["Digests", "trusted_user"]

LOG = logging.getLogger(__name__)


async def trusted_user(
    deps: Deps, team_id: str, slack_user_id: str, *, connected: dict[str, int] | None = None
) -> int | None:
    """The member's UltraCart user id as far as it is proven without asking UltraCart: their own connected
    key's user, else an admin's link or an approved ``/task iam`` (``connected``: the workspace's connected
    members, when the caller read them already)."""
    members = connected if connected is not None else await deps.connected_members(team_id)
    if slack_user_id in members:
        return members[slack_user_id]
    mapping = await deps.identities.get(team_id, slack_user_id)
    if mapping is not None and mapping.source in TRUSTED:
        return mapping.uc_user_id
    return None


class Digests:
    """``await digests(store, fingerprint)``: send the digests that are due now (``clock``: now, an aware
    datetime; by default the one ``/task digest`` goes by, ``deps.digest_settings.clock``)."""

    def __init__(
        self, deps: Deps, *, clock: Callable[[], datetime] | None = None, team_id: str | None = None
    ) -> None:
        self.deps = deps
        self.settings = deps.digest_settings
        self._clock = clock
        self.team_id = team_id

    async def team(self) -> str:
        """The workspace this bot serves (auth.test, once): its token and its key's feed are that
        workspace's, so only that workspace's members' digests are this bot's to send."""
        return self.team_id if self.team_id is not None else await self.deps.team()

    def now(self) -> datetime:
        return (self._clock or self.settings.clock)()

    async def __call__(self, store: FeedStore, fingerprint: str) -> None:
        now = self.now()
        team = await self.team()
        due = [
            (setting, day)
            for setting in await self.settings.enabled()
            if setting.team_id == team and (day := self.settings.due_date(setting, now)) is not None
        ]
        connected: dict[str, dict[str, int]] = {}
        for setting, day in due:
            team = setting.team_id
            if team not in connected:
                connected[team] = await self.deps.connected_members(team)
            await self._one(store, fingerprint, setting, day, now, connected[team])

    async def _one(
        self,
        store: FeedStore,
        fingerprint: str,
        setting: DigestSetting,
        day: date,
        now: datetime,
        connected: dict[str, int],
    ) -> None:
        who = setting.slack_user_id
        user_id = await trusted_user(self.deps, setting.team_id, who, connected=connected)
        if not await self.settings.claim(setting, day, now):
            return  # another replica has it (or had it)
        if user_id is None:
            LOG.info("digest for %s on %s: no trusted UltraCart identity, nothing sent", who, day)
            await self.settings.sent(setting, day, covered_until=None)
            return
        groups = await self.deps.identities.groups(setting.team_id, who)
        lists = await from_feed(
            store,
            fingerprint,
            user_id=user_id,
            group_ids=groups,
            zone=setting.zone,
            now=now,
            since=window_start(setting, now),
        )
        if lists.empty:
            await self.settings.sent(setting, day, covered_until=now)  # nothing to say: no DM
            return
        identity = f"digest:{setting.team_id}:{who}:{day.isoformat()}"
        try:
            # A claim taken over: the one before may have posted it and died before recording it.
            retried = setting.last_date == day and setting.claimed_at is not None
            if retried and await find_posted(self.deps.client, who, identity, (setting.claimed_at or 0) - 60):
                LOG.info("digest for %s on %s had reached Slack already; not sent again", who, day)
                await self.settings.sent(setting, day, covered_until=now)
                return
            await self.deps.client.chat_postMessage(
                channel=who,  # their DM with the app (as replies.reply does)
                blocks=c.dump(digest_blocks(lists, day)),
                text=digest_text(lists, day),
                metadata=notification_metadata(identity),
            )
        except (SlackApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            code = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            LOG.warning("digest for %s on %s not sent (%s); tried again later", who, day, code)
            return  # the claim stays unrecorded: retried after DigestSettings.retry_after
        await self.settings.sent(setting, day, covered_until=now)
