"""Events: App Home opened → publish the user's tasks. Each event is handled once across replicas: every
delivery claims its ``event_id`` first (:mod:`slack_bot.event_log`); one already handled is acknowledged
and dropped, one claimed and not yet handled is answered 503 (Slack sends it again later)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.response import BoltResponse

from slack_bot.deps import Deps
from slack_bot.errors import Listener, guard
from slack_bot.replies import publish_home

LOG = logging.getLogger(__name__)

RETRY_HEADER = "x-slack-retry-num"  # Slack's, on a delivery sent again (Bolt's headers are lowercased)


def event_id_of(body: dict[str, Any]) -> str | None:
    """The ``event_id`` of an Events API delivery (``None`` for anything else)."""
    if body.get("type") != "event_callback":
        return None
    return str(body.get("event_id") or "") or None


def marks_handled(deps: Deps, listener: Listener) -> Listener:
    """``listener`` (already guarded: it raises only when cancelled, and then it has not finished), then its
    event's claim marked handled."""

    async def run(ack: AsyncAck, body: dict[str, Any]) -> None:
        await listener(ack, body)
        event_id = event_id_of(body)
        if event_id is not None:
            await deps.events.handled(event_id)

    run.__name__ = getattr(listener, "__name__", "listener")
    return run


def once(deps: Deps) -> Callable[[Listener], Listener]:
    """As a decorator above ``@guard(deps)`` on an event listener."""
    return lambda listener: marks_handled(deps, listener)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.middleware
    async def one_replica_per_event(
        req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        event_id = event_id_of(body)
        if event_id is not None and not await deps.events.claim(event_id, str(body.get("team_id") or "")):
            retry = req.headers.get(RETRY_HEADER) or ["0"]
            if await deps.events.is_handled(event_id):
                LOG.info("event %s (delivery %s) was handled: dropped", event_id, retry[0])
                return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
            # Claimed, not handled: its claimant may have died. A 2xx would end Slack's retries and lose
            # the event; a 503 has Slack send it again later, when a stale claim is taken over.
            LOG.info("event %s (delivery %s) is being handled elsewhere: retry later", event_id, retry[0])
            return BoltResponse(status=503, body="")
        await next()
        return None

    @app.event("app_home_opened")
    @once(deps)
    @guard(deps)
    async def home_opened(ack: AsyncAck, body: dict[str, Any]) -> None:
        # Bolt acknowledges events before the listener runs.
        event = body.get("event") or {}
        if event.get("tab", "home") != "home":
            return
        await publish_home(deps, str(body.get("team_id") or ""), str(event.get("user") or ""))
