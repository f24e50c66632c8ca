"""``/task connect``: a modal where a member pastes their own UltraCart simple key; ``/task disconnect``.

The key is verified with ``GET /workflow/me`` before the submission is acknowledged (within Slack's 3 s):
a refused key is an error under the field, which keeps what was typed (Slack keeps it; the bot never
sends the key back), and nothing is stored. An accepted key is stored encrypted (:mod:`slack_bot.keys`)
and the modal says who UltraCart says it is. The key is in no view, message or log line of the bot's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from slack_bot import text as t
from slack_bot.blocks.help import notice_blocks
from slack_bot.deps import Deps
from slack_bot.errors import guard
from slack_bot.keys import MAX_KEY_LENGTH, NO_SECRET_KEY, SETTING, KeyRefused, KeyUnverified
from slack_bot.origin import Origin, origin_of
from slack_bot.replies import reply

log = logging.getLogger("slack_bot")

CONNECT_MODAL = "task_connect"
KEY_BLOCK = "connect_key"
KEY_ACTION = "key"
VERIFY_WAIT = 2.4  # seconds UltraCart has to answer GET /workflow/me: Slack waits 3 s for the answer

INTRO = (
    "Paste a simple key of *your own* UltraCart user: from then on what you do here is done as you in "
    "UltraCart, with your own permissions and request budget.\n"
    "To make one, in UltraCart open *Configuration → Developer → API Keys* (the menu may be named a little "
    "differently on your account), add a simple key for yourself and give it the *Workflow* permissions "
    "(read and write)."
)
PROMISE = (
    "It is checked with UltraCart, stored encrypted and never shown again. `/task disconnect` forgets it."
)
REFUSED = "UltraCart refused this key: copy it again whole, and check that it has the Workflow permissions."
UNVERIFIED = "UltraCart could not be asked about this key just now: submit again in a moment."
NOT_A_KEY = (
    f"That is not a simple key: paste the key itself (printable characters, at most {MAX_KEY_LENGTH})."
)
NO_SECRET_KEY_SHORT = f"{SETTING} is not set on the bot: an admin must set it first."


def connect_modal(status: str | None) -> dict[str, Any]:
    """The form. ``status``: mrkdwn about a key already connected."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": INTRO}}]
    if status:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": status}]})
    blocks += [
        {
            "type": "input",
            "block_id": KEY_BLOCK,
            "label": {"type": "plain_text", "text": "Your UltraCart simple key"},
            "element": {
                "type": "plain_text_input",
                "action_id": KEY_ACTION,
                "max_length": MAX_KEY_LENGTH,
                "placeholder": {"type": "plain_text", "text": "Paste the key here"},
            },
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": PROMISE}]},
    ]
    return {
        "type": "modal",
        "callback_id": CONNECT_MODAL,
        "title": {"type": "plain_text", "text": "Connect UltraCart"},
        "submit": {"type": "plain_text", "text": "Connect"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def connected_view(name: str) -> dict[str, Any]:
    message = (
        f":white_check_mark: Connected as *{t.one_line(name, 200)}* in UltraCart.\n"
        "What you do here now uses your own key: UltraCart's history names you, and `/task mine` is "
        "UltraCart's own list of your tasks, your groups' included. `/task disconnect` forgets the key."
    )
    return {
        "type": "modal",
        "callback_id": f"{CONNECT_MODAL}_done",
        "title": {"type": "plain_text", "text": "Connect UltraCart"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": message}}],
    }


async def _say(deps: Deps, origin: Origin, message: str) -> None:
    await reply(deps, origin, notice_blocks(message), t.truncate(message, 300))


async def open_connect(deps: Deps, origin: Origin) -> None:
    members = deps.member_keys
    if members is None or not members.vault.available:
        await _say(deps, origin, f":lock: {t.escape(NO_SECRET_KEY)}")
        return
    existing = await members.vault.get(origin.team, origin.user)
    status = None
    if existing is not None:
        name = t.escape(t.one_line(existing.uc_user_name, 200))
        status = (
            f"You are connected as *{name}*; a new key replaces it."
            if existing.working
            else f"Your key (as *{name}*) stopped working: paste a new one."
        )
    await deps.client.views_open(trigger_id=origin.trigger_id, view=connect_modal(status))


async def disconnect(deps: Deps, origin: Origin) -> None:
    members = deps.member_keys
    existing = await members.vault.get(origin.team, origin.user) if members is not None else None
    forgot = members is not None and await members.vault.forget(origin.team, origin.user)
    if members is not None and existing is not None:
        await members.drop(existing)
    if forgot:
        message = (
            "Forgot your UltraCart key: what you do here goes through the workspace's key again. "
            "Delete the key in UltraCart too if nothing else uses it."
        )
    else:
        message = "You have no UltraCart key connected (`/task connect` connects one)."
    await _say(deps, origin, message)


def _typed_key(body: dict[str, Any]) -> str:
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return str(((values.get(KEY_BLOCK) or {}).get(KEY_ACTION) or {}).get("value") or "").strip()


async def submit_connect(deps: Deps, ack: AsyncAck, body: dict[str, Any]) -> None:
    origin = origin_of(body)
    members = deps.member_keys
    if members is None or not members.vault.available:
        await ack(response_action="errors", errors={KEY_BLOCK: NO_SECRET_KEY_SHORT})
        return
    key = _typed_key(body)
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        await ack(response_action="errors", errors={KEY_BLOCK: NOT_A_KEY})
        return
    try:
        user = await asyncio.wait_for(members.verify(key), VERIFY_WAIT)
    except KeyRefused:
        await ack(response_action="errors", errors={KEY_BLOCK: REFUSED})
        return
    except (KeyUnverified, TimeoutError):
        await ack(response_action="errors", errors={KEY_BLOCK: UNVERIFIED})
        return
    previous = await members.vault.get(origin.team, origin.user)
    member = await members.vault.save(origin.team, origin.user, key, user)
    if previous is not None and previous.fingerprint != member.fingerprint:
        await members.drop(previous)
    log.info("a member connected their own UltraCart key (%s…)", member.fingerprint[:12])
    await ack(response_action="update", view=connected_view(member.uc_user_name))


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(CONNECT_MODAL)
    @guard(deps)
    async def connect_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        await submit_connect(deps, ack, body)
