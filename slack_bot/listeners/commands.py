"""``/task``: parse (pure), acknowledge at once, then act and answer where it was typed."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from shared_client.tools import (
    ADD_TASK_NOTE,
    GET_TASK,
    SEARCH_TASKS,
    UPDATE_TASK,
    ErrorKind,
    ToolError,
    ToolInputError,
)
from shared_client.tools.directory import resolve_group
from slack_bot import grammar, ids, linking
from slack_bot import text as t
from slack_bot.actors import identify, resolve_slack_users, run_tool
from slack_bot.blocks.help import help_blocks, notice_blocks, usage_blocks
from slack_bot.blocks.modals import create_modal, search_modal, titled_prefill
from slack_bot.changes import add_note, announce_change, change_task
from slack_bot.deps import Deps
from slack_bot.digest.command import handle_digest
from slack_bot.errors import guard
from slack_bot.listeners.connect import disconnect, open_connect
from slack_bot.notify import commands as notify_commands
from slack_bot.origin import Origin, meta_for, origin_of
from slack_bot.replies import reply, show_card
from slack_bot.task_lists import show_mine, show_search


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command(ids.COMMAND)
    @guard(deps)
    async def task_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await handle_command(deps, body)


async def handle_command(deps: Deps, body: dict[str, Any]) -> None:
    origin = origin_of(body)
    text = str(body.get("text") or "")
    parsed = grammar.parse(text)
    if isinstance(parsed, grammar.ShowHelp):
        await reply(deps, origin, help_blocks(), "/task help")
    elif isinstance(parsed, grammar.UsageError):
        await reply(deps, origin, usage_blocks(parsed), t.escape(parsed.message))
    elif isinstance(parsed, grammar.OpenCreate):
        view = create_modal(titled_prefill(parsed.title), meta_for(origin).dump())
        await deps.client.views_open(trigger_id=origin.trigger_id, view=view.to_dict())
    elif isinstance(parsed, grammar.OpenSearch):
        await deps.client.views_open(
            trigger_id=origin.trigger_id, view=search_modal(meta_for(origin).dump()).to_dict()
        )
    elif isinstance(parsed, grammar.Mine):
        await show_mine(deps, origin, await identify(deps, origin.team, origin.user), offset=0)
    elif isinstance(parsed, grammar.SetIdentity):
        if parsed.who is None:
            await linking.show_identity(deps, origin)
        else:
            await linking.request_identity(deps, origin, parsed.who)
    elif isinstance(parsed, grammar.LinkMember):
        await linking.link_member(deps, origin, parsed.member, parsed.who)
    elif isinstance(parsed, grammar.UnlinkMember):
        await linking.unlink_member(deps, origin, parsed.member)
    elif isinstance(parsed, grammar.ShowPeople):
        await linking.show_people(deps, origin)
    elif isinstance(parsed, grammar.GroupMembership):
        await membership(deps, origin, parsed)
    elif isinstance(parsed, grammar.Subscribe):
        await notify_commands.subscribe(deps, origin, parsed, text)
    elif isinstance(parsed, grammar.Unsubscribe):
        await notify_commands.unsubscribe(deps, origin, parsed)
    elif isinstance(parsed, grammar.ShowSubscriptions):
        await notify_commands.show_subscriptions(deps, origin)
    elif isinstance(parsed, grammar.ConnectKey):
        await (open_connect(deps, origin) if parsed.connect else disconnect(deps, origin))
    elif isinstance(parsed, grammar.DigestSetting):
        await handle_digest(deps, origin, parsed)
    else:
        await run_call(deps, origin, parsed, text)


# What a command's usage reply answers: a wrong value, or a task that is not there, named by its field.
USAGE_KINDS = frozenset({ErrorKind.BAD_INPUT, ErrorKind.NOT_FOUND})


async def run_call(deps: Deps, origin: Origin, call: grammar.ToolCall, text: str) -> None:
    actor = await identify(deps, origin.team, origin.user, required=False)
    try:
        args = await resolve_slack_users(deps, actor, call.args, search=call.tool is SEARCH_TASKS)
        if call.tool is GET_TASK:
            await show_card(deps, origin, (await run_tool(deps, actor, GET_TASK, args)).task)
        elif call.tool is UPDATE_TASK:
            await change_task(deps, origin, actor, args, replace=False, note=call.note)
        elif call.tool is ADD_TASK_NOTE:
            await announce_change(deps, origin, actor, await add_note(deps, actor, args), replace=False)
        else:
            await show_search(deps, origin, actor, args, cursor=None)
    except ToolError as exc:
        if exc.kind not in USAGE_KINDS or not exc.fields:
            raise  # UltraCart's answer, not the command's words: the one error handler tells them
        # The usage, pointing at the word the field came from.
        word = call.words.get(exc.fields[0].top)
        error = grammar.UsageError(exc.message, text, word, grammar.USAGE.get(call.verb, ""))
        await reply(deps, origin, usage_blocks(error), t.escape(exc.message))


async def _refused(deps: Deps, origin: Origin, error: ToolError) -> None:
    message = t.escape(error.message)
    await reply(deps, origin, notice_blocks(f":warning: {message}"), message)


async def membership(deps: Deps, origin: Origin, request: grammar.GroupMembership) -> None:
    actor = await identify(deps, origin.team, origin.user)
    people = await deps.people()
    if request.action in {"join", "leave"}:
        try:
            group = resolve_group(people, request.group, field="group")
        except ToolInputError as exc:
            await _refused(deps, origin, exc)
            return
        if group.group_id is not None:
            if request.action == "join":
                await deps.identities.join(origin.team, origin.user, group.group_id)
            else:
                await deps.identities.leave(origin.team, origin.user, group.group_id)
        actor = await identify(deps, origin.team, origin.user)
    if actor.is_credential_user:
        message = (
            "UltraCart knows your groups itself (you are the bot's own UltraCart user): "
            "`/task mine` already includes them."
        )
    else:
        mine = ", ".join(t.escape(g.group or "") for g in actor.groups) or "none yet"
        message = f"Your groups for `/task mine` and App Home: *{mine}*."
    every = ", ".join(t.escape(g.group or "") for g in people.groups)
    message += f'\nGroups: {t.truncate(every, 1500)}. `/task join "GROUP"` · `/task leave "GROUP"`'
    await reply(deps, origin, notice_blocks(message), "Your groups")
