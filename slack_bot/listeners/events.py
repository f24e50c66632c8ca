"""Events: App Home opened → publish the user's tasks."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from slack_bot.deps import Deps
from slack_bot.errors import guard
from slack_bot.replies import publish_home


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    @guard(deps)
    async def home_opened(ack: AsyncAck, body: dict[str, Any]) -> None:
        # Bolt acknowledges events before the listener runs.
        event = body.get("event") or {}
        if event.get("tab", "home") != "home":
            return
        await publish_home(deps, str(body.get("team_id") or ""), str(event.get("user") or ""))
