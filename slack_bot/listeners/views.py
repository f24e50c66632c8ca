"""Modal submissions: validate without I/O (errors inline, typed values kept), acknowledge, then act.

A form that writes (create, edit, note, reassign) is acknowledged by turning into a "Saving…" view; when
UltraCart has answered it becomes a short confirmation, or, when UltraCart refused or failed, the same form
again with everything the person entered and the error (under its field when it names one). Nothing
typed is lost: a person who closed the "Saving…" view gets the error with what they entered instead.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from shared_client.tools import ToolError
from shared_client.tools.outputs import TaskDetail
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks.card import activity_line, card_text, created_line, task_card
from slack_bot.blocks.help import unsaved_blocks
from slack_bot.blocks.modals import form_again, saved_modal, saving_modal
from slack_bot.deps import Deps
from slack_bot.errors import error_message, error_text, guard, log_error
from slack_bot.forms import (
    State,
    create_args,
    edit_args,
    error_block,
    field_message,
    note_args,
    reassign_args,
    refilled_blocks,
    search_args,
    typed_entries,
)
from slack_bot.listeners.commands import show_search
from slack_bot.operations import (
    Origin,
    announce_change,
    apply_change,
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

log = logging.getLogger("slack_bot")


def _state(body: dict[str, Any]) -> State:
    return dict(((body.get("view") or {}).get("state") or {}).get("values") or {})


class Submitted:
    """A submitted form from its "Saving…" acknowledgement to its outcome. It keeps the view Slack sent
    (blocks, metadata) and its state, so the same form can be rebuilt with what was typed."""

    def __init__(self, deps: Deps, body: dict[str, Any], origin: Origin) -> None:
        self.deps = deps
        self.view: dict[str, Any] = dict(body.get("view") or {})
        self.state = _state(body)
        self.origin = origin

    @property
    def title(self) -> str:
        title = self.view.get("title")
        return str((title.get("text") if isinstance(title, dict) else title) or "Task")

    async def saving(self, ack: AsyncAck, message: str) -> None:
        """Acknowledge at once by turning the form into "Saving…" (``message``: mrkdwn)."""
        metadata = str(self.view.get("private_metadata") or "")
        await ack(response_action="update", view=saving_modal(self.title, message, metadata))

    async def saved(self, title: str, headline: str, task: TaskDetail, where: str) -> None:
        """The confirmation. A modal the person already closed (or that expired) is no loss: the card
        follows anyway."""
        view = saved_modal(title, headline, task, where)
        try:
            await self.deps.client.views_update(view_id=self.origin.view_id, view=view.to_dict())
        except Exception as exc:
            log.info("could not show the confirmation (%s); the card follows", _why(exc))

    async def refused(self, error: Exception) -> None:
        """The same form again, with everything entered and the error; if it cannot be shown (closed,
        expired), the error and what was entered go to the person as a message instead."""
        log_error(error)
        blocks = refilled_blocks(self.view, self.state)
        block = error_block(error) if isinstance(error, ToolError) else None
        inputs = {b.get("block_id") for b in blocks if b.get("type") == "input"}
        if isinstance(error, ToolError) and block in inputs:
            view = form_again(self.view, blocks, t.escape(field_message(error)), block)
        else:
            view = form_again(self.view, blocks, error_text(error))
        try:
            await self.deps.client.views_update(view_id=self.origin.view_id, view=view.to_dict())
            return
        except Exception as exc:
            log.info("could not show the form again (%s); sending what was entered", _why(exc))
        message = error_message(error)
        await reply(
            self.deps, self.origin, unsaved_blocks(message, typed_entries(blocks)), t.truncate(message, 300)
        )


def _why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    code = response.get("error") if response is not None else None
    return str(code or type(exc).__name__)


def _where(origin: Origin) -> str:
    if origin.home:
        return "Your App Home is up to date."
    if origin.meta.card:
        return "The card in the conversation is updated too."
    return "The card is in the conversation you started from."


async def submit_change(
    deps: Deps,
    body: dict[str, Any],
    origin: Origin,
    ack: AsyncAck,
    args: dict[str, Any],
    *,
    saving: str,
    done: tuple[str, str],
    verb: str = "changed",
) -> None:
    """An update_task form: "Saving…", then the confirmation and the card, or the form again with
    the error."""
    form = Submitted(deps, body, origin)
    await form.saving(ack, f":hourglass_flowing_sand: {saving}…")
    try:
        actor = await identify(deps, origin.team, origin.user, required=False)
        change = await apply_change(deps, actor, args)
    except Exception as error:
        await form.refused(error)
        return
    title, label = done
    changes = t.one_line("; ".join(change.changes) or "nothing (it was already so)", 1500)
    await form.saved(title, f":white_check_mark: *{label}:* {changes}", change.task, _where(origin))
    await announce_change(
        deps, origin, actor, change, replace=origin.meta.card, public=origin.meta.card, verb=verb
    )


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(ids.CREATE_MODAL)
    @guard(deps)
    async def create(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = create_args(_state(body), origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        form = Submitted(deps, body, origin)
        await form.saving(ack, f":hourglass_flowing_sand: Creating *{t.one_line(args['name'], 200)}*…")
        await on_create(deps, origin, args, form)

    @app.view(ids.EDIT_MODAL)
    @guard(deps)
    async def edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = edit_args(_state(body), origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        if len(args) <= 1:  # nothing changed: nothing to save
            await ack()
            return
        saving = "Saving your changes"
        await submit_change(
            deps, body, origin, ack, args, saving=saving, done=("Saved", "Saved"), verb="edited"
        )

    @app.view(ids.NOTE_MODAL)
    @guard(deps)
    async def note(ack: AsyncAck, body: dict[str, Any]) -> None:
        origin = origin_of(body)
        args, errors = note_args(_state(body), origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        form = Submitted(deps, body, origin)
        await form.saving(ack, ":hourglass_flowing_sand: Adding your note…")
        try:
            actor = await identify(deps, origin.team, origin.user, required=False)
            task = task_of_output(await run_tool(deps, actor, "add_task_note", args))
        except Exception as error:
            await form.refused(error)
            return
        await form.saved("Note added", ":white_check_mark: *Note added.*", task, _where(origin))
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
        await submit_change(deps, body, origin, ack, args, saving="Reassigning", done=("Reassigned", "Done"))

    @app.view(ids.SEARCH_MODAL)
    @guard(deps)
    async def search(ack: AsyncAck, body: dict[str, Any]) -> None:
        # Searching writes nothing, and results go to the conversation: the form closes at once.
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


async def on_create(deps: Deps, origin: Origin, args: dict[str, Any], form: Submitted) -> None:
    try:
        actor = await identify(deps, origin.team, origin.user, required=False)
        task = task_of_output(await run_tool(deps, actor, "create_task", args))
    except Exception as error:
        await form.refused(error)
        return
    headline = f":white_check_mark: *Task #{task.number} created.*"
    where = (
        "Your App Home lists it, and its card is in your messages with me."
        if origin.home
        else "Its card is in the conversation you started from."
    )
    await form.saved(f"Task #{task.number} created", headline, task, where)
    activity = created_line(actor.slack_id, from_message=bool(origin.meta.link))
    if origin.home:
        await publish_home(deps, origin.team, origin.user)
        dm = Origin(user=origin.user, team=origin.team)
        await reply(deps, dm, task_card(task, activity=activity), card_text(task))
    else:
        await show_card(deps, origin, task, activity=activity, public=True)
    if task.assigned.user_id is not None:
        await notify_assignee(deps, actor, task)
