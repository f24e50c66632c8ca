"""``/task subscribe FILTERS [events:LIST]``, ``/task unsubscribe [N|all]``, ``/task subscriptions``:
a channel's subscriptions to tasks as they change (posted by :class:`slack_bot.notify.notifier.Notifier`)."""

from __future__ import annotations

from shared_client.tools import ToolInputError
from slack_bot import grammar
from slack_bot import text as t
from slack_bot.access import posts_allowed_in
from slack_bot.actors import identify, resolve_slack_users
from slack_bot.blocks.help import notice_blocks, usage_blocks
from slack_bot.deps import Deps
from slack_bot.notify.subscriptions import MAX_PER_CHANNEL, Subscription, SubscriptionStore, resolve_filters
from slack_bot.origin import Origin
from slack_bot.replies import reply

__all__ = ["show_subscriptions", "subscribe", "unsubscribe"]

IN_A_CHANNEL = "Subscriptions post to a channel: use `/task subscribe` in the channel that should get them."


def _store(deps: Deps) -> SubscriptionStore:
    return SubscriptionStore(deps.identities.db)


async def _notice(deps: Deps, origin: Origin, message: str, *, public: bool = False) -> None:
    await reply(deps, origin, notice_blocks(message), t.truncate(message, 300), public=public)


def _describe(sub: Subscription) -> str:
    filters = f"`{t.one_line(sub.filters_text, 500)}`" if sub.filters_text else "every task"
    events = "all events" if len(sub.events) == len(grammar.SUBSCRIPTION_EVENTS) else ", ".join(sub.events)
    return f"{filters} — {events} (by <@{sub.created_by}>)"


def _in_a_channel(origin: Origin) -> bool:
    return bool(origin.channel) and not str(origin.channel).startswith("D") and not origin.home


async def subscribe(deps: Deps, origin: Origin, request: grammar.Subscribe, text: str) -> None:
    if not _in_a_channel(origin):
        await _notice(deps, origin, IN_A_CHANNEL)
        return
    channel = str(origin.channel)
    if not posts_allowed_in(deps, channel):
        await _notice(deps, origin, "Tasks are posted only in the channels UC_WORKFLOW_SLACK_CHANNELS names.")
        return
    store = _store(deps)
    if await store.count(origin.team, channel) >= MAX_PER_CHANNEL:
        await _notice(
            deps,
            origin,
            f"This channel has {MAX_PER_CHANNEL} subscriptions; `/task unsubscribe N` one first.",
        )
        return
    actor = await identify(deps, origin.team, origin.user, required=False)
    try:
        args = await resolve_slack_users(deps, actor, request.search.args)  # me: the subscriber
        filters = await resolve_filters(deps.tools, args)
    except ToolInputError as exc:
        # The usage, pointing at the word the field came from (as /task search does).
        word = request.search.words.get(exc.fields[0].top) if exc.fields else None
        error = grammar.UsageError(exc.message, text, word, grammar.USAGE["subscribe"])
        await reply(deps, origin, usage_blocks(error), t.escape(exc.message))
        return
    await store.add(origin.team, channel, origin.user, request.filters, filters, request.events)
    subs = await store.of_channel(origin.team, channel)
    added = subs[-1] if subs else None
    what = _describe(added) if added else ""
    message = (
        f":bell: <@{origin.user}> subscribed this channel to tasks: {what}. The first event for a task posts "
        "its card; later ones reply in its thread. `/task subscriptions` lists them. "
        "(Invite me to the channel if I am not in it yet.)"
    )
    await _notice(deps, origin, message, public=True)


async def show_subscriptions(deps: Deps, origin: Origin) -> None:
    if not _in_a_channel(origin):
        await _notice(deps, origin, IN_A_CHANNEL)
        return
    subs = await _store(deps).of_channel(origin.team, str(origin.channel))
    if not subs:
        await _notice(deps, origin, "This channel has no subscriptions. " + grammar.USAGE["subscribe"])
        return
    lines = [f"{i}. {_describe(sub)}" for i, sub in enumerate(subs, 1)]
    await _notice(
        deps, origin, "*This channel's subscriptions*\n" + "\n".join(lines) + "\n`/task unsubscribe N`"
    )


async def unsubscribe(deps: Deps, origin: Origin, request: grammar.Unsubscribe) -> None:
    if not _in_a_channel(origin):
        await _notice(deps, origin, IN_A_CHANNEL)
        return
    store = _store(deps)
    channel = str(origin.channel)
    subs = await store.of_channel(origin.team, channel)
    if not subs:
        await _notice(deps, origin, "This channel has no subscriptions.")
        return
    if request.which == "all":
        chosen = subs
    elif request.which:
        n = int(request.which)
        if n > len(subs):
            await _notice(
                deps,
                origin,
                f"This channel has {len(subs)} subscription(s); `/task subscriptions` numbers them.",
            )
            return
        chosen = [subs[n - 1]]
    elif len(subs) == 1:
        chosen = subs
    else:
        await _notice(
            deps,
            origin,
            f"This channel has {len(subs)} subscriptions: `/task unsubscribe N` (see `/task subscriptions`) "
            "or `/task unsubscribe all`.",
        )
        return
    removed = await store.remove(origin.team, channel, [s.id for s in chosen])
    shown = "; ".join(_describe(s) for s in chosen)
    await _notice(
        deps, origin, f":no_bell: <@{origin.user}> removed {removed} subscription(s): {shown}", public=True
    )
