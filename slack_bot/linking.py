"""Identities nobody can claim: ``/task iam`` (a request the admins answer), ``/task link`` / ``unlink``
and ``/task people`` (admins only), and the Approve / Decline / Link buttons.

Admins are the workspace's admins and owners as Slack says now (users.info's ``is_admin`` / ``is_owner``,
asked at each decision, never from a cache). ``/task iam USER`` stores a request and DMs every admin
(users.list) a message with Approve and Decline; nothing changes until one approves, and the requester is
told the outcome. An admin's own ``/task iam`` takes effect at once (they could link themselves anyway).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from shared_client.models import WorkflowUser, email_name
from shared_client.tools import ToolInputError
from shared_client.tools.directory import PeopleSnapshot, resolve_user
from slack_bot import access, ids
from slack_bot import text as t
from slack_bot.actors import how_known, identify, no_mapping_message, slack_profile
from slack_bot.blocks import common as c
from slack_bot.blocks.help import notice_blocks
from slack_bot.deps import Deps
from slack_bot.identity import IAM, LINK
from slack_bot.origin import Origin
from slack_bot.replies import reply

log = logging.getLogger("slack_bot")

PEOPLE_ROWS = 40  # a message holds 50 blocks


def _name(user: WorkflowUser) -> str:
    return t.escape(t.one_line(user.user or f"user {user.user_id}", 100))


def _button_value(slack_id: str, uc_user_id: int) -> str:
    return f"{slack_id}:{uc_user_id}"


def parse_button_value(value: str) -> tuple[str, int] | None:
    slack_id, _, uid = value.partition(":")
    if not slack_id or not uid.isdigit():
        return None
    return slack_id, int(uid)


async def _notice(deps: Deps, origin: Origin, message: str, *, replace: bool = False) -> None:
    await reply(deps, origin, notice_blocks(message), t.truncate(message, 300), replace=replace)


async def _resolve(deps: Deps, origin: Origin, who: str, field: str) -> WorkflowUser | None:
    try:
        user = resolve_user(await deps.people(), who.strip().strip('"“”'), field=field)
    except ToolInputError as exc:
        await _notice(deps, origin, f":warning: {t.escape(exc.message)}")
        return None
    return user if user.user_id is not None else None


async def _admins_only(deps: Deps, origin: Origin, what: str) -> bool:
    if await access.is_admin(deps, origin.user):
        return True
    await _notice(deps, origin, f":no_entry: {access.ADMINS_ONLY.format(what=what)}")
    return False


# --------------------------------------------------------------------------- /task iam


async def show_identity(deps: Deps, origin: Origin) -> None:
    actor = await identify(deps, origin.team, origin.user, required=False)
    if actor.user is None:
        message = no_mapping_message(origin.user)
    else:
        message = f"You are *{_name(actor.user)}* in UltraCart ({how_known(actor)})."
    pending = await deps.identities.pending(origin.team, origin.user)
    if pending is not None:
        asked = (await deps.people()).user_by_id(pending.uc_user_id)
        shown = _name(asked) if asked else f"user {pending.uc_user_id}"
        message += f"\nYour request to be *{shown}* is waiting for a workspace admin."
    await reply(deps, origin, notice_blocks(message), "Your UltraCart identity")


async def request_identity(deps: Deps, origin: Origin, who: str) -> None:
    """``/task iam USER``: ask the admins; nothing changes until one approves."""
    user = await _resolve(deps, origin, who, "iam")
    if user is None or user.user_id is None:
        return
    actor = await identify(deps, origin.team, origin.user, required=False)
    if actor.user is not None and actor.user.user_id == user.user_id:
        await _notice(deps, origin, f"You are already *{_name(user)}* in UltraCart ({how_known(actor)}).")
        return
    if (await slack_profile(deps, origin.user, fresh=True)).is_admin:
        await deps.identities.set(origin.team, origin.user, user.user_id, LINK)
        await _notice(deps, origin, f":white_check_mark: You are now *{_name(user)}* in UltraCart.")
        return
    admins = [a for a in await access.admins(deps) if a != origin.user]
    if not admins:
        await _notice(deps, origin, ":warning: I found no workspace admin to approve it; nothing changed.")
        return
    await deps.identities.request(origin.team, origin.user, user.user_id)
    value = _button_value(origin.user, user.user_id)
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"<@{origin.user}> asks to be *{_name(user)}* (user {user.user_id}) in UltraCart: "
                "they would see that user's tasks as theirs, get that user's DMs and act as them. "
                "Approve only if this is really them."
            )
        ),
        ActionsBlock(
            block_id=f"{ids.IAM_APPROVE}:{value}",
            elements=[
                ButtonElement(text="Approve", action_id=ids.IAM_APPROVE, value=value, style="primary"),
                ButtonElement(text="Decline", action_id=ids.IAM_DECLINE, value=value, style="danger"),
            ],
        ),
    ]
    text = f"<@{origin.user}> asks to be {_name(user)} in UltraCart"
    for admin in admins:
        try:
            await deps.client.chat_postMessage(channel=admin, blocks=c.dump(blocks), text=text)
        except Exception as exc:  # one admin we cannot DM does not stop the others
            log.warning("could not DM an admin about an identity request: %s", type(exc).__name__)
    await _notice(
        deps,
        origin,
        f":hourglass: I asked the workspace's admins to confirm that you are *{_name(user)}*; "
        "nothing changes until one of them approves, and I'll tell you.",
    )


async def answer_request(deps: Deps, origin: Origin, value: str, *, approve: bool) -> None:
    """An admin's Approve / Decline on a ``/task iam`` request."""
    if not await _admins_only(deps, origin, "answer identity requests"):
        return
    parsed = parse_button_value(value)
    if parsed is None:
        return
    requester, uc_user_id = parsed
    if not await deps.identities.take_request(origin.team, requester, uc_user_id):
        await _notice(
            deps, origin, "That request was already answered, or replaced by a newer one.", replace=True
        )
        return
    user = (await deps.people()).user_by_id(uc_user_id)
    shown = _name(user) if user else f"user {uc_user_id}"
    if approve:
        await deps.identities.set(origin.team, requester, uc_user_id, IAM)
        told = f":white_check_mark: <@{origin.user}> approved: you are now *{shown}* in UltraCart."
        done = f":white_check_mark: Approved by <@{origin.user}>: <@{requester}> is *{shown}* in UltraCart."
    else:
        told = f":x: <@{origin.user}> declined your request to be *{shown}* in UltraCart; nothing changed."
        done = f":x: Declined by <@{origin.user}>: <@{requester}> asked to be *{shown}*."
    await _notice(deps, origin, done, replace=True)
    await deps.client.chat_postMessage(channel=requester, blocks=c.dump(notice_blocks(told)), text=told)


# --------------------------------------------------------------------------- /task link, unlink


async def link_member(deps: Deps, origin: Origin, member: str, who: str) -> None:
    if not await _admins_only(deps, origin, "link members to UltraCart users"):
        return
    user = await _resolve(deps, origin, who, "link")
    if user is None or user.user_id is None:
        return
    await _link(deps, origin, member, user)


async def _link(deps: Deps, origin: Origin, member: str, user: WorkflowUser, replace: bool = False) -> None:
    assert user.user_id is not None
    await deps.identities.set(origin.team, member, user.user_id, LINK)
    pending = await deps.identities.pending(origin.team, member)
    if pending is not None:
        await deps.identities.take_request(origin.team, member, pending.uc_user_id)
    await _notice(deps, origin, f":link: <@{member}> is now *{_name(user)}* in UltraCart.", replace=replace)


async def link_button(deps: Deps, origin: Origin, value: str) -> None:
    """The Link button of ``/task people``."""
    if not await _admins_only(deps, origin, "link members to UltraCart users"):
        return
    parsed = parse_button_value(value)
    user = (await deps.people()).user_by_id(parsed[1]) if parsed else None
    if parsed is None or user is None:
        await _notice(deps, origin, ":warning: That UltraCart user is no longer there.")
        return
    await _link(deps, origin, parsed[0], user)


async def unlink_member(deps: Deps, origin: Origin, member: str) -> None:
    if not await _admins_only(deps, origin, "unlink members"):
        return
    had = await deps.identities.forget(origin.team, member)
    message = (
        f":broken_chain: <@{member}> is no longer linked to an UltraCart user."
        if had
        else f"<@{member}> was not linked (a connected key or a matching e-mail is theirs to keep)."
    )
    await _notice(deps, origin, message)


# --------------------------------------------------------------------------- /task people


def _names(member: dict[str, Any]) -> set[str]:
    profile = member.get("profile") or {}
    shown = (
        profile.get("real_name"),
        profile.get("display_name"),
        member.get("real_name"),
        member.get("name"),
    )
    return {" ".join(str(n).lower().split()) for n in shown if n and str(n).strip()}


def _suggestions(user: WorkflowUser, members: list[dict[str, Any]]) -> list[str]:
    """Slack members whose name is the UltraCart user's, then those with the same first name (for a name
    that is an e-mail address, its local part)."""
    name = " ".join((email_name(user) or user.user or "").split("@")[0].lower().replace(".", " ").split())
    if not name:
        return []
    first = name.split()[0]
    same = [str(m["id"]) for m in members if name in _names(m)]
    similar = [
        str(m["id"])
        for m in members
        if str(m["id"]) not in same and first in {n.split()[0] for n in _names(m)}
    ]
    return same + similar


async def show_people(deps: Deps, origin: Origin) -> None:
    if not await _admins_only(deps, origin, "see who is who"):
        return
    people: PeopleSnapshot = await deps.people()
    members = await access.members(deps)
    links = await deps.identities.links(origin.team)
    connected = await deps.connected_members(origin.team)
    known: dict[int, list[str]] = {}
    for slack_id, uid in connected.items():
        known.setdefault(uid, []).append(f"<@{slack_id}> (own key)")
    for link in links:
        how = "linked" if link.source == LINK else "approved"
        known.setdefault(link.uc_user_id, []).append(f"<@{link.slack_user_id}> ({how})")
    taken = {link.slack_user_id for link in links} | set(connected)
    by_email = {
        str((m.get("profile") or {}).get("email") or "").lower(): str(m["id"])
        for m in members
        if (m.get("profile") or {}).get("email") and m.get("is_email_confirmed") is not False
    }
    for user in people.users:
        matched = by_email.get(email_name(user) or "")
        if user.user_id is not None and matched and matched not in taken:
            known.setdefault(user.user_id, []).append(f"<@{matched}> (their Slack e-mail)")
            taken.add(matched)
    free = [m for m in members if str(m.get("id")) not in taken]
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text="*Who is who* (UltraCart user → Slack member)"))
    ]
    rows = 0
    nobody: list[WorkflowUser] = []
    for user in people.users:
        if user.user_id is None:
            continue
        if user.user_id in known:
            if rows < PEOPLE_ROWS:
                who = ", ".join(known[user.user_id])
                blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*{_name(user)}*: {who}")))
                rows += 1
        else:
            nobody.append(user)
    if nobody:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="*UltraCart users nobody is linked to*")))
    for user in nobody:
        if rows >= PEOPLE_ROWS:
            break
        auto = " (whoever has this Slack e-mail will be them)" if email_name(user) else ""
        suggested = _suggestions(user, free)[:1]
        text = f"*{_name(user)}* (user {user.user_id}){auto}"
        if suggested and user.user_id is not None:
            text += f": perhaps <@{suggested[0]}>?"
            button = ButtonElement(
                text="Link", action_id=ids.PEOPLE_LINK, value=_button_value(suggested[0], user.user_id)
            )
            blocks.append(SectionBlock(text=MarkdownTextObject(text=text), accessory=button))
        else:
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=text + f": `/task link @member {user.user_id}`"))
            )
        rows += 1
    if rows >= PEOPLE_ROWS:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="…and more; link by name or id.")]))
    unlinked = [m for m in free if not m.get("is_restricted") and not m.get("is_ultra_restricted")]
    if unlinked:
        shown = ", ".join(f"<@{m['id']}>" for m in unlinked[:30])
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t.truncate(f"Members not linked: {shown}", 2900))])
        )
    await reply(deps, origin, blocks, "Who is who in UltraCart")
