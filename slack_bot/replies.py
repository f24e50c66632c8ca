"""Answers in Slack: where the request came from (the card replaced in place, the response_url, the
channel, a DM), the task card, the new assignee's DM, and App Home."""

from __future__ import annotations

import logging
import time
import uuid

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook.async_client import AsyncWebhookClient

from shared_client.database import DatabaseUnavailable
from shared_client.tools import ToolError
from shared_client.tools.outputs import TaskDetail
from slack_bot import text as t
from slack_bot.access import posts_allowed_in
from slack_bot.actors import Actor, how_known, identify, no_mapping_message, slack_user_for
from slack_bot.blocks import common as c
from slack_bot.blocks.card import card_text, task_card
from slack_bot.blocks.home import home_view
from slack_bot.deps import Deps, slack_retry_handlers
from slack_bot.digest.home import home_lists
from slack_bot.mine import my_tasks
from slack_bot.notify.notifier import dm_identity, notification_metadata, payload_task
from slack_bot.notify.outbox import DM, Delivery, Outbox
from slack_bot.origin import Origin

log = logging.getLogger("slack_bot")


def _url_allowed(deps: Deps, url: str | None) -> bool:
    return bool(url) and any(str(url).startswith(p) for p in deps.response_url_prefixes)


async def reply(
    deps: Deps, origin: Origin, blocks: list[Block], text: str, *, public: bool = False, replace: bool = False
) -> None:
    """Answer where the request came from: replace the card, or post (ephemeral unless ``public``)."""
    payload = c.dump(blocks)
    text = t.truncate(text, c.MAX_MESSAGE_TEXT)
    if public and not posts_allowed_in(deps, origin.channel):
        public = False  # UC_WORKFLOW_SLACK_CHANNELS: cards are posted for everyone only there
    if replace and origin.channel and origin.message_ts and not origin.ephemeral:
        try:
            await deps.client.chat_update(
                channel=origin.channel, ts=origin.message_ts, blocks=payload, text=text
            )
            return
        except SlackApiError as exc:  # e.g. the bot is not in that channel: fall back to response_url
            log.info("chat.update failed (%s); answering through response_url", exc.response.get("error"))
    if origin.response_url and _url_allowed(deps, origin.response_url):
        webhook = AsyncWebhookClient(origin.response_url, retry_handlers=slack_retry_handlers())
        sent = await webhook.send(
            text=text,
            blocks=payload,
            response_type="in_channel" if public else "ephemeral",
            replace_original=replace,
        )
        if sent.status_code == 200:
            return
        # A response_url takes 5 answers within 30 minutes; past that, post through the Web API.
        log.info("response_url refused the answer (%s); posting through the Web API", sent.status_code)
    if origin.channel and not origin.channel.startswith("D"):
        try:
            if public:
                await deps.client.chat_postMessage(channel=origin.channel, blocks=payload, text=text)
            else:
                await deps.client.chat_postEphemeral(
                    channel=origin.channel, user=origin.user, blocks=payload, text=text
                )
            return
        except SlackApiError as exc:
            log.info("posting to the channel failed (%s); sending a DM", exc.response.get("error"))
    if origin.user:
        # A user id as the channel lands in the app's DM with them (App Home's Messages tab), with
        # chat:write alone: no conversations.open, so no im:write scope.
        await deps.client.chat_postMessage(channel=origin.user, blocks=payload, text=text)


async def show_card(
    deps: Deps,
    origin: Origin,
    task: TaskDetail,
    *,
    activity: str | None = None,
    public: bool = True,
    replace: bool = False,
) -> None:
    if origin.home:
        await publish_home(deps, origin.team, origin.user)
        return
    await reply(
        deps,
        origin,
        task_card(task, deps.ultracart_url, activity=activity),
        card_text(task),
        public=public,
        replace=replace,
    )


async def notify_assignee(deps: Deps, actor: Actor, task: TaskDetail) -> None:
    """A DM with the card to the new assignee, when they have a Slack account (and are not the actor).
    Sent as the change feed's notification of this assignment (the same outbox identity,
    :func:`slack_bot.notify.notifier.dm_identity`): the feed, finding it there, sends no second DM; had the
    feed planned it first, it is the feed's to send."""
    if task.assigned.user_id is None:
        return
    slack_id = await slack_user_for(deps, actor.team, task.assigned.user_id)
    if not slack_id or slack_id == actor.slack_id:
        return
    intro = f":inbox_tray: <@{actor.slack_id}> assigned you this task."
    identity = dm_identity(slack_id, task.uuid, task.updated)
    payload = {"task": payload_task(task), "intro": intro, "lines": [], "authors": [actor.slack_id]}
    delivery = Delivery(identity, actor.team, slack_id, DM, task.uuid, "", payload)
    outbox = Outbox(deps.identities.db)
    holder = f"immediate-{uuid.uuid4().hex[:12]}"
    try:
        if not await outbox.add_claimed(delivery, holder):
            return  # the change feed found this assignment first: it sends the DM
        row = await outbox.get(identity)
    except DatabaseUnavailable as exc:
        log.warning("the outbox is not answering (%s); the new assignee's DM is sent without it", exc.cause)
        row = None
    try:
        answer = await deps.client.chat_postMessage(
            channel=slack_id,  # their DM with the app, as in reply()
            blocks=c.dump(task_card(task, deps.ultracart_url, intro=intro)),
            text=t.truncate(f"<@{actor.slack_id}> assigned you {card_text(task)}", c.MAX_MESSAGE_TEXT),
            metadata=notification_metadata(identity),
        )
    except SlackApiError as exc:
        if row is not None:  # the notifier tries again (it looks in Slack first)
            await outbox.failed(row, holder, str(exc.response.get("error") or "error"), retry_at=time.time())
        raise
    if row is not None:
        await outbox.sent(row, holder, str(answer.get("ts") or "") or None)


async def publish_home(deps: Deps, team: str, slack_id: str) -> None:
    try:
        actor = await identify(deps, team, slack_id, required=False)
        if actor.user is None:
            view = home_view([], [], who=":wave: Welcome!", problem=no_mapping_message(slack_id))
        else:
            mine = await my_tasks(deps, actor)
            who = f"You are *{t.one_line(actor.user.user, 100)}* in UltraCart ({how_known(actor)})."
            today = await home_lists(deps, actor, mine)  # from the same search, and the change feed
            view = home_view(mine.direct, mine.in_groups, who=who, groups_note=mine.note, today=today)
    except ToolError as exc:
        view = home_view([], [], who=":warning: UltraCart did not answer", problem=t.escape(exc.message))
    await deps.client.views_publish(user_id=slack_id, view=view.to_dict())
