"""The app factory: a slack-bolt ``AsyncApp`` wired to the listeners, with one error handler
(:mod:`slack_bot.errors`)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from slack_bot.deps import Deps
from slack_bot.errors import error_message, report_error
from slack_bot.listeners import actions, commands, connect, events, linking, options, shortcuts, views

__all__ = ["build_app", "error_message", "report_error"]


class _NotTheTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and, given our client too, warns that the token "will be
    unused": the client holds that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


BOLT_LOG = logging.getLogger("slack_bolt")
BOLT_LOG.addFilter(_NotTheTokenWarning())


def build_app(deps: Deps) -> AsyncApp:
    app = AsyncApp(
        client=deps.client,
        signing_secret=deps.signing_secret,
        logger=BOLT_LOG,
        process_before_response=False,  # ack() answers Slack at once; the listener goes on after
    )
    for surface in (commands, actions, views, shortcuts, events, options, connect, linking):
        surface.register(app, deps)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        await report_error(deps, error, body)

    return app
