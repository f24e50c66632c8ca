"""Who is who: the Slack user behind a request as an UltraCart user (the actor), Slack users named in a
command, the Slack user of an UltraCart user, and tools run as the actor, so UltraCart's notes name them.

Only proven identities count (see :mod:`slack_bot.identity`): a connected key, an admin's link, an
approved ``/task iam``, or an UltraCart user whose name is the member's Slack e-mail.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from shared_client.models import WorkflowGroup, WorkflowUser, email_name
from shared_client.tools import Tool
from shared_client.tools.base import InT, OutT
from slack_bot import ids
from slack_bot.deps import Deps, SlackProfile
from slack_bot.grammar import ArgValue, SlackUser
from slack_bot.identity import CONNECTED, EMAIL, IAM, LINK, TRUSTED
from slack_bot.keys import run_with_key, working_key

HOW_KNOWN = {
    CONNECTED: "your own UltraCart key",
    LINK: "linked by a workspace admin",
    IAM: "you asked, a workspace admin approved",
    EMAIL: "your Slack e-mail is your UltraCart user name",
}


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
    source: str | None = None  # identity.CONNECTED, LINK, IAM, EMAIL or None (no verified identity)
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
    with contextlib.suppress(ValueError, ZoneInfoNotFoundError, OSError):  # OSError: a directory, too long
        if user.get("tz"):
            return ZoneInfo(str(user["tz"]))
    offset = user.get("tz_offset")
    if isinstance(offset, int) and abs(offset) < 86400:
        return timezone(timedelta(seconds=offset))
    return None


async def slack_profile(deps: Deps, slack_id: str, *, fresh: bool = False) -> SlackProfile:
    """The member's users.info, cached for ``deps.profile_ttl`` (``fresh``: asked again, for decisions
    that grant something, such as whether they are an admin now)."""
    cached = deps.profiles.get(slack_id)
    if not fresh and cached is not None and deps.clock() - cached.fetched_at < deps.profile_ttl:
        return cached
    response = await deps.client.users_info(user=slack_id)
    user = response.get("user") or {}
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
    )
    # From another organization (Slack Connect): its admins are no admins here, and it is no member.
    stranger = bool(user.get("is_stranger"))
    result = SlackProfile(
        str(name or slack_id),
        # Only an e-mail Slack has confirmed says who someone is.
        profile.get("email") if user.get("is_email_confirmed") is not False else None,
        deps.clock(),
        slack_zone(user),
        is_admin=not stranger
        and bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
        is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        is_stranger=stranger,
    )
    deps.profiles[slack_id] = result
    return result


HOW_TO_GET_AN_IDENTITY = (
    "connect your own UltraCart key with `/task connect`, ask a workspace admin to "
    "`/task link @you USER`, or ask for it with `/task iam USER` (an admin approves)"
)


def no_mapping_message(slack_id: str) -> str:
    """What a member without a verified UltraCart identity is told."""
    return (
        f"I don't know who <@{slack_id}> is in UltraCart yet: {HOW_TO_GET_AN_IDENTITY}. "
        "Until then you can search and change tasks, but not see yours, get DMs or take tasks."
    )


async def identify(deps: Deps, team: str, slack_id: str, *, required: bool = True) -> Actor:
    """The member as an UltraCart user: their connected key's user, else an admin's link or an approved
    ``/task iam``, else the UltraCart user whose name is exactly their Slack e-mail. Nothing a member
    merely says about themselves counts."""
    profile = await slack_profile(deps, slack_id)
    actor = Actor(slack_id, team, profile.name, slack_email=profile.email, zone=profile.zone)
    people = await deps.people()
    connected = await deps.connected_user(team, slack_id)
    if connected is not None:
        actor.user = people.user_by_id(connected) or WorkflowUser(user_id=connected)
        actor.source = CONNECTED
    if actor.user is None:
        mapping = await deps.identities.get(team, slack_id)
        if mapping is not None and mapping.source in TRUSTED:
            actor.user = people.user_by_id(mapping.uc_user_id)
            actor.source = mapping.source if actor.user is not None else None
    if actor.user is None and profile.email:
        # Slack verifies members' e-mails; UltraCart's users have none, except a name that is one.
        key = profile.email.strip().lower()
        actor.user = next((u for u in people.users if email_name(u) == key), None)
        actor.source = EMAIL if actor.user is not None else None
    if actor.user is None:
        if required:
            raise NotMapped(no_mapping_message(slack_id))
        return actor
    actor.is_credential_user = actor.user.user_id is not None and actor.user.user_id == people.my_user_id
    joined = await deps.identities.groups(team, slack_id)
    actor.groups = [g for g in (people.group_by_id(gid) for gid in joined) if g is not None]
    return actor


def how_known(actor: Actor) -> str:
    """How the bot knows who the member is, in a few words."""
    return HOW_KNOWN.get(actor.source or "", "not verified")


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
                raise NotMapped(no_mapping_message(actor.slack_id))
            resolved[key] = (
                "me" if search and key == "assignee" and actor.is_credential_user else user_ref(actor.user)
            )
            continue
        other = await identify(deps, actor.team, value.user_id, required=False)
        if other.user is None:
            raise NotMapped(
                f"I don't know who <@{value.user_id}> is in UltraCart yet: name the UltraCart user instead, "
                f"or have them {HOW_TO_GET_AN_IDENTITY}."
            )
        resolved[key] = user_ref(other.user)
    return resolved


async def slack_user_for(deps: Deps, team: str, uc_user_id: int) -> str | None:
    """The Slack user of an UltraCart user: one who connected that user's key, else one an admin linked
    (or approved), else the Slack account whose e-mail is the UltraCart user's name, if that is one."""
    connected = await deps.connected_members(team)
    mine = sorted(slack_id for slack_id, uid in connected.items() if uid == uc_user_id)
    if mine:
        return mine[0]
    known = await deps.identities.slack_users_for(team, uc_user_id)
    if known:
        return known[0]
    people = await deps.people()
    user = people.user_by_id(uc_user_id)
    email = email_name(user) if user else None
    if not email:
        return None
    if email in deps.slack_ids_by_email:
        return deps.slack_ids_by_email[email]
    missed = deps.slack_email_misses.get(email)
    if missed is not None and deps.clock() - missed < deps.email_miss_ttl:
        return None
    try:
        found = await deps.client.users_lookupByEmail(email=email)
        member = found.get("user") or {}
        confirmed = member.get("is_email_confirmed") is not False and not member.get("is_stranger")
        slack_id = (str(member.get("id") or "") or None) if confirmed else None
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
