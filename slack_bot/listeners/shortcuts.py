"""The message shortcut "Create task from message": the create modal, prefilled, linking back."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from slack_bot import ids
from slack_bot.blocks.modals import CreatePrefill, create_modal, cut_title
from slack_bot.deps import Deps
from slack_bot.errors import guard
from slack_bot.origin import meta_for, origin_of
from slack_bot.text import slack_to_plain

log = logging.getLogger("slack_bot")

MAX_TITLE = 120


def prefill_from_message(text: str, permalink: str | None) -> CreatePrefill:
    plain = slack_to_plain(text).strip()
    first_line = next((line.strip() for line in plain.splitlines() if line.strip()), "")
    title, _ = cut_title(first_line, MAX_TITLE)  # the whole message is in the details
    details = plain + (f"\n\nFrom Slack: {permalink}" if permalink else "")
    return CreatePrefill(title=title, details=details, source_link=permalink)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.shortcut(ids.SHORTCUT_CREATE_FROM_MESSAGE)
    @guard(deps)
    async def create_from_message(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        origin = origin_of(body)
        message = body.get("message") or {}
        text = str(message.get("text") or "")
        # The modal first, while the trigger id lives (3 s); the link back to the message follows.
        view = create_modal(prefill_from_message(text, None), meta_for(origin).dump())
        opened = await deps.client.views_open(trigger_id=origin.trigger_id, view=view.to_dict())
        try:
            found = await deps.client.chat_getPermalink(
                channel=str(origin.channel or ""), message_ts=str(message.get("ts") or "")
            )
        except SlackApiError as exc:  # a message the bot cannot see: the task is still made, unlinked
            log.info("chat.getPermalink failed: %s", exc.response.get("error"))
            return
        permalink = str(found.get("permalink") or "") or None
        if permalink is None:
            return
        linked = create_modal(prefill_from_message(text, permalink), meta_for(origin, link=permalink).dump())
        opened_view = opened.get("view") or {}
        try:
            await deps.client.views_update(
                view_id=str(opened_view.get("id") or ""), hash=opened_view.get("hash"), view=linked.to_dict()
            )
        except SlackApiError as exc:  # submitted or closed already: the task is made, unlinked
            log.info("could not add the message's link to the form: %s", exc.response.get("error"))
