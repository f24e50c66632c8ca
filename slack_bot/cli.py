"""``uc-workflow-slack``: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP on
``--host 127.0.0.1 --port 3000`` at ``/slack/events``. Logs to stderr, never a secret."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shared_client import commandline

if TYPE_CHECKING:
    from shared_client.settings import Settings

PROG = "uc-workflow-slack"
EVENTS_PATH = "/slack/events"
log = logging.getLogger("slack_bot")


def build_parser() -> commandline.CommandParser:
    parser = commandline.command_parser(
        PROG,
        "The uc-workflow Slack bot (/task, modals, task cards, App Home). Socket Mode when "
        "SLACK_APP_TOKEN is set, otherwise HTTP at /slack/events. Needs SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET; SLACK_API_URL points it at another Slack Web API.",
    )
    commandline.add_listen_options(parser, port=3000, port_help="HTTP mode: port (default 3000)")
    commandline.add_sandbox_option(parser)
    parser.add_argument(
        "--identity-db",
        type=Path,
        default=None,
        help="SQLite file for Slack→UltraCart identities (default: UC_WORKFLOW_SLACK_DB, else "
        "slack.sqlite3 next to the sandbox database)",
    )
    commandline.add_log_level_option(parser, default="info")
    return parser


async def serve(settings: Settings, args: argparse.Namespace) -> None:
    from aiohttp import web

    from shared_client.factory import build_backend
    from shared_client.tools import ToolContext
    from slack_bot.app import build_app
    from slack_bot.deps import Deps, slack_web_client
    from slack_bot.identity import IdentityStore

    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    backend = build_backend(settings, force_sandbox=args.sandbox)  # announces the sandbox once
    tools = ToolContext(
        backend.client, sandbox=backend.sandbox, description=backend.description, allow_local_files=False
    )
    client = slack_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    identities = IdentityStore(args.identity_db or settings.slack_db_path)
    deps = Deps(
        tools,
        client,
        settings.slack_signing_secret.get_secret_value(),
        identities,
        ultracart_url=settings.ultracart_base_url,
    )
    app = build_app(deps)
    deps.refresh_people()  # warm the people cache so the first picker answers at once
    try:
        if settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            log.info("connecting to Slack in Socket Mode; UltraCart: %s", backend.description)
            handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
            await handler.start_async()  # type: ignore[no-untyped-call]
        else:
            runner = web.AppRunner(app.web_app(path=EVENTS_PATH, port=args.port))
            await runner.setup()
            await web.TCPSite(runner, args.host, args.port).start()
            log.info(
                "listening on http://%s:%d%s; UltraCart: %s",
                args.host,
                args.port,
                EVENTS_PATH,
                backend.description,
            )
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()
    finally:
        identities.close()
        await backend.client.aclose()


def run(args: argparse.Namespace) -> None:
    settings = commandline.load_settings()
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
        )
        if value is None
    ]
    if missing:
        raise commandline.UsageError(
            f"{' and '.join(missing)} not set; create the Slack app from "
            "slack_bot/manifest.yaml and copy them from its settings (see the Slack section of README.md)"
        )
    commandline.setup_logging(args.log_level, settings)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, args))
    except OSError as exc:
        raise commandline.CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return commandline.run_command(PROG, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
