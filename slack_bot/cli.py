"""``uc-workflow-slack``: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP on
``--host 127.0.0.1 --port 3000`` at ``/slack/events``. Logs to stderr, never a secret."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from shared_client.logs import configure_logging
from shared_client.settings import ConfigurationError, Settings

EVENTS_PATH = "/slack/events"
log = logging.getLogger("slack_bot")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="uc-workflow-slack",
        description="The uc-workflow Slack bot (/task, modals, task cards, App Home). Socket Mode when "
        "SLACK_APP_TOKEN is set, otherwise HTTP at /slack/events. Needs SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET; SLACK_API_URL points it at another Slack Web API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP mode: address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="HTTP mode: port (default 3000)")
    parser.add_argument("--sandbox", action="store_true", help="use the local sandbox even with credentials")
    parser.add_argument(
        "--identity-db",
        type=Path,
        default=None,
        help="SQLite file for Slack→UltraCart identities (default: slack.sqlite3 next to the sandbox db; "
        "or UC_WORKFLOW_SLACK_DB)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def identity_path(settings: Settings, explicit: Path | None) -> Path:
    from slack_bot.identity import default_identity_path

    if explicit is not None:
        return explicit
    if settings.uc_workflow_sandbox_db is not None:
        return settings.uc_workflow_sandbox_db.parent / "slack.sqlite3"
    return default_identity_path()


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
    identities = IdentityStore(identity_path(settings, args.identity_db))
    deps = Deps(tools, client, settings.slack_signing_secret.get_secret_value(), identities)
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's message names the setting, never its value
        print(f"uc-workflow-slack: bad setting: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
        )
        if value is None
    ]
    if missing:
        print(
            f"uc-workflow-slack: {' and '.join(missing)} not set; create the Slack app from "
            "slack_bot/manifest.yaml and copy them from its settings (see the Slack section of README.md)",
            file=sys.stderr,
        )
        return 2
    configure_logging(args.log_level, settings.secrets())
    try:
        asyncio.run(serve(settings, args))
    except KeyboardInterrupt:
        pass
    except ConfigurationError as exc:
        print(f"uc-workflow-slack: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"uc-workflow-slack: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
