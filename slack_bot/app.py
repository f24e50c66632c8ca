"""The app factory: a slack-bolt ``AsyncApp`` wired to the listeners, with one error handler."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from shared_client.tools import ToolError
from slack_bot import text as t
from slack_bot.blocks.help import notice_blocks
from slack_bot.deps import Deps
from slack_bot.listeners import actions, commands, events, options, shortcuts, views
from slack_bot.operations import NotMapped, origin_of, reply

log = logging.getLogger("slack_bot")


def build_app(deps: Deps) -> AsyncApp:
    app = AsyncApp(
        client=deps.client,
        signing_secret=deps.signing_secret,
        logger=logging.getLogger("slack_bolt"),
        process_before_response=False,  # ack() answers Slack at once; the listener goes on after
    )
    for surface in (commands, actions, views, shortcuts, events, options):
        surface.register(app, deps)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        await report_error(deps, error, body)

    return app


def error_message(error: Exception) -> str:
    if isinstance(error, ToolError):  # UltraCart's reason, or the bad input named by field
        return f":warning: {t.escape(error.message)}"
    if isinstance(error, NotMapped):
        return f":bust_in_silhouette: {error.message}"
    if isinstance(error, SlackApiError):
        return f":warning: Slack refused a request: `{t.escape(str(error.response.get('error')))}`."
    return ":boom: Something went wrong on our side; it has been logged. Try again in a moment."


async def report_error(deps: Deps, error: Exception, body: dict[str, Any]) -> None:
    """The one error handler: tell the person who asked, only them."""
    if isinstance(error, ToolError | NotMapped):
        log.info("request failed: %s", getattr(error, "message", error))
    elif isinstance(error, SlackApiError):
        log.warning("Slack API error: %s", error.response.get("error"))
    else:
        log.error("unexpected error in a listener: %s", type(error).__name__, exc_info=error)
    origin = origin_of(body or {})
    if not origin.user:
        return
    message = error_message(error)
    try:
        await reply(deps, origin, notice_blocks(message), t.truncate(message, 300))
    except Exception as exc:  # telling the user failed too: the log is all that is left
        log.warning("could not report an error to the user: %s", type(exc).__name__)
