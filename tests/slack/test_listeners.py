"""Listeners and helpers with mocks: no HTTP, no sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest
from slack_harness import TEAM, Bot

from shared_client.logs import RedactSecrets
from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools import ToolError
from shared_client.tools.directory import PeopleSnapshot
from slack_bot import ids
from slack_bot.actors import NotMapped, identify, slack_user_for
from slack_bot.app import report_error
from slack_bot.deps import Deps
from slack_bot.identity import CONNECTED, EMAIL, LINK, OVERRIDE, IdentityStore
from slack_bot.listeners.commands import handle_command
from slack_bot.origin import origin_of
from slack_bot.store import Database, identities

PEOPLE = PeopleSnapshot(
    users=[
        WorkflowUser(user_id=1, user="Owner"),
        WorkflowUser(user_id=2, user="Sam Rivera"),
        WorkflowUser(user_id=3, user="Tom@X.example"),  # a user name that is an e-mail address
    ],
    groups=[WorkflowGroup(group_id=9, group="Warehouse")],
    my_user_id=1,
    fetched_at=0.0,
)


def fake_deps(database: Database, email: str | None = "sam@x.example") -> Deps:
    client = MagicMock()
    for method in (
        "views_open",
        "chat_postEphemeral",
        "chat_postMessage",
        "views_publish",
        "conversations_open",
    ):
        setattr(
            client,
            method,
            AsyncMock(return_value={"ok": True, "view": {"id": "V1"}, "channel": {"id": "D1"}}),
        )
    profile = {"display_name": "Sam", **({"email": email} if email else {})}
    client.users_info = AsyncMock(return_value={"ok": True, "user": {"id": "USAM", "profile": profile}})
    tools = MagicMock()
    tools.people.get = AsyncMock(return_value=PEOPLE)
    tools.people.is_fresh = MagicMock(return_value=True)
    return Deps(tools, client, "secret", IdentityStore(database))


def command_body(text: str) -> dict[str, Any]:
    return {
        "command": "/task",
        "text": text,
        "user_id": "USAM",
        "team_id": "T1",
        "channel_id": "C1",
        "trigger_id": "trig",
        "response_url": None,
    }


async def test_new_opens_the_create_modal_with_the_title(database: Database) -> None:
    deps = fake_deps(database)
    await handle_command(deps, command_body("new Ship the mugs"))
    view = deps.client.views_open.await_args.kwargs["view"]
    assert view["callback_id"] == ids.CREATE_MODAL
    assert deps.client.views_open.await_args.kwargs["trigger_id"] == "trig"
    assert "Ship the mugs" in str(view)


async def test_usage_goes_only_to_the_person_who_typed_it(database: Database) -> None:
    deps = fake_deps(database)
    await handle_command(deps, command_body("frobnicate #1"))
    kwargs = deps.client.chat_postEphemeral.await_args.kwargs
    assert kwargs["user"] == "USAM" and kwargs["channel"] == "C1" and "frobnicate" in str(kwargs["blocks"])
    deps.client.chat_postMessage.assert_not_awaited()


async def test_error_handler_tells_ultracarts_reason_ephemerally(database: Database) -> None:
    deps = fake_deps(database)
    await report_error(
        deps, ToolError("UltraCart rejected the request: <bad> & worse"), command_body("show #1")
    )
    text = str(deps.client.chat_postEphemeral.await_args.kwargs["blocks"])
    assert "UltraCart rejected the request: &lt;bad&gt; &amp; worse" in text


async def test_error_handler_hides_unexpected_errors(database: Database) -> None:
    deps = fake_deps(database)
    await report_error(deps, RuntimeError("token=xoxb-secret"), command_body("show #1"))
    text = str(deps.client.chat_postEphemeral.await_args.kwargs["blocks"])
    assert "xoxb-secret" not in text and "Something went wrong" in text


async def test_an_identity_comes_only_from_proof(database: Database) -> None:
    deps = fake_deps(database)  # Slack e-mail sam@x.example; no UltraCart user is named that
    actor = await identify(deps, "T1", "USAM", required=False)
    assert actor.user is None and actor.source is None
    # The first release's unverified `/task iam` row is trusted by nothing.
    insert = deps.identities.db.insert(identities).values(
        team_id="T1", slack_user_id="USAM", uc_user_id=1, source=OVERRIDE, updated_at=0.0
    )
    async with deps.identities.db.begin() as connection:
        await connection.execute(insert)
    assert (await identify(deps, "T1", "USAM", required=False)).user is None
    await deps.identities.set("T1", "USAM", 2, LINK)  # an admin's link
    actor = await identify(deps, "T1", "USAM")
    assert actor.user is not None and actor.user.user_id == 2 and actor.source == LINK
    assert not actor.is_credential_user
    assert await deps.identities.slack_users_for("T1", 2) == ["USAM"]

    async def connected(team: str, slack_id: str) -> int | None:
        return 1 if (team, slack_id) == ("T1", "USAM") else None

    deps.connected_user = connected  # their own key beats a link
    actor = await identify(deps, "T1", "USAM")
    assert actor.user is not None and actor.user.user_id == 1 and actor.source == CONNECTED
    assert actor.is_credential_user


async def test_an_email_is_an_identity_only_when_it_is_the_ultracart_users_name(database: Database) -> None:
    actor = await identify(fake_deps(database, email="tom@x.EXAMPLE"), "T1", "USAM")
    assert actor.user is not None and actor.user.user_id == 3 and actor.source == EMAIL
    with pytest.raises(NotMapped, match="/task connect"):
        await identify(fake_deps(database, email="x.example"), "T1", "USAM")


async def test_no_email_no_mapping(database: Database) -> None:
    deps = fake_deps(database, email=None)
    with pytest.raises(NotMapped, match="/task iam"):
        await identify(deps, "T1", "USAM")


async def test_identity_store_groups(database: Database) -> None:
    store = IdentityStore(database)
    await store.join("T1", "U1", 9)
    await store.join("T1", "U1", 9)
    await store.join("T1", "U1", 3)
    assert await store.groups("T1", "U1") == [3, 9]
    await store.leave("T1", "U1", 3)
    assert await store.groups("T1", "U1") == [9]


def test_origin_of_each_payload_shape() -> None:
    command = origin_of(command_body("x"))
    assert (command.user, command.channel, command.trigger_id) == ("USAM", "C1", "trig")
    action = origin_of(
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "team": {"id": "T1"},
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "C2", "is_ephemeral": True},
            "response_url": "https://hooks.slack.com/x",
        }
    )
    assert (action.channel, action.message_ts, action.ephemeral) == ("C2", "1.2", True)
    submission = origin_of(
        {
            "type": "view_submission",
            "user": {"id": "U1"},
            "view": {"id": "V1", "private_metadata": '{"channel":"C3","home":true}'},
        }
    )
    assert submission.channel == "C3" and submission.home


def test_secrets_are_redacted_from_logs() -> None:
    import logging

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s here", ("xoxb-12345-secret",), None)
    RedactSecrets(["xoxb-12345-secret"]).filter(record)
    assert record.getMessage() == "token [redacted] here"


def test_cli_refuses_to_start_without_slack_credentials(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "slack_bot", "--sandbox"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2  # misconfigured: the usage exit code, like every command
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set" in lines[0]
    help_run = subprocess.run(
        [sys.executable, "-m", "slack_bot", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_run.returncode == 0 and "--port" in help_run.stdout


async def test_an_email_with_no_slack_account_is_asked_again_after_minutes(bot: Bot) -> None:
    now = [1000.0]
    bot.deps.clock = lambda: now[0]
    tom = bot.slack.users.pop("UTOM")  # the sandbox's tom@demo.example: no Slack account yet

    def lookups() -> int:
        return len(bot.slack.of("users.lookupByEmail"))

    assert await slack_user_for(bot.deps, TEAM, 1008) is None
    assert lookups() == 1
    bot.slack.users["UTOM"] = tom  # he joins Slack
    now[0] += bot.deps.email_miss_ttl - 1
    assert await slack_user_for(bot.deps, TEAM, 1008) is None  # the miss is remembered a while
    assert lookups() == 1
    now[0] += 2
    assert await slack_user_for(bot.deps, TEAM, 1008) == "UTOM"  # then asked again
    now[0] += 10 * bot.deps.email_miss_ttl
    assert await slack_user_for(bot.deps, TEAM, 1008) == "UTOM"  # a found one is kept
    assert lookups() == 2
