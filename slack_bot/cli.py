"""``uc-workflow-slack``: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP on
``--host 127.0.0.1 --port 3000`` at ``/slack/events``. Logs to stderr, never a secret."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from shared_client import commandline

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    from shared_client.settings import Settings
    from slack_bot.keys import MemberKeys
    from slack_bot.store import Database

PROG = "uc-workflow-slack"
EVENTS_PATH = "/slack/events"


def build_parser() -> commandline.CommandParser:
    parser = commandline.command_parser(
        PROG,
        "The uc-workflow Slack bot (/task, modals, task cards, App Home). Socket Mode when "
        "SLACK_APP_TOKEN is set, otherwise HTTP at /slack/events. Needs SLACK_BOT_TOKEN, and "
        "SLACK_SIGNING_SECRET in HTTP mode; SLACK_API_URL points it at another Slack Web API.",
    )
    commandline.add_listen_options(parser, port=3000, port_help="HTTP mode: port (default 3000)")
    commandline.add_sandbox_option(parser)
    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=None,
        help="the bot's state (identity links, events handled): an SQLAlchemy URL, sqlite+aiosqlite:///PATH "
        "or postgresql+asyncpg://USER@HOST/DB for several replicas (default: UC_WORKFLOW_DATABASE_URL, "
        "else slack.sqlite3 next to the sandbox database; a password is better kept in the setting)",
    )
    commandline.add_log_level_option(parser, default="warning")
    return parser


async def slack_check(what: str, call: Awaitable[AsyncSlackResponse], api_url: str) -> AsyncSlackResponse:
    """One Web API call at start-up that proves a token (``what`` names its setting): refused or
    unreachable, it is one line and the command stops, before anything says it is listening."""
    import aiohttp
    from slack_sdk.errors import SlackApiError

    try:
        return await call
    except SlackApiError as exc:
        code = exc.response.get("error")
        raise commandline.CommandError(
            f"{what}: Slack refused it ({code}); copy it again from the Slack app's settings"
        ) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise commandline.CommandError(f"cannot reach Slack at {api_url} ({type(exc).__name__})") from None


async def member_keys(settings: Settings, database: Database, *, sandbox: bool) -> MemberKeys:
    """``/task connect``: members' own keys go where the workspace's key goes (UltraCart at
    ``ULTRACART_BASE_URL``, or the embedded sandbox), kept encrypted under ``UC_WORKFLOW_SECRET_KEY``."""
    from shared_client.factory import build_keyed_backend
    from slack_bot.keys import KeyVault, MemberKeys

    secret = settings.uc_workflow_secret_key
    vault = KeyVault(database, secret.get_secret_value() if secret is not None else None)
    keyed = await asyncio.to_thread(build_keyed_backend, settings, sandbox=sandbox)  # it checks Redis
    return MemberKeys(vault, keyed.client_for, sandbox=keyed.sandbox, description=keyed.description)


def _stop_on_sigterm() -> None:
    """SIGTERM (``docker stop``, systemd, a replica scaled down) stops the bot as Ctrl-C does: its change feed
    hands its lease over at once (rather than when it expires), and its connections close."""
    task = asyncio.current_task()
    if task is None:
        return
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows, nor off the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


async def serve(settings: Settings, args: argparse.Namespace) -> None:
    from slack_bot.store import SETTING, open_database

    _stop_on_sigterm()
    # Before the backend: a database that cannot be opened is one line, and nothing else has started.
    if args.database_url is not None:
        database = await open_database(args.database_url, setting="--database-url")
    else:
        database = await open_database(settings.database_url, setting=SETTING)
    try:
        await _serve_with(settings, args, database)
    finally:
        await database.aclose()


async def _serve_with(settings: Settings, args: argparse.Namespace, database: Database) -> None:
    from shared_client.factory import build_backend_async
    from shared_client.feed.store import FeedStore
    from shared_client.tools import ToolContext
    from slack_bot.app import build_app
    from slack_bot.deps import Deps, slack_web_client
    from slack_bot.digest.sender import Digests
    from slack_bot.identity import IdentityStore
    from slack_bot.notify.notifier import Notifier
    from slack_bot.watch import feed_runner, running_feed

    assert settings.slack_bot_token is not None
    # Socket Mode requests are not signed (Bolt checks the signature of HTTP requests only).
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    backend = await build_backend_async(settings, force_sandbox=args.sandbox)  # announces the sandbox once
    feed_store = FeedStore(database)
    tools = ToolContext(
        backend.client,
        sandbox=backend.sandbox,
        description=backend.description,
        allow_local_files=False,
        change_log=feed_store,  # list_recent_changes reads the bot's own feed
    )
    client = slack_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    identities = IdentityStore(database)
    members = await member_keys(settings, database, sandbox=backend.sandbox)
    deps = Deps(
        tools,
        client,
        signing_secret,
        identities,
        ultracart_url=settings.ultracart_base_url,
        member_keys=members,
        connected_user=members.vault.connected_user,
        connected_members=members.vault.connected_members,
        allow_guests=settings.uc_workflow_slack_allow_guests,
        channels=settings.slack_channels,
    )
    app = build_app(deps)
    runner = feed_runner(settings, feed_store, backend.client, consumers=[Notifier(deps), Digests(deps)])
    deps.feed, deps.feed_fingerprint = feed_store, runner.feed.fingerprint  # App Home: newly assigned
    try:
        me = await slack_check("SLACK_BOT_TOKEN", client.auth_test(), settings.slack_api_url)
        deps.team_id = str(me.get("team_id") or "")  # the workspace the notifier and the digests serve
        who = f"as @{me.get('user')} in {me.get('team')}; UltraCart: {backend.description}"
        deps.refresh_people()  # warm the people cache so the first picker answers at once
        async with running_feed(runner):
            await _listen(settings, args, app, client, who)
    finally:
        await members.aclose()
        await backend.client.aclose()


async def _listen(
    settings: Settings, args: argparse.Namespace, app: AsyncApp, client: AsyncWebClient, who: str
) -> None:
    from aiohttp import web

    if settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        app_token = settings.slack_app_token.get_secret_value()
        # Checked once here: the Socket Mode client itself retries a refused token for ever.
        opened = client.apps_connections_open(app_token=app_token)
        await slack_check("SLACK_APP_TOKEN", opened, settings.slack_api_url)
        handler = AsyncSocketModeHandler(app, app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        commandline.report(PROG, f"connected to Slack in Socket Mode {who}")
        try:
            await asyncio.Event().wait()
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
    else:
        runner = web.AppRunner(app.web_app(path=EVENTS_PATH, port=args.port))
        await runner.setup()
        await web.TCPSite(runner, args.host, args.port).start()
        port = runner.addresses[0][1]  # the one bound: --port 0 picks a free one
        commandline.report(PROG, f"listening on http://{args.host}:{port}{EVENTS_PATH} {who}")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


def run(args: argparse.Namespace) -> None:
    settings = commandline.load_settings()
    needed = [("SLACK_BOT_TOKEN", settings.slack_bot_token)]
    if settings.slack_app_token is None:  # HTTP mode: requests are signed
        needed.append(("SLACK_SIGNING_SECRET", settings.slack_signing_secret))
    missing = [name for name, value in needed if value is None]
    if missing:
        raise commandline.UsageError(
            f"{' and '.join(missing)} not set; create the Slack app from "
            "slack_bot/manifest.yaml and copy them from its settings (see the Slack section of README.md)"
        )
    commandline.setup_logging(args.log_level, settings)
    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(serve(settings, args))
    except OSError as exc:
        raise commandline.CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return commandline.run_command(PROG, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
