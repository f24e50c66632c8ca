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
from slack_bot.actors import NotMapped
from slack_bot.blocks.help import notice_blocks
from slack_bot.deps import Deps
from slack_bot.origin import origin_of
from slack_bot.replies import reply

log = logging.getLogger("slack_bot")

Listener = Callable[[AsyncAck, dict[str, Any]], Awaitable[None]]


def error_text(error: Exception) -> str:
    """What went wrong, as mrkdwn for the person who asked: UltraCart's reason or the bad input named by
    field, how to map a Slack user, Slack's error code, or that something broke on our side (logged)."""
    if isinstance(error, ToolError):
        return t.escape(error.message)
    if isinstance(error, NotMapped):
        return error.message
    if isinstance(error, SlackApiError):
        return f"Slack refused a request: `{t.escape(str(error.response.get('error')))}`."
    return "Something went wrong on our side; it has been logged. Try again in a moment."


def error_message(error: Exception) -> str:
    emoji = ":boom:"
    if isinstance(error, ToolError | SlackApiError):
        emoji = ":warning:"
    elif isinstance(error, NotMapped):
        emoji = ":bust_in_silhouette:"
    return f"{emoji} {error_text(error)}"


def log_error(error: Exception) -> None:
    if isinstance(error, ToolError | NotMapped):
        log.info("request failed: %s", getattr(error, "message", error))
    elif isinstance(error, SlackApiError):
        log.warning("Slack API error: %s", error.response.get("error"))
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


def guarded(deps: Deps, listener: Listener) -> Listener:
    """``listener`` with its failures sent to :func:`report_error`; a request it failed to acknowledge
    is acknowledged, so Slack never waits out its 3 seconds."""

    async def run(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
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
