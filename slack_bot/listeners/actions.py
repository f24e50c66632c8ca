"""Buttons, selects and overflow menus on task cards, result lists and App Home."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from shared_client.tools import GET_TASK, ToolError
from slack_bot import ids
from slack_bot.actors import identify, run_tool, slack_profile, user_ref
from slack_bot.blocks.modals import (
    CreatePrefill,
    create_modal,
    edit_modal,
    loading_modal,
    note_modal,
    reassign_modal,
    search_modal,
)
from slack_bot.changes import change_task
from slack_bot.deps import Deps
from slack_bot.errors import Listener, guard, guarded
from slack_bot.forms import edit_initial
from slack_bot.origin import Origin, meta_for, origin_of
from slack_bot.replies import publish_home, show_card
from slack_bot.task_lists import show_more
from slack_bot.text import escape


def register(app: AsyncApp, deps: Deps) -> None:
    @guard(deps)
    async def card_change(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await on_card_change(deps, body)

    for action_id in (ids.ASSIGN_ME, ids.REASSIGN, ids.SET_STATUS, ids.SET_PRIORITY, ids.CLOSE, ids.REOPEN):
        app.action(action_id)(card_change)

    for action_id, kind in ((ids.ADD_NOTE, ids.MENU_NOTE), (ids.EDIT, ids.MENU_EDIT)):
        app.action(action_id)(guarded(deps, _card_modal(deps, kind)))

    @app.action(ids.ROW_MENU)
    @guard(deps)
    async def row_menu(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await on_row_menu(deps, body)

    @app.action(ids.SHOW_TASK)
    @guard(deps)
    async def show(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await on_show(deps, body)

    @app.action(ids.MORE_RESULTS)
    @guard(deps)
    async def more(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await show_more(deps, origin_of(body), str(_action(body).get("value") or ""))

    @app.action(ids.HOME_NEW_TASK)
    @guard(deps)
    async def home_new(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        origin = origin_of(body)
        view = create_modal(CreatePrefill(), meta_for(origin).dump())
        await deps.client.views_open(trigger_id=origin.trigger_id, view=view.to_dict())

    @app.action(ids.HOME_SEARCH)
    @guard(deps)
    async def home_search(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        origin = origin_of(body)
        await deps.client.views_open(
            trigger_id=origin.trigger_id, view=search_modal(meta_for(origin).dump()).to_dict()
        )

    @app.action(ids.HOME_REFRESH)
    @guard(deps)
    async def home_refresh(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        origin = origin_of(body)
        await publish_home(deps, origin.team, origin.user)


def _card_modal(deps: Deps, kind: str) -> Listener:
    """A card's button that opens a form about its task (``kind``: one of the ``MENU_`` verbs)."""

    async def open_from_card(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await open_task_modal(deps, origin_of(body), kind, _action(body).get("value", ""), card=True)

    return open_from_card


def _action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions") or [{}]
    return dict(actions[0])


async def on_show(deps: Deps, body: dict[str, Any]) -> None:
    """A digest row's "Show": the task's card, where the digest is (their DM with the app)."""
    origin = origin_of(body)
    actor = await identify(deps, origin.team, origin.user, required=False)
    task = (await run_tool(deps, actor, GET_TASK, {"task": str(_action(body).get("value") or "")})).task
    await show_card(deps, origin, task)


async def on_card_change(deps: Deps, body: dict[str, Any]) -> None:
    origin = origin_of(body)
    action = _action(body)
    action_id = action.get("action_id")
    task = action.get("value") or ids.task_of(str(action.get("block_id", "")))
    chosen = str((action.get("selected_option") or {}).get("value") or "")
    actor = await identify(deps, origin.team, origin.user, required=action_id == ids.ASSIGN_ME)
    args: dict[str, Any] = {"task": task}
    if action_id == ids.ASSIGN_ME:
        assert actor.user is not None
        args["assignee"] = user_ref(actor.user)
    elif action_id == ids.REASSIGN:
        args["assignee"] = chosen
    elif action_id == ids.SET_STATUS:
        args["status"] = chosen
    elif action_id == ids.SET_PRIORITY:
        args["priority"] = chosen
    else:
        args["status"] = "closed" if action_id == ids.CLOSE else "open"
    await change_task(deps, origin, actor, args, replace=True)


async def open_task_modal(
    deps: Deps, origin: Origin, kind: str, task_uuid: str, *, card: bool = False
) -> None:
    """Open at once (the trigger expires in 3 s) with a placeholder, then fill it when UltraCart answers."""
    titles = {ids.MENU_NOTE: "Add a note", ids.MENU_EDIT: "Edit task", ids.MENU_REASSIGN: "Reassign"}
    opened = await deps.client.views_open(
        trigger_id=origin.trigger_id, view=loading_modal(titles[kind], "Loading the task…").to_dict()
    )
    view_id = str((opened.get("view") or {}).get("id") or "")
    try:
        task = (await run_tool(deps, None, GET_TASK, {"task": task_uuid})).task
    except ToolError as exc:
        await deps.client.views_update(
            view_id=view_id,
            view=loading_modal("Could not load it", f":warning: {escape(exc.message)}").to_dict(),
        )
        return
    meta = meta_for(origin, task=task.uuid, card=card and not origin.home)
    if kind == ids.MENU_EDIT:
        zone = (await slack_profile(deps, origin.user)).zone
        meta.initial = edit_initial(task, zone)
        view = edit_modal(task, meta.dump(), zone)
    elif kind == ids.MENU_NOTE:
        view = note_modal(task.number, task.name, meta.dump())
    else:
        view = reassign_modal(task.number, task.name, meta.dump())
    await deps.client.views_update(view_id=view_id, view=view.to_dict())


async def on_row_menu(deps: Deps, body: dict[str, Any]) -> None:
    origin = origin_of(body)
    chosen = str((_action(body).get("selected_option") or {}).get("value") or "")
    verb, _, task = chosen.partition("|")
    if verb in {ids.MENU_NOTE, ids.MENU_EDIT, ids.MENU_REASSIGN}:
        await open_task_modal(deps, origin, verb, task)
        return
    actor = await identify(deps, origin.team, origin.user, required=verb == ids.MENU_ASSIGN_ME)
    args: dict[str, Any] = {"task": task}
    if verb == ids.MENU_ASSIGN_ME:
        assert actor.user is not None
        args["assignee"] = user_ref(actor.user)
    else:
        args["status"] = "closed" if verb == ids.MENU_CLOSE else "open"
    # The list stays as it was; the changed task's card follows it, only for this person.
    await change_task(deps, origin, actor, args, replace=False, public=False)
