"""Who is who: the Slack user behind a request as an UltraCart user (the actor), Slack users named in a
command, the Slack user of an UltraCart user, and tools run as the actor, so UltraCart's notes name them.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools import Tool
from shared_client.tools.base import InT, OutT
from slack_bot import ids
from slack_bot import text as t
from slack_bot.deps import Deps, SlackProfile
from slack_bot.grammar import ArgValue, SlackUser
from slack_bot.identity import EMAIL, OVERRIDE
from slack_bot.keys import run_with_key, working_key

EMAIL_MAPPING_TTL = 86400.0


class NotMapped(Exception):
    """A Slack user we cannot match to an UltraCart user; the message says how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Actor:
    slack_id: str
    team: str
    name: str
    user: WorkflowUser | None = None
    source: str | None = None  # OVERRIDE, EMAIL or None (not mapped)
    slack_email: str | None = None
    is_credential_user: bool = False
    groups: list[WorkflowGroup] = field(default_factory=list)
    zone: tzinfo | None = None  # their Slack time zone

    @property
    def label(self) -> str:
        """How notes name them in UltraCart: ``— via Slack user U123ABC``. Their id, not the display
        name each member sets for themselves (anyone could call themselves "Alice")."""
        return f"Slack user {self.slack_id}"


def slack_zone(user: dict[str, Any]) -> tzinfo | None:
    """The member's time zone from users.info: ``tz`` (a zone name, right on every day of the year),
    else ``tz_offset`` (seconds east of UTC, as of now)."""
    with contextlib.suppress(ValueError, ZoneInfoNotFoundError):
        if user.get("tz"):
            return ZoneInfo(str(user["tz"]))
    offset = user.get("tz_offset")
    if isinstance(offset, int) and abs(offset) < 86400:
        return timezone(timedelta(seconds=offset))
    return None


async def slack_profile(deps: Deps, slack_id: str) -> SlackProfile:
    cached = deps.profiles.get(slack_id)
    if cached is not None and deps.clock() - cached.fetched_at < deps.profile_ttl:
        return cached
    response = await deps.client.users_info(user=slack_id)
    user = response.get("user") or {}
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
    )
    result = SlackProfile(str(name or slack_id), profile.get("email"), deps.clock(), slack_zone(user))
    deps.profiles[slack_id] = result
    return result


def no_mapping_message(slack_id: str, email: str | None) -> str:
    why = (
        f"your Slack e-mail ({email}) is not an UltraCart user's"
        if email
        else "Slack does not show me your e-mail"
    )
    return (
        f"I can't tell who <@{slack_id}> is in UltraCart: {t.escape(why)}. "
        'Set it with `/task iam you@company.com` or `/task iam "Your Name"`.'
    )


async def identify(deps: Deps, team: str, slack_id: str, *, required: bool = True) -> Actor:
    profile = await slack_profile(deps, slack_id)
    actor = Actor(slack_id, team, profile.name, slack_email=profile.email, zone=profile.zone)
    people = await deps.people()
    mapping = await deps.identities.get(team, slack_id)
    fresh_email_mapping = (
        mapping is not None
        and mapping.source == EMAIL
        and time.time() - mapping.updated_at < EMAIL_MAPPING_TTL
    )
    if mapping is not None and (mapping.source == OVERRIDE or fresh_email_mapping):
        actor.user = people.user_by_id(mapping.uc_user_id)
        actor.source = mapping.source
    if actor.user is None and profile.email:
        key = profile.email.lower()
        actor.user = next((u for u in people.users if (u.email or "").lower() == key), None)
        if actor.user is not None and actor.user.user_id is not None:
            actor.source = EMAIL
            await deps.identities.set(team, slack_id, actor.user.user_id, EMAIL)
    if actor.user is None:
        if required:
            raise NotMapped(no_mapping_message(slack_id, profile.email))
        return actor
    actor.is_credential_user = actor.user.user_id is not None and actor.user.user_id == people.my_user_id
    joined = await deps.identities.groups(team, slack_id)
    actor.groups = [g for g in (people.group_by_id(gid) for gid in joined) if g is not None]
    return actor


def user_ref(user: WorkflowUser) -> str:
    return f"{ids.USER_PREFIX}{user.user_id}"


async def resolve_slack_users(
    deps: Deps, actor: Actor, args: dict[str, ArgValue], *, search: bool = False
) -> dict[str, Any]:
    """Slack users in arguments become UltraCart users. In a search, ``me`` for the credential's own
    user, or a member with a connected key, is UltraCart's 'me' (directly or through my groups); for anyone
    else it is their direct tasks."""
    resolved: dict[str, Any] = {}
    for key, value in args.items():
        if not isinstance(value, SlackUser):
            resolved[key] = value
            continue
        if value.user_id is None or value.user_id == actor.slack_id:
            if search and key == "assignee" and await working_key(deps, actor.team, actor.slack_id):
                resolved[key] = "me"  # their own key's 'me' (groups included): see run_tool
                continue
            if actor.user is None:
                raise NotMapped(no_mapping_message(actor.slack_id, actor.slack_email))
            resolved[key] = (
                "me" if search and key == "assignee" and actor.is_credential_user else user_ref(actor.user)
            )
            continue
        other = await identify(deps, actor.team, value.user_id, required=False)
        if other.user is None:
            raise NotMapped(
                f"<@{value.user_id}> has no UltraCart user I can find by e-mail; they can set one with "
                "`/task iam NAME-OR-EMAIL`, or name the UltraCart user instead of the Slack user."
            )
        resolved[key] = user_ref(other.user)
    return resolved


async def slack_user_for(deps: Deps, team: str, uc_user_id: int) -> str | None:
    """The Slack user of an UltraCart user: one mapped to them, else the Slack account with their e-mail."""
    known = await deps.identities.slack_users_for(team, uc_user_id)
    if known:
        return known[0]
    people = await deps.people()
    user = people.user_by_id(uc_user_id)
    email = (user.email or "").lower() if user else ""
    if not email:
        return None
    if email in deps.slack_ids_by_email:
        return deps.slack_ids_by_email[email]
    missed = deps.slack_email_misses.get(email)
    if missed is not None and deps.clock() - missed < deps.email_miss_ttl:
        return None
    try:
        found = await deps.client.users_lookupByEmail(email=email)
        slack_id = str((found.get("user") or {}).get("id") or "") or None
    except SlackApiError as exc:
        if exc.response.get("error") != "users_not_found":
            raise
        slack_id = None
    if slack_id is None:
        deps.slack_email_misses[email] = deps.clock()
    else:
        deps.slack_ids_by_email[email] = slack_id
        deps.slack_email_misses.pop(email, None)
    return slack_id


async def run_tool(deps: Deps, actor: Actor | None, tool: Tool[InT, OutT], args: dict[str, Any]) -> OutT:
    """``tool`` as the Slack user (``None``: as the bot, for reads that change nothing): with their own
    UltraCart key when they connected one that works (:mod:`slack_bot.keys`), else the workspace's."""
    if actor is not None and (member := await working_key(deps, actor.team, actor.slack_id)) is not None:
        # 'me' is the key's own user: with the workspace's key instead it would be someone else.
        fallback = "me" not in args.values()
        return await run_with_key(deps, member, actor.label, tool, args, fallback=fallback)
    context = deps.tools.acting_as(actor.label) if actor is not None else deps.tools
    return await tool.run(context, args)
