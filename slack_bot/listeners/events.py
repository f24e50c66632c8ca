"""Events: App Home opened → publish the user's tasks. Slack's retries of an event are acknowledged and
dropped."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.response import BoltResponse

from slack_bot.deps import Deps
from slack_bot.errors import guard
from slack_bot.replies import publish_home

RETRY_HEADER = "x-slack-retry-num"


def is_event_retry(request: AsyncBoltRequest, body: dict[str, Any]) -> bool:
    """Slack sends an event again when our answer was slow or failed. Bolt answers events before their
    listener runs, so the first delivery is (or was) handled; a lost App Home refresh costs one stale view,
    a second run costs duplicate work."""
    return body.get("type") == "event_callback" and bool(request.headers.get(RETRY_HEADER))


def register(app: AsyncApp, deps: Deps) -> None:
    @app.middleware
    async def drop_event_retries(
        req: AsyncBoltRequest, body: dict[str, Any], next: Any
    ) -> BoltResponse | None:
        if is_event_retry(req, body):
            return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        await next()
        return None

    @app.event("app_home_opened")
    @guard(deps)
    async def home_opened(ack: AsyncAck, body: dict[str, Any]) -> None:
        # Bolt acknowledges events before the listener runs.
        event = body.get("event") or {}
        if event.get("tab", "home") != "home":
            return
        await publish_home(deps, str(body.get("team_id") or ""), str(event.get("user") or ""))
