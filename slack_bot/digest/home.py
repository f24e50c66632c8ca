"""App Home's digest lists: overdue and due today from the tasks App Home searched for anyway, newly
assigned from the change feed's ``assigned`` changes of the last 24 hours (no UltraCart call of its own).
Opening App Home also keeps the digest's time zone in step with Slack's (a member who travelled)."""

from __future__ import annotations

from datetime import UTC

from slack_bot.actors import Actor
from slack_bot.deps import Deps
from slack_bot.digest.lists import DEFAULT_WINDOW, DigestLists, assignments, newly_assigned, split
from slack_bot.digest.store import zone_name
from slack_bot.mine import MyTasks

__all__ = ["home_lists"]


async def home_lists(deps: Deps, actor: Actor, mine: MyTasks) -> DigestLists:
    """The member's three lists for App Home. "Newly assigned" is None (not shown) when the change feed
    does not run in this deployment (``deps.feed``)."""
    settings = deps.digest_settings
    now = settings.clock()
    setting = await settings.get(actor.team, actor.slack_id)
    zone = actor.zone or (setting.zone if setting is not None else UTC)
    if setting is not None and actor.zone is not None and zone_name(actor.zone) != setting.zone_name:
        # They moved (Slack's time zone follows them): the digest follows too.
        await settings.set_zone(actor.team, actor.slack_id, zone_name(actor.zone))
    new = None
    user_id = actor.user.user_id if actor.user is not None else None
    if deps.feed is not None and user_id is not None:
        found = await assignments(deps.feed.db, deps.feed_fingerprint, now - DEFAULT_WINDOW, now)
        new = newly_assigned(
            found,
            user_id=user_id,
            group_ids=[g.group_id for g in actor.groups if g.group_id is not None],
            group_tasks=[s.uuid for s in mine.in_groups],
        )
    return split([*mine.direct, *mine.in_groups], new=new, zone=zone, now=now)
