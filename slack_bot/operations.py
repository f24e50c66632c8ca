"""What listeners do after ``ack()``: who the Slack user is in UltraCart, tool calls made as that
user, replies where the request came from, cards updated in place, and the assignee's DM.

No business rules: every change goes through a tool of ``shared_client.tools``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook.async_client import AsyncWebhookClient

from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools import ToolError, get_tool
from shared_client.tools.base import OutputModel
from shared_client.tools.outputs import TaskDetail, TaskSummary
from slack_bot import ids
from slack_bot import text as t
from slack_bot.blocks import common as c
from slack_bot.blocks.card import activity_line, card_text, task_card
from slack_bot.blocks.home import home_view
from slack_bot.deps import Deps, SlackProfile, slack_retry_handlers
from slack_bot.forms import Meta
from slack_bot.grammar import ArgValue, SlackUser
from slack_bot.identity import EMAIL, OVERRIDE

log = logging.getLogger("slack_bot")

EMAIL_MAPPING_TTL = 86400.0
MINE_LIMIT = 200


class NotMapped(Exception):
    """A Slack user we cannot match to an UltraCart user; the message says how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- where a request came from


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
    return Meta(
        channel=origin.channel,
        user=origin.user,
        response_url=origin.response_url,
        message_ts=None if origin.ephemeral else origin.message_ts,
        home=origin.home,
        **extra,
    )


# --------------------------------------------------------------------------- who is who


@dataclass
class Actor:
    slack_id: str
    team: str
    name: str
    user: WorkflowUser | None = None
    source: str | None = None  # OVERRIDE, EMAIL or None (not mapped)
    slack_email: str | None = None
    is_credential_user: bool = False
    groups: list[WorkflowGroup] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How notes name them in UltraCart: ``— via Alice (Slack)``."""
        return f"{self.name} (Slack)"


async def slack_profile(deps: Deps, slack_id: str) -> SlackProfile:
    cached = deps.profiles.get(slack_id)
    if cached is not None and time.monotonic() - cached.fetched_at < deps.profile_ttl:
        return cached
    response = await deps.client.users_info(user=slack_id)
    user = response.get("user") or {}
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
    )
    result = SlackProfile(str(name or slack_id), profile.get("email"), time.monotonic())
    deps.profiles[slack_id] = result
    return result


def no_mapping_message(slack_id: str, email: str | None) -> str:
    why = (
        f"your Slack e-mail ({email}) is not an UltraCart user's"
        if email
        else "Slack does not show me your e-mail"
    )
    return (
        f"I can't tell who <@{slack_id}> is in UltraCart: {t.escape(why)}. "
        'Set it with `/task iam you@company.com` or `/task iam "Your Name"`.'
    )


async def identify(deps: Deps, team: str, slack_id: str, *, required: bool = True) -> Actor:
    profile = await slack_profile(deps, slack_id)
    actor = Actor(slack_id, team, profile.name, slack_email=profile.email)
    people = await deps.people()
    mapping = await deps.identities.get(team, slack_id)
    fresh_email_mapping = (
        mapping is not None
        and mapping.source == EMAIL
        and time.time() - mapping.updated_at < EMAIL_MAPPING_TTL
    )
    if mapping is not None and (mapping.source == OVERRIDE or fresh_email_mapping):
        actor.user = people.user_by_id(mapping.uc_user_id)
        actor.source = mapping.source
    if actor.user is None and profile.email:
        key = profile.email.lower()
        actor.user = next((u for u in people.users if (u.email or "").lower() == key), None)
        if actor.user is not None and actor.user.user_id is not None:
            actor.source = EMAIL
            await deps.identities.set(team, slack_id, actor.user.user_id, EMAIL)
    if actor.user is None:
        if required:
            raise NotMapped(no_mapping_message(slack_id, profile.email))
        return actor
    actor.is_credential_user = actor.user.user_id is not None and actor.user.user_id == people.my_user_id
    joined = await deps.identities.groups(team, slack_id)
    actor.groups = [g for g in (people.group_by_id(gid) for gid in joined) if g is not None]
    return actor


def user_ref(user: WorkflowUser) -> str:
    return f"{ids.USER_PREFIX}{user.user_id}"


async def resolve_slack_users(
    deps: Deps, actor: Actor, args: dict[str, ArgValue], *, search: bool = False
) -> dict[str, Any]:
    """Slack users in arguments become UltraCart users. In a search, ``me`` for the credential's own
    user is UltraCart's 'me' (directly or through my groups); for anyone else it is their direct tasks."""
    resolved: dict[str, Any] = {}
    for key, value in args.items():
        if not isinstance(value, SlackUser):
            resolved[key] = value
            continue
        if value.user_id is None or value.user_id == actor.slack_id:
            if actor.user is None:
                raise NotMapped(no_mapping_message(actor.slack_id, actor.slack_email))
            resolved[key] = (
                "me" if search and key == "assignee" and actor.is_credential_user else user_ref(actor.user)
            )
            continue
        other = await identify(deps, actor.team, value.user_id, required=False)
        if other.user is None:
            raise NotMapped(
                f"<@{value.user_id}> has no UltraCart user I can find by e-mail; they can set one with "
                "`/task iam NAME-OR-EMAIL`, or name the UltraCart user instead of the Slack user."
            )
        resolved[key] = user_ref(other.user)
    return resolved


# --------------------------------------------------------------------------- tools as the Slack user


async def run_tool(deps: Deps, actor: Actor | None, tool: str, args: dict[str, Any]) -> OutputModel:
    context = deps.tools.acting_as(actor.label) if actor is not None else deps.tools
    output: OutputModel = await get_tool(tool).run(context, args)
    return output


def task_of_output(output: OutputModel) -> TaskDetail:
    task = getattr(output, "task", None)
    if not isinstance(task, TaskDetail):
        raise ToolError("UltraCart returned no task")
    return task


# --------------------------------------------------------------------------- replies


def _url_allowed(deps: Deps, url: str | None) -> bool:
    return bool(url) and any(str(url).startswith(p) for p in deps.response_url_prefixes)


def dm_channel(slack_id: str) -> str:
    """chat.postMessage to a user id lands in the app's DM with them (App Home's Messages tab), with
    chat:write alone: no conversations.open, so no im:write scope."""
    return slack_id


async def reply(
    deps: Deps, origin: Origin, blocks: list[Block], text: str, *, public: bool = False, replace: bool = False
) -> None:
    """Answer where the request came from: replace the card, or post (ephemeral unless ``public``)."""
    payload = c.dump(blocks)
    text = t.truncate(text, c.MAX_MESSAGE_TEXT)
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
        await deps.client.chat_postMessage(channel=dm_channel(origin.user), blocks=payload, text=text)


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
        deps, origin, task_card(task, activity=activity), card_text(task), public=public, replace=replace
    )


# --------------------------------------------------------------------------- changes


@dataclass
class Change:
    """What update_task (and an optional note) did: the task as it is now, and the changes made."""

    task: TaskDetail
    changes: list[str]
    reassigned: bool = False


async def apply_change(deps: Deps, actor: Actor, args: dict[str, Any], *, note: str | None = None) -> Change:
    """update_task as the Slack user (then the note, if any). Nothing is posted to Slack."""
    output = await run_tool(deps, actor, "update_task", args)
    task = task_of_output(output)
    changes: list[str] = list(getattr(output, "changes", []))
    if note:
        task = task_of_output(await run_tool(deps, actor, "add_task_note", {"task": task.uuid, "text": note}))
        changes.append("added a note")
    return Change(task, changes, bool(getattr(output, "reassigned", False)))


async def announce_change(
    deps: Deps,
    origin: Origin,
    actor: Actor,
    change: Change,
    *,
    replace: bool,
    public: bool = True,
    verb: str = "changed",
) -> None:
    """The card (in place when ``replace``) says who did what, and a new assignee hears about it."""
    await show_card(
        deps,
        origin,
        change.task,
        activity=activity_line(actor.slack_id, change.changes, verb),
        public=public,
        replace=replace,
    )
    if change.reassigned:
        await notify_assignee(deps, actor, change.task)


async def change_task(
    deps: Deps,
    origin: Origin,
    actor: Actor,
    args: dict[str, Any],
    *,
    replace: bool,
    public: bool = True,
    note: str | None = None,
    verb: str = "changed",
) -> TaskDetail:
    """update_task as the Slack user, then the card (in place when ``replace``) says who did what, and a
    new assignee hears about it."""
    change = await apply_change(deps, actor, args, note=note)
    await announce_change(deps, origin, actor, change, replace=replace, public=public, verb=verb)
    return change.task


async def slack_user_for(deps: Deps, team: str, uc_user_id: int) -> str | None:
    known = await deps.identities.slack_users_for(team, uc_user_id)
    if known:
        return known[0]
    people = await deps.people()
    user = people.user_by_id(uc_user_id)
    email = (user.email or "").lower() if user else ""
    if not email:
        return None
    if email not in deps.slack_ids_by_email:
        try:
            found = await deps.client.users_lookupByEmail(email=email)
            deps.slack_ids_by_email[email] = str((found.get("user") or {}).get("id") or "") or None
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                raise
            deps.slack_ids_by_email[email] = None
    return deps.slack_ids_by_email[email]


async def notify_assignee(deps: Deps, actor: Actor, task: TaskDetail) -> None:
    """A DM with the card to the new assignee, when they have a Slack account (and are not the actor)."""
    if task.assigned.user_id is None:
        return
    slack_id = await slack_user_for(deps, actor.team, task.assigned.user_id)
    if not slack_id or slack_id == actor.slack_id:
        return
    intro = f":inbox_tray: <@{actor.slack_id}> assigned you this task."
    await deps.client.chat_postMessage(
        channel=dm_channel(slack_id),
        blocks=c.dump(task_card(task, intro=intro)),
        text=t.truncate(f"<@{actor.slack_id}> assigned you {card_text(task)}", c.MAX_MESSAGE_TEXT),
    )


# --------------------------------------------------------------------------- mine


@dataclass
class MyTasks:
    direct: list[TaskSummary]
    in_groups: list[TaskSummary]  # assigned to one of my groups and to no one yet
    everything: list[TaskSummary]  # what "mine" lists
    note: str | None


def overdue_first(tasks: list[TaskSummary]) -> list[TaskSummary]:
    return sorted(tasks, key=lambda s: (not s.overdue, s.due is None, s.due or "", s.number or 0))


async def _search_all(deps: Deps, actor: Actor, args: dict[str, Any]) -> list[TaskSummary]:
    output = await run_tool(deps, actor, "search_tasks", {**args, "status": "open", "limit": MINE_LIMIT})
    return list(getattr(output, "tasks", None) or [])


async def my_tasks(deps: Deps, actor: Actor) -> MyTasks:
    """Open tasks assigned to me directly or through my groups.

    UltraCart knows group membership only for the credential's own user (``assigned_to_me``). For that
    user we ask UltraCart ('me'). For anyone else we ask for their direct tasks plus the tasks of the
    groups they said they belong to (``/task join``), and say so rather than guess.
    """
    assert actor.user is not None
    if actor.is_credential_user:
        found = await _search_all(deps, actor, {"assignee": "me"})
        my_name = (actor.user.user or "").lower()
        direct = [s for s in found if (s.assignee or "").lower() == my_name]
        note = None
    else:
        found = await _search_all(deps, actor, {"assignee": user_ref(actor.user)})
        direct = list(found)
        seen = {s.uuid for s in found}
        for group in actor.groups:
            for summary in await _search_all(deps, actor, {"group": str(group.group_id)}):
                if summary.uuid not in seen:
                    seen.add(summary.uuid)
                    found.append(summary)
        if actor.groups:
            names = ", ".join(t.escape(g.group or str(g.group_id)) for g in actor.groups)
            note = f"Including your groups: {names} (`/task groups` to change)."
        else:
            note = (
                "Only tasks assigned to you directly: UltraCart tells me group membership only for "
                'its own account. Add yours with `/task join "GROUP"` to see group tasks too.'
            )
    in_groups = [s for s in found if not s.assignee and s.group]
    return MyTasks(overdue_first(direct), overdue_first(in_groups), overdue_first(found), note)


# --------------------------------------------------------------------------- App Home


async def publish_home(deps: Deps, team: str, slack_id: str) -> None:
    try:
        actor = await identify(deps, team, slack_id, required=False)
        if actor.user is None:
            view = home_view(
                [], [], who=":wave: Welcome!", problem=no_mapping_message(slack_id, actor.slack_email)
            )
        else:
            mine = await my_tasks(deps, actor)
            who = f"You are *{t.one_line(actor.user.user, 100)}* in UltraCart" + (
                " (set with `/task iam`)." if actor.source == OVERRIDE else " (matched by e-mail)."
            )
            view = home_view(mine.direct, mine.in_groups, who=who, groups_note=mine.note)
    except ToolError as exc:
        view = home_view([], [], who=":warning: UltraCart did not answer", problem=t.escape(exc.message))
    await deps.client.views_publish(user_id=slack_id, view=view.to_dict())


# --------------------------------------------------------------------------- "more" buttons


def more_value(kind: str, **data: Any) -> str:
    return json.dumps({"k": kind, **data}, separators=(",", ":"))


def read_more(value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
