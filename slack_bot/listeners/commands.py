"""``/task``: parse (pure), acknowledge at once, then act and answer where it was typed."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from shared_client.tools import ToolInputError
from shared_client.tools.directory import resolve_group, resolve_user
from slack_bot import grammar, ids
from slack_bot import text as t
from slack_bot.blocks import common as c
from slack_bot.blocks.card import activity_line
from slack_bot.blocks.help import help_blocks, notice_blocks, usage_blocks
from slack_bot.blocks.modals import CreatePrefill, create_modal, search_modal
from slack_bot.blocks.results import results_blocks
from slack_bot.deps import Deps
from slack_bot.errors import guard
from slack_bot.identity import OVERRIDE
from slack_bot.operations import (
    Actor,
    Origin,
    change_task,
    identify,
    meta_for,
    more_value,
    my_tasks,
    no_mapping_message,
    origin_of,
    reply,
    resolve_slack_users,
    run_tool,
    show_card,
    task_of_output,
)


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
        view = create_modal(CreatePrefill(title=parsed.title[:250]), meta_for(origin).dump())
        await deps.client.views_open(trigger_id=origin.trigger_id, view=view.to_dict())
    elif isinstance(parsed, grammar.OpenSearch):
        await deps.client.views_open(
            trigger_id=origin.trigger_id, view=search_modal(meta_for(origin).dump()).to_dict()
        )
    elif isinstance(parsed, grammar.Mine):
        await show_mine(deps, origin, await identify(deps, origin.team, origin.user), offset=0)
    elif isinstance(parsed, grammar.SetIdentity):
        await set_identity(deps, origin, parsed.who)
    elif isinstance(parsed, grammar.GroupMembership):
        await membership(deps, origin, parsed)
    else:
        await run_call(deps, origin, parsed, text)


async def run_call(deps: Deps, origin: Origin, call: grammar.ToolCall, text: str) -> None:
    actor = await identify(deps, origin.team, origin.user, required=False)
    try:
        args = await resolve_slack_users(deps, actor, call.args, search=call.tool == "search_tasks")
        if call.tool == "get_task":
            await show_card(deps, origin, task_of_output(await run_tool(deps, actor, "get_task", args)))
        elif call.tool == "update_task":
            await change_task(deps, origin, actor, args, replace=False, note=call.note)
        elif call.tool == "add_task_note":
            task = task_of_output(await run_tool(deps, actor, "add_task_note", args))
            await show_card(deps, origin, task, activity=activity_line(actor.slack_id, ["added a note"]))
        else:
            await show_search(deps, origin, actor, args, cursor=None)
    except ToolInputError as exc:
        # A wrong value in the command: the usage, pointing at the word it came from.
        word = call.words.get((exc.field or "").split(".")[0])
        error = grammar.UsageError(exc.message, text, word, grammar.USAGE.get(call.verb, ""))
        await reply(deps, origin, usage_blocks(error), t.escape(exc.message))


def describe(args: dict[str, Any]) -> str:
    parts = []
    for key, value in args.items():
        shown = ",".join(value) if isinstance(value, list) else str(value)
        parts.append(f"{key}:{shown}")
    return " ".join(parts) or "everything"


async def show_search(
    deps: Deps, origin: Origin, actor: Actor, args: dict[str, Any], *, cursor: str | None
) -> None:
    call = {**args, "limit": c.RESULTS_PER_MESSAGE, **({"cursor": cursor} if cursor else {})}
    output = await run_tool(deps, actor, "search_tasks", call)
    tasks = list(getattr(output, "tasks", None) or [])
    total = getattr(output, "total", None)
    count = f"{total} task(s)" if total is not None else f"{len(tasks)} task(s)"
    title = f"*{count}* for `{t.one_line(describe(args), 500)}`" + (" (continued)" if cursor else "")
    more = more_value("s", a=args, c=output.next_cursor) if getattr(output, "has_more", False) else None  # type: ignore[attr-defined]
    await reply(deps, origin, results_blocks(title, tasks, more_value=more), f"{count} found")


async def show_mine(deps: Deps, origin: Origin, actor: Actor, *, offset: int) -> None:
    mine = await my_tasks(deps, actor)
    tasks = mine.everything
    page = tasks[offset : offset + c.RESULTS_PER_MESSAGE]
    title = f"*Your open tasks* ({len(tasks)}, overdue first)" + (" (continued)" if offset else "")
    more = more_value("m", o=offset + c.RESULTS_PER_MESSAGE) if len(tasks) > offset + len(page) else None
    blocks = results_blocks(
        title, page, more_value=more, note=mine.note, empty="Nothing open is yours. :tada:"
    )
    await reply(deps, origin, blocks, f"{len(tasks)} open task(s)")


async def set_identity(deps: Deps, origin: Origin, who: str | None) -> None:
    if who is not None and who.strip().lower() in {"auto", "reset", "email", "e-mail"}:
        await deps.identities.forget(origin.team, origin.user)
        who = None
    if who is not None:
        try:
            user = resolve_user(await deps.people(), who.strip().strip('"“”'), field="iam")
        except ToolInputError as exc:
            await reply(
                deps, origin, notice_blocks(f":warning: {t.escape(exc.message)}"), t.escape(exc.message)
            )
            return
        if user.user_id is not None:
            await deps.identities.set(origin.team, origin.user, user.user_id, OVERRIDE)
    actor = await identify(deps, origin.team, origin.user, required=False)
    if actor.user is None:
        message = no_mapping_message(origin.user, actor.slack_email)
    else:
        how = (
            "set with `/task iam`; `/task iam auto` goes back to your e-mail"
            if actor.source == OVERRIDE
            else "matched by your Slack e-mail; `/task iam NAME-OR-EMAIL` overrides it"
        )
        message = f"You are *{t.one_line(actor.user.user, 200)}* in UltraCart ({how})."
    await reply(deps, origin, notice_blocks(message), "Your UltraCart identity")


async def membership(deps: Deps, origin: Origin, request: grammar.GroupMembership) -> None:
    actor = await identify(deps, origin.team, origin.user)
    people = await deps.people()
    if request.action in {"join", "leave"}:
        try:
            group = resolve_group(people, request.group, field="group")
        except ToolInputError as exc:
            await reply(
                deps, origin, notice_blocks(f":warning: {t.escape(exc.message)}"), t.escape(exc.message)
            )
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
