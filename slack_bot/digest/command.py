"""``/task digest on|off|HH:MM`` (and ``/task digest`` alone: the current setting), answered ephemerally
with when the next digest goes out, in the member's time."""

from __future__ import annotations

from datetime import datetime

from slack_bot import grammar
from slack_bot import text as t
from slack_bot.actors import HOW_TO_GET_AN_IDENTITY, slack_profile
from slack_bot.blocks.help import notice_blocks
from slack_bot.deps import Deps
from slack_bot.digest.sender import trusted_user
from slack_bot.digest.store import DEFAULT_TIME, DigestSetting, next_digest, zone_name
from slack_bot.origin import Origin
from slack_bot.replies import reply

__all__ = ["handle_digest", "when"]


def when(at: datetime, now: datetime) -> str:
    """``today at 09:00``, ``tomorrow at 09:00``, ``on Friday 4 December at 09:00`` (``at`` in the
    member's zone), or ``within a minute`` when it is due now."""
    local_now = now.astimezone(at.tzinfo)
    if at <= local_now:
        return "within a minute"
    days = (at.date() - local_now.date()).days
    day = {0: "today", 1: "tomorrow"}.get(days, f"on {at:%A} {at.day} {at:%B}")
    return f"{day} at {at:%H:%M}"


def _is_on(setting: DigestSetting, now: datetime) -> str:
    zone = t.escape(zone_name(setting.zone))  # the zone it goes by (UTC for a stored name that is none)
    return (
        f"Your daily digest is *on* at {setting.time_text} ({zone}): the next one comes "
        f"*{when(next_digest(setting, now), now)}* your time, as a DM with your overdue tasks, "
        "those due today and those newly assigned."
    )


async def handle_digest(deps: Deps, origin: Origin, request: grammar.DigestSetting) -> None:
    settings = deps.digest_settings
    now = settings.clock()
    if request.action == "show":
        current = await settings.get(origin.team, origin.user)
        if current is not None and current.enabled:
            message = _is_on(current, now) + " `/task digest off` stops it."
        else:
            at = current.time_text if current is not None else f"{DEFAULT_TIME[0]:02d}:{DEFAULT_TIME[1]:02d}"
            message = (
                f"Your daily digest is *off*. `/task digest on` sends it every day at {at}, "
                "`/task digest HH:MM` at another time (your Slack time zone)."
            )
    elif request.action == "off":
        before = await settings.turn_off(origin.team, origin.user)
        at = before.time_text if before is not None else "09:00"
        message = f"Your daily digest is *off*. `/task digest on` starts it again at {at}."
    else:
        # Their time zone as Slack has it now (asked afresh: they may have travelled since).
        zone = zone_name((await slack_profile(deps, origin.user, fresh=True)).zone)
        setting = await settings.turn_on(origin.team, origin.user, zone=zone, at=request.at)
        message = _is_on(setting, now)
        if await trusted_user(deps, origin.team, origin.user) is None:
            message += (
                "\n:warning: It cannot list anything until I know who you are in UltraCart: "
                f"{HOW_TO_GET_AN_IDENTITY}."
            )
    await reply(deps, origin, notice_blocks(message), message.split("\n", 1)[0].replace("*", ""))
