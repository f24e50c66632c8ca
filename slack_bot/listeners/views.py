"""Modal submissions: validate without I/O (errors inline, typed values kept), acknowledge, then act."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from slack_bot import ids
from slack_bot.blocks.card import activity_line, card_text, created_line, task_card
from slack_bot.deps import Deps
from slack_bot.errors import guard
from slack_bot.forms import State, create_args, edit_args, note_args, reassign_args, search_args
from slack_bot.listeners.commands import show_search
from slack_bot.operations import (
    Origin,
    change_task,
    identify,
    notify_assignee,
    origin_of,
    publish_home,
    reply,
    resolve_slack_users,
    run_tool,
    show_card,
    task_of_output,
)


def _state(body: dict[str, Any]) -> State:
    return dict(((body.get("view") or {}).get("state") or {}).get("values") or {})


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(ids.CREATE_MODAL)
    @guard(deps)
    async def create(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = create_args(_state(body), origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await on_create(deps, origin, args)

    @app.view(ids.EDIT_MODAL)
    @guard(deps)
    async def edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = edit_args(_state(body), origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        if len(args) > 1:  # something changed
            actor = await identify(deps, origin.team, origin.user, required=False)
            await change_task(
                deps, origin, actor, args, replace=origin.meta.card, public=origin.meta.card, verb="edited"
            )

    @app.view(ids.NOTE_MODAL)
    @guard(deps)
    async def note(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = note_args(_state(body), origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        actor = await identify(deps, origin.team, origin.user, required=False)
        task = task_of_output(await run_tool(deps, actor, "add_task_note", args))
        await show_card(
            deps,
            origin,
            task,
            activity=activity_line(actor.slack_id, ["added a note"]),
            replace=origin.meta.card,
            public=origin.meta.card,
        )

    @app.view(ids.REASSIGN_MODAL)
    @guard(deps)
    async def reassign(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = reassign_args(_state(body), origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        actor = await identify(deps, origin.team, origin.user, required=False)
        await change_task(deps, origin, actor, args, replace=origin.meta.card, public=origin.meta.card)

    @app.view(ids.SEARCH_MODAL)
    @guard(deps)
    async def search(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = search_args(_state(body))
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        actor = await identify(deps, origin.team, origin.user, required=False)
        resolved = await resolve_slack_users(deps, actor, args, search=True)
        where = Origin(user=origin.user, team=origin.team) if origin.home else origin
        await show_search(deps, where, actor, resolved, cursor=None)


async def on_create(deps: Deps, origin: Origin, args: dict[str, Any]) -> None:
    actor = await identify(deps, origin.team, origin.user, required=False)
    task = task_of_output(await run_tool(deps, actor, "create_task", args))
    activity = created_line(actor.slack_id, from_message=bool(origin.meta.link))
    if origin.home:
        await publish_home(deps, origin.team, origin.user)
        dm = Origin(user=origin.user, team=origin.team)
        await reply(deps, dm, task_card(task, activity=activity), card_text(task))
    else:
        await show_card(deps, origin, task, activity=activity, public=True)
    if task.assigned.user_id is not None:
        await notify_assignee(deps, actor, task)
