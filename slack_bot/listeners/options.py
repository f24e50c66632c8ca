"""Options for the assignee pickers, from the cached people lists (Slack waits at most 3 s)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from slack_bot import ids
from slack_bot.blocks.options import assignee_option_groups
from slack_bot.deps import Deps
from slack_bot.errors import guard


def register(app: AsyncApp, deps: Deps) -> None:
    @guard(deps)
    async def assignee_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        people = await deps.people_quickly()
        if people is None:  # the cache is cold and UltraCart is slow: Slack retries as the person types
            await ack(options=[])
            return
        special = (body.get("view") or {}).get("callback_id") == ids.SEARCH_MODAL
        groups = assignee_option_groups(
            people.users, people.groups, str(body.get("value") or ""), special=special
        )
        await ack(option_groups=groups) if groups else await ack(options=[])

    app.options(ids.ASSIGNEE)(assignee_options)
    app.options(ids.REASSIGN)(assignee_options)
