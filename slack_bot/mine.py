"""What "my tasks" are, for ``/task mine`` and App Home: open tasks assigned to me directly or through
my groups, overdue first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared_client.tools import SEARCH_TASKS
from shared_client.tools.outputs import TaskSummary
from slack_bot import text as t
from slack_bot.actors import Actor, run_tool, user_ref
from slack_bot.deps import Deps
from slack_bot.keys import run_with_key, working_key

MINE_LIMIT = 200
MINE_ARGS = {"status": "open", "limit": MINE_LIMIT}


@dataclass
class MyTasks:
    direct: list[TaskSummary]
    in_groups: list[TaskSummary]  # assigned to one of my groups and to no one yet
    everything: list[TaskSummary]  # what "mine" lists
    note: str | None


def overdue_first(tasks: list[TaskSummary]) -> list[TaskSummary]:
    return sorted(tasks, key=lambda s: (not s.overdue, s.due is None, s.due or "", s.number or 0))


async def _open_tasks(deps: Deps, actor: Actor, args: dict[str, Any]) -> list[TaskSummary]:
    output = await run_tool(deps, actor, SEARCH_TASKS, {**args, "status": "open", "limit": MINE_LIMIT})
    return list(output.tasks or [])


async def my_tasks(deps: Deps, actor: Actor) -> MyTasks:
    """Open tasks assigned to me directly or through my groups.

    UltraCart knows group membership only for the credential's own user (``assigned_to_me``): a member
    who connected their own key (:mod:`slack_bot.keys`) is their key's user, and the workspace key has its
    own user; for them we ask UltraCart ('me'). For anyone else we ask for their direct tasks plus the tasks
    of the groups they said they belong to (``/task join``), and say so rather than guess.
    """
    member = await working_key(deps, actor.team, actor.slack_id)
    if member is not None:  # their own key: UltraCart's own 'me', groups included
        output = await run_with_key(
            deps, member, actor.label, SEARCH_TASKS, {**MINE_ARGS, "assignee": "me"}, fallback=False
        )
        found = list(output.tasks or [])
        my_name = member.uc_user_name.lower()
        direct = [s for s in found if (s.assignee or "").lower() == my_name]
        note = None
    elif actor.is_credential_user:
        found = await _open_tasks(deps, actor, {"assignee": "me"})
        my_name = ((actor.user.user if actor.user else None) or "").lower()
        direct = [s for s in found if (s.assignee or "").lower() == my_name]
        note = None
    else:
        assert actor.user is not None
        found = await _open_tasks(deps, actor, {"assignee": user_ref(actor.user)})
        direct = list(found)
        seen = {s.uuid for s in found}
        for group in actor.groups:
            for summary in await _open_tasks(deps, actor, {"group": str(group.group_id)}):
                if summary.uuid not in seen:
                    seen.add(summary.uuid)
                    found.append(summary)
        if actor.groups:
            names = ", ".join(t.escape(g.group or str(g.group_id)) for g in actor.groups)
            note = f"Including your groups: {names} (`/task groups` to change)."
        else:
            note = (
                "Only tasks assigned to you directly: UltraCart tells me group membership only for "
                'its own account. Add yours with `/task join "GROUP"` to see group tasks too.'
            )
    in_groups = [s for s in found if not s.assignee and s.group]
    return MyTasks(overdue_first(direct), overdue_first(in_groups), overdue_first(found), note)
