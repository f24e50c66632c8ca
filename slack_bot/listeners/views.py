"""Modal submissions: validate without I/O (errors inline, typed values kept), acknowledge, then act.

A form that writes (create, edit, note, reassign) is acknowledged by turning into a "Saving…" view; when
UltraCart has answered it becomes a short confirmation, or, when UltraCart refused or failed, the same form
again with everything the person entered and the error (under the fields it names). Nothing typed is
lost: a person who closed the "Saving…" view gets the error with what they entered instead. The four go
one way, :func:`submit_write`; what differs between them is their :class:`WriteForm` in
:data:`WRITE_FORMS`. The search form writes nothing: it closes at once and the results follow.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from shared_client.tools import CREATE_TASK, ToolError
from shared_client.tools.outputs import TaskDetail
from slack_bot import ids
from slack_bot import text as t
from slack_bot.actors import Actor, identify, resolve_slack_users, run_tool
from slack_bot.blocks.card import card_text, created_line, task_card
from slack_bot.blocks.help import unsaved_blocks
from slack_bot.blocks.modals import form_again, saved_modal, saving_modal
from slack_bot.changes import Change, add_note, announce_change, apply_change
from slack_bot.deps import Deps
from slack_bot.errors import Listener, error_message, error_text, guard, guarded, log_error
from slack_bot.forms import (
    Meta,
    State,
    create_args,
    due_in_zone,
    edit_args,
    inline_errors,
    note_args,
    reassign_args,
    refilled_blocks,
    search_args,
    typed_entries,
)
from slack_bot.notify.writes import record_slack_write
from slack_bot.origin import Origin, origin_of
from slack_bot.replies import notify_assignee, publish_home, reply, show_card
from slack_bot.task_lists import show_search

log = logging.getLogger("slack_bot")

Reader = Callable[[State, Meta], tuple[dict[str, Any], dict[str, str]]]


@dataclass(frozen=True)
class Confirmation:
    title: str
    headline: str  # mrkdwn
    where: str  # mrkdwn: where the result can be seen


@dataclass(frozen=True)
class WriteForm:
    """What differs between the forms that write."""

    read: Reader  # the view's state → tool arguments, or errors by block id (no I/O)
    saving: Callable[[dict[str, Any]], str]  # what "Saving…" says (mrkdwn)
    save: Callable[[Deps, Actor, dict[str, Any]], Awaitable[Change]]  # the tool calls, as the person
    confirm: Callable[[Change, Origin], Confirmation]
    announce: Callable[[Deps, Origin, Actor, Change], Awaitable[None]]  # the card, wherever it goes


class Submitted:
    """A submitted form from its acknowledgement to its outcome. It keeps the view Slack sent (blocks,
    metadata) and its state, so the same form can be rebuilt with what was typed."""

    def __init__(self, deps: Deps, body: dict[str, Any]) -> None:
        self.deps = deps
        self.view: dict[str, Any] = dict(body.get("view") or {})
        self.state: State = dict((self.view.get("state") or {}).get("values") or {})
        self.origin = origin_of(body)

    @property
    def title(self) -> str:
        title = self.view.get("title")
        return str((title.get("text") if isinstance(title, dict) else title) or "Task")

    async def read(self, ack: AsyncAck, read: Reader) -> dict[str, Any] | None:
        """The tool arguments; when the form itself is wrong, Slack shows the errors inline (and None)."""
        args, errors = read(self.state, self.origin.meta)
        if errors:
            await ack(response_action="errors", errors=errors)
            return None
        return args

    async def saving(self, ack: AsyncAck, message: str) -> None:
        """Acknowledge at once by turning the form into "Saving…" (``message``: mrkdwn)."""
        metadata = str(self.view.get("private_metadata") or "")
        await ack(response_action="update", view=saving_modal(self.title, message, metadata))

    async def saved(self, confirmation: Confirmation, task: TaskDetail) -> None:
        """The confirmation. A modal the person already closed (or that expired) is no loss: the card
        follows anyway."""
        view = saved_modal(
            confirmation.title, confirmation.headline, task, self.deps.ultracart_url, confirmation.where
        )
        try:
            await self.deps.client.views_update(view_id=self.origin.view_id, view=view.to_dict())
        except Exception as exc:
            log.info("could not show the confirmation (%s); the card follows", _why(exc))

    async def refused(self, error: Exception) -> None:
        """The same form again, with everything entered and the error under the fields it names; if it
        cannot be shown (closed, expired), the error and what was entered go to the person instead."""
        log_error(error)
        blocks = refilled_blocks(self.view, self.state)
        if isinstance(error, ToolError):
            inputs = {str(b.get("block_id")) for b in blocks if b.get("type") == "input"}
            placed = inline_errors(error, ids.FORM_ERROR, inputs)
            notes = {block: t.escape(message) for block, message in placed.items()}
            view = form_again(self.view, blocks, notes=notes, problem=notes.pop(ids.FORM_ERROR, None))
        else:
            view = form_again(self.view, blocks, problem=error_text(error))
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


async def submit_write(deps: Deps, form: WriteForm, ack: AsyncAck, body: dict[str, Any]) -> None:
    """Errors inline, or "Saving…"; then the tool calls, and the confirmation and the card, or the form
    again with the error."""
    submitted = Submitted(deps, body)
    args = await submitted.read(ack, form.read)
    if args is None:
        return
    if not set(args) - {"task"}:  # the edit form sends only what changed: nothing to save
        await ack()
        return
    await submitted.saving(ack, f":hourglass_flowing_sand: {form.saving(args)}…")
    origin = submitted.origin
    try:
        actor = await identify(deps, origin.team, origin.user, required=False)
        change = await form.save(deps, actor, due_in_zone(args, actor.zone))
    except Exception as error:
        await submitted.refused(error)
        return
    await submitted.saved(form.confirm(change, origin), change.task)
    await form.announce(deps, origin, actor, change)


async def submit_search(deps: Deps, ack: AsyncAck, body: dict[str, Any]) -> None:
    """Searching writes nothing, and results go to the conversation: the form closes at once."""
    submitted = Submitted(deps, body)
    args = await submitted.read(ack, lambda state, _meta: search_args(state))
    if args is None:
        return
    await ack()
    origin = submitted.origin
    actor = await identify(deps, origin.team, origin.user, required=False)
    resolved = await resolve_slack_users(deps, actor, args, search=True)
    where = Origin(user=origin.user, team=origin.team) if origin.home else origin
    await show_search(deps, where, actor, resolved, cursor=None)


# --------------------------------------------------------------------------- each form's own parts


def _where(origin: Origin) -> str:
    if origin.home:
        return "Your App Home is up to date."
    if origin.meta.card:
        return "The card in the conversation is updated too."
    return "The card is in the conversation you started from."


def _changes(change: Change) -> str:
    return t.one_line("; ".join(change.changes) or "nothing (it was already so)", 1500)


async def _on_the_card(
    deps: Deps, origin: Origin, actor: Actor, change: Change, *, verb: str = "changed"
) -> None:
    """Opened from a card, the card changes in place; opened from a list or App Home, it follows."""
    card = origin.meta.card
    await announce_change(deps, origin, actor, change, replace=card, public=card, verb=verb)


async def _create(deps: Deps, actor: Actor, args: dict[str, Any]) -> Change:
    task = (await run_tool(deps, actor, CREATE_TASK, args)).task
    await record_slack_write(deps.identities.db, task.uuid, task.updated, actor.slack_id)
    return Change(task, [], reassigned=task.assigned.user_id is not None)


def _created(change: Change, origin: Origin) -> Confirmation:
    number = change.task.number
    where = (
        "Your App Home lists it, and its card is in your messages with me."
        if origin.home
        else "Its card is in the conversation you started from."
    )
    return Confirmation(f"Task #{number} created", f":white_check_mark: *Task #{number} created.*", where)


async def _announce_created(deps: Deps, origin: Origin, actor: Actor, change: Change) -> None:
    task = change.task
    activity = created_line(actor.slack_id, from_message=bool(origin.meta.link))
    if origin.home:
        await publish_home(deps, origin.team, origin.user)
        dm = Origin(user=origin.user, team=origin.team)
        await reply(deps, dm, task_card(task, deps.ultracart_url, activity=activity), card_text(task))
    else:
        await show_card(deps, origin, task, activity=activity, public=True)
    if change.reassigned:
        await notify_assignee(deps, actor, task)


def _update_form(read: Reader, saving: str, title: str, label: str, *, verb: str = "changed") -> WriteForm:
    """A form whose work is update_task: they differ in what they read and what they say."""
    return WriteForm(
        read=read,
        saving=lambda _: saving,
        save=apply_change,
        confirm=lambda change, origin: Confirmation(
            title, f":white_check_mark: *{label}:* {_changes(change)}", _where(origin)
        ),
        announce=partial(_on_the_card, verb=verb),
    )


WRITE_FORMS: dict[str, WriteForm] = {
    ids.CREATE_MODAL: WriteForm(
        read=create_args,
        saving=lambda args: f"Creating *{t.one_line(args['name'], 200)}*",
        save=_create,
        confirm=_created,
        announce=_announce_created,
    ),
    ids.EDIT_MODAL: _update_form(edit_args, "Saving your changes", "Saved", "Saved", verb="edited"),
    ids.NOTE_MODAL: WriteForm(
        read=note_args,
        saving=lambda _: "Adding your note",
        save=add_note,
        confirm=lambda _, origin: Confirmation(
            "Note added", ":white_check_mark: *Note added.*", _where(origin)
        ),
        announce=_on_the_card,
    ),
    ids.REASSIGN_MODAL: _update_form(reassign_args, "Reassigning", "Reassigned", "Done"),
}


def _write_listener(deps: Deps, form: WriteForm) -> Listener:
    async def submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        await submit_write(deps, form, ack, body)

    return submitted


def register(app: AsyncApp, deps: Deps) -> None:
    for callback_id, form in WRITE_FORMS.items():
        app.view(callback_id)(guarded(deps, _write_listener(deps, form)))

    @app.view(ids.SEARCH_MODAL)
    @guard(deps)
    async def search(ack: AsyncAck, body: dict[str, Any]) -> None:
        await submit_search(deps, ack, body)
