"""As Slack's platform sees the bot: every call it makes and every answer it gives, end to end.

- no secret (bot token, signing secret, UltraCart key) in any call, answer or log record;
- every message, view and options answer within Block Kit's limits, and no text people wrote pings
  or forges a link, in cards, lists, modals and notifications alike;
- a failing request is still acknowledged at once (never Bolt's late 404);
- response_url 429s are retried and an expired response_url falls back to the Web API;
- the manifest declares what the bot uses, and only that.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from mock_slack import HISTORY_SCOPES, MANIFEST, METHOD_SCOPES, SCOPE_FREE, Call
from slack_harness import CHANNEL, Bot, MakeBot
from slack_limits import message_problems, mrkdwn_texts, options_problems, ping_problems, view_problems
from test_e2e import date, open_task_number, picked, select, text_input, values

from slack_bot import ids

CANARY_TOKEN = "xoxb-CANARY-7f3a9c2e-bot-token"
CANARY_SECRET = "CANARY-5d1e8b44-signing-secret"
CANARY_KEY = "CANARY-91c2aa07-ultracart-key"
CANARIES = (CANARY_TOKEN, CANARY_SECRET, CANARY_KEY)

# As people type it in a form (raw) and as Slack sends it in a slash command (escaped).
EVIL = "<!channel> @here <!everyone> <https://evil.example|Your bank> & <@U0BOSS> <#C0EVIL|general>"
EVIL_ESCAPED = EVIL.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

MESSAGE_METHODS = {"chat.postMessage", "chat.postEphemeral", "chat.update", "response_url"}
VIEW_METHODS = {"views.open", "views.update", "views.push", "views.publish"}


def problems_of(call: Call) -> list[str]:
    """Slack's limits and the ping check on one recorded call."""
    found: list[str] = []
    if call.method in MESSAGE_METHODS:
        text = str(call.args.get("text") or "")
        found += message_problems(call.blocks, text)
        found += ping_problems([*mrkdwn_texts(call.blocks), text])
    elif call.method in VIEW_METHODS:
        view = call.args["view"]
        found += view_problems(view)
        found += ping_problems(mrkdwn_texts(view))
    return [f"{call.method}: {p}" for p in found]


async def everything_a_user_does(bot: Bot) -> list[str]:
    """Most of the bot's surface, with hostile text in every field people fill. Returns the bodies of
    the bot's HTTP answers (acks, options)."""
    answers: list[str] = []

    async def command(text: str, user: str = "UALICE") -> Call:
        reply, name = await bot.command(text, user=user)
        answers.append(reply.text)
        assert reply.status == 200, (text, reply)
        return await bot.response(name)

    await command("")
    await command(f"frobnicate {EVIL_ESCAPED}")
    await command(f"show {EVIL_ESCAPED}")

    # Create through the modal, with a hostile name, details and tags, assigned to Sam (who gets a DM).
    mark = bot.slack.mark()
    reply, name = await bot.command(f"new {EVIL_ESCAPED}")
    create_view = (await bot.slack.wait_for("views.open", after=mark)).args["view"]
    state = values(
        name=text_input(EVIL[:250]),
        details=text_input(EVIL * 10),
        priority=select("high"),
        due=date("2020-01-01"),
        assignee=picked("user:1003"),
        tags=text_input(f"{EVIL[:90]}, vip"),
        object_type=select("order"),
        object_id=text_input("<!here>"),
    )
    answers.append((await bot.view_submission(create_view, state)).text)
    card = await bot.response(name, after=mark)
    number = int(card.args["text"].split()[0].lstrip("#"))
    await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "USAM", after=mark)

    await command(f"note #{number} {EVIL_ESCAPED}")
    await command(f"close #{number} {EVIL_ESCAPED}", user="USAM")
    await command(f"reopen #{number}")
    await command(f"assign #{number} <@UPRIYA|priya>")
    await command(f'search tag:vip sort:-created status:open assignee:"{EVIL_ESCAPED}"')
    await command("search tag:vip sort:-created")
    await command("mine", user="UOWNER")
    await command(f"iam {EVIL_ESCAPED}", user="USTRANGER")
    await command("mine", user="USTRANGER")
    await command(f'join "{EVIL_ESCAPED}"')
    await command("groups")

    # The card's buttons and the edit and note modals.
    _, uuid = await open_task_number(bot, tags=["vip"])
    message = Call("chat.postMessage", {"ts": "1700000000.000321", "blocks": card.blocks}, 0)
    mark = bot.slack.mark()
    reply, _ = await bot.block_action(
        {
            "action_id": ids.EDIT,
            "block_id": f"{ids.CARD_MORE_ACTIONS}:{uuid}",
            "value": uuid,
            "type": "button",
        },
        message=message,
    )
    answers.append(reply.text)
    edit_view = (await bot.slack.wait_for("views.update", after=mark)).args["view"]
    mark = bot.slack.mark()
    answers.append((await bot.view_submission(edit_view, values(priority=select("low")))).text)
    await bot.slack.wait_for("chat.update", after=mark)

    mark = bot.slack.mark()
    await bot.message_shortcut(f"{EVIL_ESCAPED} <@USAM> said <https://evil.example|click> &amp; more")
    shortcut_view = (await bot.slack.wait_for("views.open", after=mark)).args["view"]
    assert EVIL in json.dumps(shortcut_view, ensure_ascii=False)  # prefilled as typed (plain_text)
    await bot.slack.wait_for("views.update", after=mark)  # the link back to the message follows

    for query in ("", "sa", EVIL[:50]):
        reply = await bot.block_suggestion(ids.ASSIGNEE, query)
        answers.append(reply.text)
        assert options_problems(reply.json()) == []

    mark = bot.slack.mark()
    await bot.event({"type": "app_home_opened", "user": "UOWNER", "tab": "home"})
    await bot.slack.wait_for("views.publish", after=mark)
    return answers


async def test_no_secret_anywhere_and_every_call_within_slacks_limits(
    make_bot: MakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the most a log could say
    bot = await make_bot(bot_token=CANARY_TOKEN, signing_secret=CANARY_SECRET, api_key=CANARY_KEY)
    answers = await everything_a_user_does(bot)

    assert len(bot.slack.calls) > 25
    recorded = json.dumps([c.args for c in bot.slack.calls], ensure_ascii=False)
    logged = "\n".join(
        record.getMessage()
        + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for record in caplog.records
    )
    assert len(caplog.records) > 100
    for canary in CANARIES:
        assert canary not in recorded, canary
        assert canary not in logged, canary
        assert all(canary not in answer for answer in answers), canary

    problems = [p for call in bot.slack.calls for p in problems_of(call)]
    assert problems == [], "\n".join(problems)
    seen = {c.method for c in bot.slack.calls}
    assert {
        "response_url",
        "chat.postMessage",
        "chat.update",
        "views.open",
        "views.update",
        "views.publish",
    } <= seen


# ---------------------------------------------------------------------- failures are acknowledged


async def test_a_failing_request_is_still_acknowledged_at_once(bot: Bot) -> None:
    """A listener that fails after ack() must not hand the failure back to Bolt: its runner would
    forget the ack and answer Slack with a 404 after 3 s ("unhandled request")."""
    for text, user in [("show 0b7f1f6e-0000-4000-8000-000000000000", "UALICE"), ("mine", "USTRANGER")] * 3:
        reply, name = await bot.command(text, user=user)
        assert (reply.status, reply.text) == (200, ""), reply
        told = await bot.response(name)
        assert told.args["response_type"] == "ephemeral"
    reply, _ = await bot.block_action(
        {"action_id": ids.CLOSE, "block_id": "card_actions:nope", "value": "#999999", "type": "button"}
    )
    assert (reply.status, reply.text) == (200, "")


# ---------------------------------------------------------------------- response_url


async def test_response_url_429_is_retried(bot: Bot) -> None:
    bot.slack.rate_limit["response_url"] = 1
    _, name = await bot.command("help")
    await bot.slack.wait_for("response_url", lambda c: len(bot.slack.of("response_url")) >= 2)
    assert [c.args["_name"] for c in bot.slack.of("response_url")] == [name, name]


async def test_an_expired_response_url_falls_back_to_the_web_api(bot: Bot) -> None:
    bot.slack.fail["response_url"] = "expired_url"
    await bot.command("help")
    ephemeral = await bot.slack.wait_for("chat.postEphemeral")
    assert ephemeral.args["user"] == "UALICE" and ephemeral.args["channel"] == CHANNEL
    assert "/task search" in ephemeral.text_of_blocks()


# ---------------------------------------------------------------------- escaped commands


async def test_a_command_arrives_escaped_and_is_saved_as_typed(bot: Bot) -> None:
    number, uuid = await open_task_number(bot)
    _, name = await bot.command(f"note #{number} a &lt;b&gt; &amp; c <https://x.example/o/1|order 1>")
    await bot.response(name)
    texts = [n.text for n in (await bot.task(uuid)).notes]
    assert "a <b> & c order 1 (https://x.example/o/1)\n— via Slack user UALICE" in texts
    _, name = await bot.command("search created:&gt;2000-01-01 status:open")
    assert "task(s)" in (await bot.response(name)).text_of_blocks()
    _, name = await bot.command("iam <mailto:tom@demo.example|tom@demo.example>", user="USTRANGER")
    asked = (await bot.response(name)).text_of_blocks()
    assert "tom@demo.example" in asked and "asked the workspace's admins" in asked


# ---------------------------------------------------------------------- the manifest


def slack_methods_the_bot_calls() -> set[str]:
    """Web API methods named in the bot's source (``deps.client.chat_postMessage`` → chat.postMessage)."""
    source = "\n".join(p.read_text() for p in (Path(__file__).parents[2] / "slack_bot").rglob("*.py"))
    names = set(re.findall(r"\bclient\.([a-z]+_[A-Za-z_]+)\(", source))
    return {
        name.replace("_", ".") for name in names
    }  # slack_sdk: apps.connections.open → apps_connections_open


def test_the_manifest_declares_the_app_and_the_fewest_scopes() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    features, settings = manifest["features"], manifest["settings"]
    (command,) = features["slash_commands"]
    assert command["command"] == ids.COMMAND and command["should_escape"] is True
    assert command["url"].endswith("/slack/events")
    (shortcut,) = features["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", ids.SHORTCUT_CREATE_FROM_MESSAGE)
    assert shortcut["name"] == "Create task from message"
    interactivity = settings["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith("/slack/events")
    assert interactivity["message_menu_options_url"].endswith("/slack/events")  # external selects
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True  # where the assignee's DM lands
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]

    methods = slack_methods_the_bot_calls()
    assert {"chat.postMessage", "users.info", "views.publish", "chat.getPermalink"} <= methods
    assert methods <= set(METHOD_SCOPES) | SCOPE_FREE, methods - set(METHOD_SCOPES) - SCOPE_FREE
    needed = {METHOD_SCOPES[m] for m in methods if m in METHOD_SCOPES} | {"commands"}  # /task, shortcut
    # An UltraCart user whose name is an e-mail is the member with it: users.info's profile.email,
    # users.lookupByEmail.
    assert "users:read.email" in needed
    # A DM is chat.postMessage to the user's id (chat:write alone); im:write is for conversations.open,
    # which tells the bot's own DM with a member from others (UC_WORKFLOW_SLACK_CHANNELS).
    assert "im:write" in needed
    # A notification's post that may have reached Slack is looked for (conversations.history/replies) in
    # the conversation it went to: a public or private channel, or the member's DM with the app.
    if methods & {"conversations.history", "conversations.replies"}:
        needed |= set(HISTORY_SCOPES.values())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_the_mock_refuses_what_the_manifest_does_not_grant() -> None:
    from mock_slack import MockSlack

    slack = MockSlack()
    assert "channels:manage" not in slack.scopes and "chat:write" in slack.scopes


async def test_without_the_email_scope_the_user_is_told_how_to_fix_it(bot: Bot) -> None:
    bot.slack.scopes.discard("users:read.email")
    _, name = await bot.command("mine", user="UTOM")  # his UltraCart name is his e-mail: Slack hides it
    told = (await bot.response(name)).text_of_blocks()
    assert "/task connect" in told and "/task iam" in told
    _, name = await bot.command("mine", user="USAM")  # a linked member needs no e-mail
    assert "Your open tasks" in (await bot.response(name)).text_of_blocks()


async def test_the_search_form_from_app_home_answers_in_the_apps_dm(bot: Bot) -> None:
    mark = bot.slack.mark()
    reply, _ = await bot.block_action(
        {"action_id": ids.HOME_SEARCH, "value": "search", "type": "button"}, user="UOWNER", home=True
    )
    assert reply.status == 200
    view = (await bot.slack.wait_for("views.open", after=mark)).args["view"]
    assert view["callback_id"] == ids.SEARCH_MODAL
    assert reply.text == ""
    mark = bot.slack.mark()
    submitted = await bot.view_submission(
        view, values(status=select("open"), assignee=picked("group:203")), user="UOWNER"
    )
    assert submitted.text == ""
    found = await bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == "UOWNER", after=mark
    )
    assert "Review possible fraud" in found.text_of_blocks()
