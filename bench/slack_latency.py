"""Slack under a slow UltraCart: 2.5 s of latency on every UltraCart call; p50 and p99 time to acknowledge
``/task`` commands and button clicks, and time until the result is posted.

Run: ``python bench/slack_latency.py``. The bot runs over HTTP on 127.0.0.1 with the mock Slack Web API and
an in-process sandbox, all from the Slack suite's harness (``tests/slack/slack_harness.py``); limits off
there, latency on. Slack gives up on a request not acknowledged within 3 s.
Target: p99 acknowledgement under 300 ms, no Slack timeout.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _slack
from bench._common import Table, bench_main, median, ms, percentile

LATENCY = 2.5
ROUNDS = 4
SLACK_TIMEOUT = 3.0


async def measure(rounds: int) -> dict[str, list[float]]:
    from mock_slack import Call

    from shared_client.tools import get_tool

    out: dict[str, list[float]] = {
        "command_ack": [],
        "button_ack": [],
        "command_result": [],
        "button_result": [],
    }
    async with _slack.BotSession() as fast, _slack.BotSession(latency=LATENCY) as bot:
        found = await get_tool("search_tasks").run(fast.ctx, {"status": "open", "limit": 8, "sort": "number"})
        uuids = [t.uuid for t in found.tasks]  # type: ignore[attr-defined]
        card = Call("chat.postMessage", {"ts": "1700000000.000111", "blocks": []}, 0)
        loop = asyncio.get_running_loop()
        for r in range(rounds):
            u = uuids[r % len(uuids)]
            mark = bot.slack.mark()  # this round's calls only: an earlier round's chat.update is no answer
            started = loop.time()

            async def acked(request: Any, started: float = started) -> Any:
                """The request's (reply, name) and when its HTTP answer (the ack) arrived."""
                return await request, loop.time() - started

            timed: list[Any] = await asyncio.gather(
                acked(bot.command(f"show {u}", user="UOWNER")),
                acked(bot.command("mine", user="UOWNER")),
                acked(bot.command(f"priority {u} high", user="UOWNER")),
                acked(bot.assign_me_click(u, user="UOWNER", message=card)),
            )
            replies = [reply for reply, _seconds in timed]
            for (reply, _name), seconds in timed[:3]:
                if reply.status != 200:
                    raise RuntimeError(f"HTTP {reply.status}: {reply.text[:200]}")
                out["command_ack"].append(seconds)
            out["button_ack"].append(timed[3][1])
            for _reply, name in replies[:3]:
                await bot.response(name, timeout=60)
                out["command_result"].append(loop.time() - started)
            await bot.slack.wait_for("chat.update", after=mark, timeout=60)
            out["button_result"].append(loop.time() - started)
    return out


def run(quick: bool = False) -> list[Table]:
    table = Table(
        f"7. Slack under a slow UltraCart — {LATENCY:.1f} s per UltraCart call (ms)",
        ["request", "samples", "ack p50", "ack p99", "result posted p50", "result posted p99"],
    )
    if not _slack.available():
        table.notes.append("skipped: slack_bot not available")
        return [table]
    samples = asyncio.run(measure(2 if quick else ROUNDS))
    for key, label in (
        ("command", "/task commands (show, mine, priority)"),
        ("button", "button clicks (assign to me)"),
    ):
        acks, done = samples[f"{key}_ack"], samples[f"{key}_result"]
        table.add(
            label,
            len(acks),
            ms(median(acks)),
            ms(percentile(acks, 99)),
            ms(median(done)),
            ms(percentile(done, 99)),
        )
    all_acks = samples["command_ack"] + samples["button_ack"]
    p99 = percentile(all_acks, 99)
    table.target(f"p99 acknowledgement under 300 ms ({p99 * 1000:.0f} ms)", p99 < 0.3)
    table.target(
        f"no Slack timeout (every ack < {SLACK_TIMEOUT:.0f} s; slowest {max(all_acks):.2f} s)",
        max(all_acks) < SLACK_TIMEOUT,
    )
    table.notes.append(
        "four requests in flight at once per round (3 commands + 1 click); result = time from "
        "the round's start until the bot posted the answer (response_url or chat.update)"
    )
    return [table]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
