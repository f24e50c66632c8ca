"""Task lists as messages: search results and my open tasks, ten at a time, with a "More" button whose
value says what to show next."""

from __future__ import annotations

import json
from typing import Any

from shared_client.tools import SEARCH_TASKS
from slack_bot import text as t
from slack_bot.actors import Actor, identify, run_tool
from slack_bot.blocks import common as c
from slack_bot.blocks.results import results_blocks
from slack_bot.deps import Deps
from slack_bot.mine import my_tasks
from slack_bot.origin import Origin
from slack_bot.replies import reply

MORE_SEARCH = "s"  # the next page of a search: its arguments and the cursor
MORE_MINE = "m"  # the next page of my tasks: the offset


def more_value(kind: str, **data: Any) -> str:
    return json.dumps({"k": kind, **data}, separators=(",", ":"))


def read_more(value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


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
    output = await run_tool(deps, actor, SEARCH_TASKS, call)
    tasks = list(output.tasks or [])
    total = output.total
    count = f"{total} task(s)" if total is not None else f"{len(tasks)} task(s)"
    title = f"*{count}* for `{t.one_line(describe(args), 500)}`" + (" (continued)" if cursor else "")
    more = more_value(MORE_SEARCH, a=args, c=output.next_cursor) if output.has_more else None
    await reply(deps, origin, results_blocks(title, tasks, more_value=more), f"{count} found")


async def show_mine(deps: Deps, origin: Origin, actor: Actor, *, offset: int) -> None:
    mine = await my_tasks(deps, actor)
    tasks = mine.everything
    page = tasks[offset : offset + c.RESULTS_PER_MESSAGE]
    title = f"*Your open tasks* ({len(tasks)}, overdue first)" + (" (continued)" if offset else "")
    more = (
        more_value(MORE_MINE, o=offset + c.RESULTS_PER_MESSAGE) if len(tasks) > offset + len(page) else None
    )
    blocks = results_blocks(
        title, page, more_value=more, note=mine.note, empty="Nothing open is yours. :tada:"
    )
    await reply(deps, origin, blocks, f"{len(tasks)} open task(s)")


async def show_more(deps: Deps, origin: Origin, value: str) -> None:
    """The page a "More" button's ``value`` names."""
    data = read_more(value)
    kind = data.get("k")
    if kind == MORE_MINE:
        actor = await identify(deps, origin.team, origin.user)
        await show_mine(deps, origin, actor, offset=int(data.get("o", 0)))
        return
    actor = await identify(deps, origin.team, origin.user, required=False)
    raw = data.get("a")
    args: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    if kind == MORE_SEARCH:
        await show_search(deps, origin, actor, args, cursor=str(data.get("c") or "") or None)
