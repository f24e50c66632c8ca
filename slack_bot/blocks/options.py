"""Options for the assignee pickers: users and groups in one list, as option groups, from the cached
people directory. Slack shows at most 100 options; labels are cut to 75 characters."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Option, OptionGroup

from shared_client.models import WorkflowGroup, WorkflowUser
from slack_bot import ids
from slack_bot.blocks import common as c

MAX_GROUP_OPTIONS = 25


def user_option(user: WorkflowUser) -> Option:
    label = user.user or f"user {user.user_id}"
    return c.option(label, f"{ids.USER_PREFIX}{user.user_id}")


def group_option(group: WorkflowGroup) -> Option:
    return c.option(group.group or f"group {group.group_id}", f"{ids.GROUP_PREFIX}{group.group_id}")


def _matches(query: str, *texts: str | None) -> bool:
    return not query or any(query in (text or "").lower() for text in texts)


def assignee_option_groups(
    users: list[WorkflowUser], groups: list[WorkflowGroup], query: str, *, special: bool = False
) -> list[dict[str, Any]]:
    """``special`` adds "me" and "unassigned" (for search filters)."""
    key = query.strip().lower()
    result: list[OptionGroup] = []
    budget = c.MAX_OPTIONS
    if special:
        specials = (("Me (mine)", ids.ME_VALUE), ("Unassigned", ids.UNASSIGNED_VALUE))
        extra = [c.option(label, value) for label, value in specials if _matches(key, label, value)]
        if extra:
            result.append(OptionGroup(label="Shortcuts", options=extra))
            budget -= len(extra)
    matching_groups = [g for g in groups if _matches(key, g.group)][: min(MAX_GROUP_OPTIONS, budget)]
    budget -= len(matching_groups)
    matching_users = [u for u in users if _matches(key, u.user)][:budget]
    if matching_users:
        result.append(OptionGroup(label="People", options=[user_option(u) for u in matching_users]))
    if matching_groups:
        result.append(OptionGroup(label="Groups", options=[group_option(g) for g in matching_groups]))
    return [g.to_dict("block") for g in result]


def assignee_initial_option(
    user_id: int | None, user: str | None, group_id: int | None, group: str | None
) -> Option | None:
    if user_id is not None:
        return c.option(user or f"user {user_id}", f"{ids.USER_PREFIX}{user_id}")
    if group_id is not None:
        return c.option(group or f"group {group_id}", f"{ids.GROUP_PREFIX}{group_id}")
    return None
