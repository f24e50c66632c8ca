"""Attacks on who is who and who may use the bot, through signed requests against the running bot:
people from another organization in a Slack Connect channel (``is_stranger``), and a Slack e-mail Slack
itself has not confirmed (``is_email_confirmed: false``)."""

from __future__ import annotations

from typing import Any

from mock_slack import SlackUser
from slack_harness import TEAM, Bot, MakeBot

from shared_client.tools import get_tool
from slack_bot.access import STRANGERS_REFUSED
from slack_bot.actors import identify, slack_user_for

SAM, TOM = 1003, 1008


async def open_task(bot: Bot, **filters: Any) -> tuple[int, str]:
    out = await get_tool("search_tasks").run(bot.ctx, {"status": "open", "limit": 1, **filters})
    task = out.tasks[0]  # type: ignore[attr-defined]
    return int(task.number), str(task.uuid)


async def identity_of(bot: Bot, member: str) -> int | None:
    actor = await identify(bot.deps, TEAM, member, required=False)
    return actor.user.user_id if actor.user is not None else None


def external(bot: Bot, **flags: Any) -> str:
    """An admin of *another* organization, in a channel shared with this workspace."""
    bot.slack.users["UEXTERNAL"] = SlackUser(
        "UEXTERNAL", "Their Admin", "boss@partner.example", is_admin=True, is_stranger=True, **flags
    )
    return "UEXTERNAL"


async def test_someone_from_another_organization_is_refused_like_a_guest(bot: Bot) -> None:
    who = external(bot)
    reply, _ = await bot.command("search status:open", user=who)
    assert reply.status == 200 and reply.text == STRANGERS_REFUSED
    number, uuid = await open_task(bot)
    reply, _ = await bot.command(f"note #{number} hello from outside", user=who)
    assert reply.text == STRANGERS_REFUSED
    assert not any("hello from outside" in (n.text or "") for n in (await bot.task(uuid)).notes)


async def test_another_organizations_admin_is_no_admin_here(make_bot: MakeBot) -> None:
    bot = await make_bot(allow_guests=True)  # even where guests may use the bot
    who = external(bot)
    _, name = await bot.command(f"link <@USTRANGER> {SAM}", user=who)
    assert "Only workspace admins" in (await bot.response(name)).text_of_blocks()
    assert await identity_of(bot, "USTRANGER") is None
    _, name = await bot.command(f"iam {SAM}", user=who)  # an admin's own iam would take effect at once
    assert await identity_of(bot, who) is None


async def test_an_unconfirmed_slack_email_is_no_identity(bot: Bot) -> None:
    assert await identity_of(bot, "UTOM") == TOM  # confirmed: his e-mail is UltraCart's user name
    bot.slack.users["UTOM2"] = SlackUser("UTOM2", "Not Tom", "tom@demo.example", is_email_confirmed=False)
    assert await identity_of(bot, "UTOM2") is None


async def test_no_dm_goes_to_an_unconfirmed_slack_email(bot: Bot) -> None:
    assert await slack_user_for(bot.deps, TEAM, TOM) == "UTOM"
    bot.deps.slack_ids_by_email.clear()
    bot.slack.users["UTOM"].is_email_confirmed = False
    assert await slack_user_for(bot.deps, TEAM, TOM) is None
