"""The identity buttons: an admin's Approve / Decline on a ``/task iam`` request, and Link in
``/task people`` (:mod:`slack_bot.linking` decides; each checks that the clicker is an admin now)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from slack_bot import ids, linking
from slack_bot.deps import Deps
from slack_bot.errors import guard
from slack_bot.origin import origin_of


def _value(body: dict[str, Any]) -> str:
    return str(((body.get("actions") or [{}])[0]).get("value") or "")


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(ids.IAM_APPROVE)
    @guard(deps)
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await linking.answer_request(deps, origin_of(body), _value(body), approve=True)

    @app.action(ids.IAM_DECLINE)
    @guard(deps)
    async def decline(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await linking.answer_request(deps, origin_of(body), _value(body), approve=False)

    @app.action(ids.PEOPLE_LINK)
    @guard(deps)
    async def link(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await linking.link_button(deps, origin_of(body), _value(body))
