"""Identities nobody can claim, and who may use the bot where: signed requests against the running bot
(tests/slack/slack_harness.py), a mock Slack whose UOWNER is the workspace's owner, and the sandbox.

The harness links UOWNER, UALICE, USAM and UPRIYA as an admin would; USTRANGER is nobody yet; UTOM's
Slack e-mail is tom@demo.example, the name of UltraCart user 1008; UGUEST is a guest account.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mock_slack import Call, SlackUser
from slack_harness import TEAM, Bot, MakeBot

from shared_client.tools import get_tool
from slack_bot import ids
from slack_bot.access import GUESTS_REFUSED, TOO_SLOW, posts_allowed_in
from slack_bot.actors import identify
from slack_bot.identity import IAM, LINK

SAM, PRIYA, JORDAN, TOM = 1003, 1004, 1006, 1008


async def open_task(bot: Bot, **filters: Any) -> tuple[int, str]:
    out = await get_tool("search_tasks").run(bot.ctx, {"status": "open", "limit": 1, **filters})
    task = out.tasks[0]  # type: ignore[attr-defined]
    return int(task.number), str(task.uuid)


async def said(bot: Bot, text: str, user: str, channel: str = "C0GENERAL") -> str:
    """The command's answer to ``user`` (through its response_url)."""
    _, name = await bot.command(text, user=user, channel=channel)
    return (await bot.response(name)).text_of_blocks()


async def identity_of(bot: Bot, member: str) -> int | None:
    actor = await identify(bot.deps, TEAM, member, required=False)
    return actor.user.user_id if actor.user is not None else None


def admin_request(bot: Bot, requester: str, after: int = 0) -> Any:
    """The DM to the owner asking them to approve ``requester``."""
    return bot.slack.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("channel") == "UOWNER" and f"<@{requester}> asks" in c.text_of_blocks(),
        after=after,
    )


def button(message: Call, action_id: str) -> dict[str, Any]:
    for block in message.blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return {"action_id": action_id, "block_id": block.get("block_id"), "value": element["value"]}
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == action_id:
            return {"action_id": action_id, "block_id": block.get("block_id"), "value": accessory["value"]}
    raise AssertionError(f"no {action_id} button in {message.blocks}")


# ---------------------------------------------------------------------------------- /task iam


async def test_an_impostors_iam_changes_nothing_until_an_admin_approves(bot: Bot) -> None:
    mark = bot.slack.mark()
    answer = await said(bot, 'iam "Sam Rivera"', "USTRANGER")
    assert "asked the workspace's admins" in answer and "nothing changes" in answer
    request = await admin_request(bot, "USTRANGER", after=mark)
    assert "Sam Rivera" in request.text_of_blocks()
    assert await identity_of(bot, "USTRANGER") is None
    assert await bot.deps.identities.slack_users_for(TEAM, SAM) == ["USAM"]

    # A task assigned to Sam reaches the real Sam, not the impostor.
    number, _ = await open_task(bot, assignee="unassigned")
    mark = bot.slack.mark()
    await said(bot, f"assign #{number} <@USAM|sam>", "UALICE")
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "USAM", after=mark)
    assert f"#{number}" in dm.args["text"]
    assert not [c for c in bot.slack.calls[mark:] if c.args.get("channel") == "USTRANGER"]

    # The impostor's "mine" is not Sam's, and "Assign to me" does not act as Sam.
    mine = await said(bot, "mine", "USTRANGER")
    assert "I don't know who <@USTRANGER> is" in mine and "Sam Rivera" not in mine
    assert "/task connect" in mine and "/task link" in mine
    _, uuid = await open_task(bot, assignee="unassigned")
    card = Call("chat.postMessage", {"ts": "1700000000.000321", "blocks": []}, 0)
    mark = bot.slack.mark()
    await bot.assign_me_click(uuid, user="USTRANGER", message=card)
    told = await bot.slack.wait_for("response_url", after=mark)
    assert "I don't know who" in told.text_of_blocks()
    assert (await bot.task(uuid)).assigned.user_id is None

    # A member who is not an admin cannot approve it.
    mark = bot.slack.mark()
    _, name = await bot.block_action(button(request, ids.IAM_APPROVE), user="UALICE", message=request)
    assert "Only workspace admins" in (await bot.response(name)).text_of_blocks()
    assert await identity_of(bot, "USTRANGER") is None
    assert await bot.deps.identities.pending(TEAM, "USTRANGER") is not None

    # The owner declines: the requester is told, nothing changed.
    mark = bot.slack.mark()
    await bot.block_action(button(request, ids.IAM_DECLINE), user="UOWNER", message=request, channel="DOWNER")
    told = await bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == "USTRANGER", after=mark
    )
    assert "declined" in told.text_of_blocks()
    updated = await bot.slack.wait_for("chat.update", after=mark)
    assert "Declined by <@UOWNER>" in updated.text_of_blocks()
    assert await identity_of(bot, "USTRANGER") is None
    assert await bot.deps.identities.pending(TEAM, "USTRANGER") is None


async def test_an_approved_iam_takes_effect(bot: Bot) -> None:
    mark = bot.slack.mark()
    await said(bot, "iam Jordan", "USTRANGER")
    request = await admin_request(bot, "USTRANGER", after=mark)
    mark = bot.slack.mark()
    await bot.block_action(button(request, ids.IAM_APPROVE), user="UOWNER", message=request, channel="DOWNER")
    told = await bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == "USTRANGER", after=mark
    )
    assert "approved" in told.text_of_blocks() and "Jordan Blake" in told.text_of_blocks()
    assert await identity_of(bot, "USTRANGER") == JORDAN
    link = await bot.deps.identities.get(TEAM, "USTRANGER")
    assert link is not None and link.source == IAM
    assert "Your open tasks" in await said(bot, "mine", "USTRANGER")
    who = await said(bot, "iam", "USTRANGER")
    assert "You are *Jordan Blake*" in who and "a workspace admin approved" in who

    # A second click on the same request (another admin's DM) changes nothing more.
    mark = bot.slack.mark()
    await bot.block_action(button(request, ids.IAM_APPROVE), user="UOWNER", message=request, channel="DOWNER")
    again = await bot.slack.wait_for("chat.update", after=mark)
    assert "already answered" in again.text_of_blocks()


# ---------------------------------------------------------------------------------- link, people


async def test_a_non_admins_link_is_refused_and_changes_nothing(bot: Bot) -> None:
    answer = await said(bot, 'link <@USTRANGER|stranger> "Sam Rivera"', "UALICE")
    assert "Only workspace admins and owners can link" in answer
    assert await identity_of(bot, "USTRANGER") is None
    assert "Only workspace admins" in await said(bot, "unlink <@USAM|sam>", "UALICE")
    assert await identity_of(bot, "USAM") == SAM
    assert "Only workspace admins" in await said(bot, "people", "UALICE")


async def test_an_admins_link_works_and_unlink_undoes_it(bot: Bot) -> None:
    answer = await said(bot, "link <@USTRANGER|stranger> Priya", "UOWNER")
    assert "<@USTRANGER> is now *Priya Shah*" in answer
    assert await identity_of(bot, "USTRANGER") == PRIYA
    link = await bot.deps.identities.get(TEAM, "USTRANGER")
    assert link is not None and link.source == LINK
    assert "linked by a workspace admin" in await said(bot, "iam", "USTRANGER")
    # An admin made an admin: Slack says so now, and the bot asks Slack at each decision.
    bot.slack.users["UALICE"].is_admin = True
    assert "no longer linked" in await said(bot, "unlink <@USTRANGER|stranger>", "UALICE")
    assert await identity_of(bot, "USTRANGER") is None
    assert "is not a Slack member" in await said(bot, "link Priya Sam", "UOWNER")


async def test_people_shows_who_is_who_with_link_buttons(bot: Bot) -> None:
    bot.slack.users["UJORDAN"] = SlackUser("UJORDAN", "Jordan Blake", None)
    _, name = await bot.command("people", user="UOWNER")
    shown = await bot.response(name)
    text = shown.text_of_blocks()
    assert "*Sam Rivera*: <@USAM> (linked)" in text
    assert "<@UTOM> (their Slack e-mail)" in text  # tom@demo.example is his Slack e-mail
    assert "Marcus Lee" in text  # nobody is Marcus
    link = button(Call("response_url", shown.args, 0), ids.PEOPLE_LINK)
    assert link["value"] == f"UJORDAN:{JORDAN}"
    _, name = await bot.block_action(link, user="UALICE")  # not an admin
    assert "Only workspace admins" in (await bot.response(name)).text_of_blocks()
    assert await identity_of(bot, "UJORDAN") is None
    _, name = await bot.block_action(link, user="UOWNER")
    assert "<@UJORDAN> is now *Jordan Blake*" in (await bot.response(name)).text_of_blocks()
    assert await identity_of(bot, "UJORDAN") == JORDAN


async def test_an_email_is_an_identity_only_where_it_is_the_ultracart_name(bot: Bot) -> None:
    assert await identity_of(bot, "UTOM") == TOM  # unlinked: his Slack e-mail is UltraCart's user name
    assert "your Slack e-mail is your UltraCart user name" in await said(bot, "iam", "UTOM")
    number, _ = await open_task(bot, assignee="unassigned")
    mark = bot.slack.mark()
    await said(bot, f"assign #{number} tom@demo.example", "UALICE")
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UTOM", after=mark)
    assert f"#{number}" in dm.args["text"]
    # Stranger's Slack e-mail names no UltraCart user, and Sam's login is no UltraCart name.
    assert await identity_of(bot, "USTRANGER") is None


async def test_notes_from_a_member_without_an_identity_still_name_them(bot: Bot) -> None:
    number, uuid = await open_task(bot)
    await said(bot, f"note #{number} checked the address", "USTRANGER")
    notes = [n.text for n in (await bot.task(uuid)).notes]
    assert "checked the address\n— via Slack user USTRANGER" in notes


# ---------------------------------------------------------------------------------- who may use it


async def test_a_guest_is_refused(bot: Bot) -> None:
    reply, _ = await bot.command("search status:open", user="UGUEST")
    assert reply.status == 200 and reply.text == GUESTS_REFUSED
    number, uuid = await open_task(bot)
    reply, _ = await bot.command(f"note #{number} hello", user="UGUEST")
    assert "Guest accounts" in reply.text
    assert not any("hello" in (n.text or "") for n in (await bot.task(uuid)).notes)
    card = Call("chat.postMessage", {"ts": "1700000000.000322", "blocks": []}, 0)
    mark = bot.slack.mark()
    await bot.assign_me_click(uuid, user="UGUEST", message=card)
    told = await bot.slack.wait_for("response_url", after=mark)
    assert "Guest accounts" in told.text_of_blocks()


async def test_a_guest_is_allowed_with_the_setting(make_bot: MakeBot) -> None:
    bot = await make_bot(allow_guests=True)
    assert "task(s)" in await said(bot, "search status:open", "UGUEST")


async def test_commands_work_only_in_the_allowed_channels_and_the_bots_dm(make_bot: MakeBot) -> None:
    bot = await make_bot(channels=frozenset({"C0TASKS"}))
    reply, _ = await bot.command("search status:open", user="UALICE", channel="C0GENERAL")
    assert "works only in <#C0TASKS> and in your DM with me" in reply.text
    reply, _ = await bot.command("search status:open", user="UALICE", channel="DOTHER")  # someone's DM
    assert "works only in" in reply.text
    assert "task(s)" in await said(bot, "search status:open", "UALICE", channel="C0TASKS")
    # The mock's conversations.open answers D + the member's id without its U.
    number, _ = await open_task(bot)
    _, name = await bot.command(f"show #{number}", user="UALICE", channel="DALICE")
    assert (await bot.response(name)).args["response_type"] == "in_channel"
    assert posts_allowed_in(bot.deps, "C0TASKS") and not posts_allowed_in(bot.deps, "C0GENERAL")
    # A card from elsewhere (a message shortcut in another channel) is shown only to whoever asked.
    mark = bot.slack.mark()
    reply = await bot.message_shortcut("a message", user="UALICE", channel="C0GENERAL")
    assert reply.status == 200
    assert not [c for c in bot.slack.calls[mark:] if c.args.get("response_type") == "in_channel"]


def test_the_settings() -> None:
    import pytest
    from pydantic import ValidationError

    from shared_client.settings import Settings

    settings = Settings(_env_file=None, uc_workflow_slack_channels=" C0TASKS, C0OPS ,")  # type: ignore[call-arg]
    assert settings.slack_channels == frozenset({"C0TASKS", "C0OPS"})
    assert settings.uc_workflow_slack_allow_guests is False
    assert Settings(_env_file=None, uc_workflow_slack_channels=" ").slack_channels is None  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="channel ids such as C0123ABCD"):
        Settings(_env_file=None, uc_workflow_slack_channels="#general")  # type: ignore[call-arg]


async def test_a_slow_slack_is_a_refusal_in_time_not_a_missed_acknowledgement(bot: Bot) -> None:
    """Slack wants an answer within 3 s: when users.info does not answer in time (a 429's Retry-After,
    say), the member is told to try again at once; the look-up goes on and serves the next try."""
    answer = asyncio.Event()
    original = bot.deps.client.users_info

    async def slow_users_info(**kwargs: Any) -> Any:
        await answer.wait()
        return await original(**kwargs)

    bot.deps.client.users_info = slow_users_info  # type: ignore[method-assign]
    bot.deps.admission_wait = 0.05
    bot.deps.profiles.clear()
    reply, _ = await bot.command("search status:open", user="UGUEST")
    assert reply.status == 200 and reply.text == TOO_SLOW
    answer.set()
    bot.deps.admission_wait = 2.0
    reply, _ = await bot.command("search status:open", user="UGUEST")
    assert reply.text == GUESTS_REFUSED
