"""With 2.5 s of UltraCart latency on every call, each Slack request is acknowledged within 3 s and its
result still arrives (the work happens after ack)."""

from __future__ import annotations

import asyncio

from mock_slack import Call
from slack_harness import MakeBot
from test_e2e import MAX_ACK, picked, text_input, values

from shared_client.tools import get_tool
from slack_bot import ids


async def test_every_request_is_acknowledged_in_time_with_slow_ultracart(make_bot: MakeBot) -> None:
    bot = await make_bot(latency=2.5)
    # Task uuids from a fast look-up so the test spends its time on the bot's own calls.
    fast = await make_bot()
    found = await get_tool("search_tasks").run(fast.ctx, {"status": "open", "limit": 2, "sort": "number"})
    first, second = (t.uuid for t in found.tasks)  # type: ignore[attr-defined]

    await bot.command("new Slow day")  # opens the modal without UltraCart
    create_view = (await bot.slack.wait_for("views.open")).args["view"]
    card = Call("chat.postMessage", {"ts": "1700000000.000111", "blocks": []}, 0)
    replies = await asyncio.gather(
        bot.command(f"show {first}"),
        bot.command(f"status {second} delayed"),
        bot.block_suggestion(ids.ASSIGNEE, "sam"),
        bot.view_submission(create_view, values(name=text_input("Slow day"), assignee=picked("user:1003"))),
        bot.block_action(
            {
                "action_id": ids.ASSIGN_ME,
                "block_id": f"{ids.CARD_ACTIONS}:{first}",
                "value": first,
                "type": "button",
            },
            user="UOWNER",
            message=card,
        ),
    )
    statuses = [r[0] if isinstance(r, tuple) else r for r in replies]
    assert all(r.status == 200 for r in statuses), [r.text for r in statuses]
    assert max(r.seconds for r in statuses) < MAX_ACK, [round(r.seconds, 2) for r in statuses]
    assert "Sam Rivera" in statuses[2].text  # picker options came from the cache

    show_name, status_name = replies[0][1], replies[1][1]  # type: ignore[index]
    assert "#" in (await bot.response(show_name, timeout=25)).args["text"]
    assert "status → delayed" in (await bot.response(status_name, timeout=25)).text_of_blocks()
    await bot.slack.wait_for("chat.update", timeout=25)  # assign to me
    await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "USAM", timeout=25)
