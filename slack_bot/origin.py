"""Where a request came from, and so where its answer goes: the channel, the card, the response_url, App
Home, or the modal it was submitted from (whose ``private_metadata`` carries the rest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_bot.forms import Meta


@dataclass
class Origin:
    user: str
    team: str = ""
    channel: str | None = None
    response_url: str | None = None
    message_ts: str | None = None
    ephemeral: bool = False
    home: bool = False
    trigger_id: str | None = None
    view_id: str | None = None
    meta: Meta = field(default_factory=Meta)


def origin_of(body: dict[str, Any]) -> Origin:
    """Every payload shape (slash command, block_actions, view_submission, shortcut, event)."""
    user = body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    container = body.get("container") or {}
    view = body.get("view") or {}
    origin = Origin(
        user=str(user or ""),
        team=str(team),
        channel=channel or container.get("channel_id"),
        response_url=body.get("response_url"),
        message_ts=container.get("message_ts") or (body.get("message") or {}).get("ts"),
        ephemeral=bool(container.get("is_ephemeral")),
        home=container.get("type") == "view" and view.get("type") == "home",
        trigger_id=body.get("trigger_id"),
        view_id=view.get("id"),
    )
    if body.get("type") == "view_submission":
        meta = Meta.load(view.get("private_metadata"))
        origin.meta = meta
        origin.channel = meta.channel
        origin.response_url = meta.response_url or next(
            (r.get("response_url") for r in body.get("response_urls") or []), None
        )
        origin.message_ts = meta.message_ts
        origin.home = meta.home
        origin.ephemeral = False
    if body.get("type") == "message_action":
        origin.message_ts = None  # the message is someone else's, not a card to update
    return origin


def meta_for(origin: Origin, **extra: Any) -> Meta:
    """What a modal opened from ``origin`` carries, so its result goes back there."""
    return Meta(
        channel=origin.channel,
        user=origin.user,
        response_url=origin.response_url,
        message_ts=None if origin.ephemeral else origin.message_ts,
        home=origin.home,
        **extra,
    )
