"""The one error handler: what went wrong is logged, and the person who asked is told, only them.

Bolt calls it for failures in its own pipeline (``@app.error``). Listeners reach it through
:func:`guarded`: once a listener has acknowledged, a failure must not travel back into Bolt, whose
runner would then forget the acknowledgement and answer Slack with a late 404 ("unhandled request").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.errors import SlackApiError

from shared_client.tools import ToolError
from slack_bot import text as t
from slack_bot.access import refusal_in_time
from slack_bot.actors import NotMapped
from slack_bot.blocks.help import notice_blocks
from slack_bot.deps import Deps
from slack_bot.origin import origin_of
from slack_bot.replies import reply
from slack_bot.store import DatabaseUnavailable

log = logging.getLogger("slack_bot")

Listener = Callable[[AsyncAck, dict[str, Any]], Awaitable[None]]

# Slack's error codes people meet, in words (docs.slack.dev/reference/methods); the code follows in
# parentheses, for whoever fixes it.
SLACK_ERRORS = {
    "not_in_channel": "I'm not in this channel: invite me to it, then try again.",
    "channel_not_found": "Slack can't find that conversation, or I'm not allowed in it.",
    "is_archived": "That channel is archived.",
    "user_not_found": "Slack can't find that member.",
    "users_not_found": "Slack can't find that member.",
    "ratelimited": "Slack is asking me to slow down; try again in a minute.",
    "invalid_auth": "Slack did not accept my token; a workspace admin needs to reinstall the app.",
    "not_authed": "Slack did not accept my token; a workspace admin needs to reinstall the app.",
    "token_revoked": "My Slack token was revoked; a workspace admin needs to reinstall the app.",
    "account_inactive": "My Slack token was revoked; a workspace admin needs to reinstall the app.",
    "missing_scope": "The app lacks a Slack permission it needs; a workspace admin needs to reinstall it.",
    "expired_trigger_id": "That took Slack too long to open a form; try again.",
    "invalid_trigger_id": "That took Slack too long to open a form; try again.",
    "cannot_dm_bot": "Slack does not let me message a bot.",
    "msg_too_long": "That message is longer than Slack allows.",
    "view_too_large": "That form is larger than Slack allows.",
}


def error_text(error: Exception) -> str:
    """What went wrong, as mrkdwn for the person who asked: UltraCart's reason or the bad input named by
    field, how to map a Slack user, Slack's error code, or that something broke on our side (logged)."""
    if isinstance(error, ToolError):
        return t.escape(error.message)
    if isinstance(error, NotMapped):
        return error.message
    if isinstance(error, DatabaseUnavailable):
        return t.escape(str(error))
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error"))
        words = SLACK_ERRORS.get(code, "Slack refused a request.")
        return f"{words} (`{t.escape(code)}`)"
    return "Something went wrong on our side; it has been logged. Try again in a moment."


def error_message(error: Exception) -> str:
    emoji = ":boom:"
    if isinstance(error, ToolError | SlackApiError | DatabaseUnavailable):
        emoji = ":warning:"
    elif isinstance(error, NotMapped):
        emoji = ":bust_in_silhouette:"
    return f"{emoji} {error_text(error)}"


def log_error(error: Exception) -> None:
    if isinstance(error, ToolError | NotMapped):
        log.info("request failed: %s", getattr(error, "message", error))
    elif isinstance(error, SlackApiError):
        log.warning("Slack API error: %s", error.response.get("error"))
    elif isinstance(error, DatabaseUnavailable):
        log.warning("the bot's database is not answering (%s)", error.cause)
    else:
        log.error("unexpected error in a listener: %s", type(error).__name__, exc_info=error)


async def report_error(deps: Deps, error: Exception, body: dict[str, Any]) -> None:
    """Log it, then tell the person who asked, only them."""
    log_error(error)
    origin = origin_of(body or {})
    if not origin.user:
        return
    message = error_message(error)
    try:
        await reply(deps, origin, notice_blocks(message), t.truncate(message, 300))
    except Exception as exc:  # telling the user failed too: the log is all that is left
        log.warning("could not report an error to the user: %s", type(exc).__name__)


async def refuse(deps: Deps, ack: AsyncAck, body: dict[str, Any], message: str) -> None:
    """Answer a refused request (:func:`slack_bot.access.refusal`) with its one line, to that member only."""
    log.info("refused a request: %s", message)
    if "command" in body:
        await ack(text=message)  # the command's own ephemeral answer
        return
    await ack()
    if body.get("type") in {"block_actions", "view_submission", "message_action", "shortcut"}:
        await reply(deps, origin_of(body), notice_blocks(f":no_entry: {message}"), message)


def guarded(deps: Deps, listener: Listener) -> Listener:
    """``listener`` with its failures sent to :func:`report_error`; a request it failed to acknowledge
    is acknowledged, so Slack never waits out its 3 seconds. A request from someone who may not use the
    bot here (:func:`slack_bot.access.refusal_in_time`) gets one line instead."""

    async def run(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            refused = await refusal_in_time(deps, body)
            if refused is not None:
                await refuse(deps, ack, body, refused)
                return
            await listener(ack, body)
        except Exception as error:
            if ack.response is None:
                await ack()
            await report_error(deps, error, body)

    run.__name__ = getattr(listener, "__name__", "listener")
    return run


def guard(deps: Deps) -> Callable[[Listener], Listener]:
    """As a decorator under ``@app.command(...)`` and the like: ``@guard(deps)``."""
    return lambda listener: guarded(deps, listener)
