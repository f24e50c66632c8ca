"""Who may use the bot, and where: guest accounts, and people from other organizations in a Slack Connect
channel (``is_stranger``), are refused unless ``UC_WORKFLOW_SLACK_ALLOW_GUESTS=1``;
with ``UC_WORKFLOW_SLACK_CHANNELS`` set, ``/task`` works only in those channels and in a member's DM with
the bot, and nothing is posted for everyone to see anywhere else. Also who the workspace's admins are
(``/task link``, ``/task people``, approving ``/task iam``).

:func:`refusal_in_time` runs in :func:`slack_bot.errors.guarded`, before every listener: within
``Deps.admission_wait`` seconds (Slack wants its answer within 3), else the request is refused with a line
saying to try again, while the look-up finishes behind and is cached for the next try.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bot.actors import slack_profile
from slack_bot.deps import Deps
from slack_bot.origin import Origin, origin_of

GUESTS_REFUSED = (
    "Guest accounts can't use this app; "
    "the workspace's admins can allow them with UC_WORKFLOW_SLACK_ALLOW_GUESTS=1."
)
STRANGERS_REFUSED = (
    "People from other organizations (in a Slack Connect channel) can't use this app; "
    "the workspace's admins can allow them with UC_WORKFLOW_SLACK_ALLOW_GUESTS=1."
)
TOO_SLOW = "Slack took too long to tell me who you are; try again in a moment."
ADMINS_ONLY = "Only workspace admins and owners can {what}; ask one of them."
USERS_LIST_PAGES = 20  # at 200 members a page: workspaces up to 4,000 members


def channel_refused(deps: Deps) -> str:
    shown = ", ".join(f"<#{c}>" for c in sorted(deps.channels or ()))
    return f"`/task` works only in {shown} and in your DM with me (UC_WORKFLOW_SLACK_CHANNELS)."


async def bot_dm(deps: Deps, slack_id: str) -> str:
    """The channel id of the member's DM with the bot (conversations.open, remembered)."""
    known = deps.bot_dms.get(slack_id)
    if known is None:
        response = await deps.client.conversations_open(users=slack_id)
        known = str((response.get("channel") or {}).get("id") or "")
        if known:
            deps.bot_dms[slack_id] = known
    return known


async def command_allowed_in(deps: Deps, origin: Origin) -> bool:
    """Whether ``/task`` may be used where it was typed."""
    if deps.channels is None or (origin.channel or "") in deps.channels:
        return True
    channel = origin.channel or ""
    return channel.startswith("D") and channel == await bot_dm(deps, origin.user)


def posts_allowed_in(deps: Deps, channel: str | None) -> bool:
    """Whether a card may be posted for everyone in ``channel`` (a DM reaches only its members)."""
    return deps.channels is None or (channel or "") in deps.channels or (channel or "").startswith("D")


async def refusal(deps: Deps, body: dict[str, Any]) -> str | None:
    """Why this request is refused, in one line (None: go ahead)."""
    origin = origin_of(body)
    if not origin.user:
        return None
    if not deps.allow_guests:
        profile = await slack_profile(deps, origin.user)
        if profile.is_stranger:
            return STRANGERS_REFUSED
        if profile.is_guest:
            return GUESTS_REFUSED
    if "command" in body and not await command_allowed_in(deps, origin):
        return channel_refused(deps)
    return None


async def refusal_in_time(deps: Deps, body: dict[str, Any]) -> str | None:
    """:func:`refusal`, decided within ``deps.admission_wait`` (a refusal when Slack is slower)."""
    if deps.allow_guests and deps.channels is None:
        return None  # nothing to decide: no call before the listener
    check = asyncio.ensure_future(refusal(deps, body))
    try:
        return await asyncio.wait_for(asyncio.shield(check), deps.admission_wait)
    except TimeoutError:
        check.add_done_callback(lambda t: t.cancelled() or t.exception())  # it fills the caches
        return TOO_SLOW


async def is_admin(deps: Deps, slack_id: str) -> bool:
    """A workspace admin or owner, asked of Slack now (not from the cache: rights change)."""
    return (await slack_profile(deps, slack_id, fresh=True)).is_admin


async def members(deps: Deps) -> list[dict[str, Any]]:
    """The workspace's people (users.list): no bots, no deactivated accounts."""
    found: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(USERS_LIST_PAGES):
        response = await deps.client.users_list(limit=200, cursor=cursor or None)
        for member in response.get("members") or []:
            if member.get("deleted") or member.get("is_bot") or member.get("id") == "USLACKBOT":
                continue
            found.append(member)
        cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            break
    return found


async def admins(deps: Deps) -> list[str]:
    """The Slack ids of the workspace's admins and owners."""
    return [
        str(m["id"])
        for m in await members(deps)
        if not m.get("is_stranger") and (m.get("is_admin") or m.get("is_owner") or m.get("is_primary_owner"))
    ]
