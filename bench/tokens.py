"""Tokens: bytes and estimated tokens of ``search_tasks`` for 25 tasks, against UltraCart's raw JSON for the
same 25 tasks (the same search sent straight to the sandbox's REST API).

Run: ``python bench/tokens.py``. Limits on.

Compared forms of our result: the structured content (compact JSON, ``structuredContent``), the text
content, and the whole ``tools/call`` result as it goes over the wire (both, as MCP sends them). UltraCart's
side: the body as served, and the same JSON minified (the fairest, smallest form of the raw data).

Token estimates: ``bytes / 4`` and a count of GPT-style pre-tokens (words, numbers of up to 3 digits,
runs of punctuation, whitespace) — tokenizers split JSON at least that finely, so the second is a floor.

"Nothing a user needs left out": for every task, the summary must carry its number, name, status,
priority, assignee (user or group), due date and linked object, wherever UltraCart's task has them, and
the right overdue flag (sent only when true; the output schema's default is false).

Target: the whole result at most 18% of UltraCart's JSON (structured and text each at most 25%).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Sandbox, Table, bench_main, sandbox
from shared_client import constants
from shared_client.models import Status
from shared_client.tools import ToolContext, get_tool

QUERY: dict[str, Any] = {"sort": "-priority,due", "limit": 25}
RAW_SORT = "-priority,+due_dts"
PRETOKEN = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]+|\s+")


def tokens(text: str) -> tuple[int, int]:
    return len(text.encode()) // 4, len(PRETOKEN.findall(text))


async def measure(sb: Sandbox) -> dict[str, Any]:
    from mcp.types import CallToolResult, TextContent

    async with sb.client() as client:
        output = await get_tool("search_tasks").run(ToolContext(client), dict(QUERY))
    at = datetime.now(UTC)
    data = output.to_data()
    structured = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = output.to_text()
    wire = CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=data, is_error=False
    ).model_dump_json(by_alias=True, exclude_none=True)
    raw = httpx.post(  # noqa: ASYNC210 - one request, nothing else runs on this loop
        f"{sb.api}/workflow/tasks/search",
        json={},
        params={"_limit": 25, "_sort": RAW_SORT},
        headers={
            "x-ultracart-simple-key": "bench-tokens-raw",
            "X-UltraCart-Api-Version": constants.API_VERSION,
        },
    )
    raw.raise_for_status()
    raw_min = json.dumps(raw.json(), ensure_ascii=False, separators=(",", ":"))
    return {
        "data": data,
        "structured": structured,
        "text": text,
        "wire": wire,
        "raw": raw.text,
        "raw_min": raw_min,
        "raw_tasks": raw.json()["tasks"],
        "at": at,
    }


def missing_fields(
    summaries: list[dict[str, Any]], raw_tasks: list[dict[str, Any]], at: datetime
) -> list[str]:
    """What a user needs that UltraCart's task has and our summary lacks (or gets wrong: overdue)."""
    problems: list[str] = []
    # The number is the task's reference in a summary (every tool takes '#123').
    by_number = {t["global_task_number"]: t for t in raw_tasks}
    if {s.get("number") for s in summaries} != set(by_number):
        problems.append("the 25 tasks differ from UltraCart's 25")
    for s in summaries:
        raw = by_number.get(s.get("number"), {})
        need = {
            "number": raw.get("global_task_number"),
            "name": raw.get("task_name"),
            "status": raw.get("status"),
            "priority": raw.get("priority"),
            "due": raw.get("due_dts"),
            "object": raw.get("object_id"),
        }
        for key, value in need.items():
            if value is not None and not s.get(key):
                problems.append(f"#{raw.get('global_task_number')}: {key}")
        who = raw.get("assigned_to_user") or raw.get("assigned_to_group")
        if who and who not in (s.get("assignee"), s.get("group")):
            problems.append(f"#{raw.get('global_task_number')}: assignee")
        due = raw.get("due_dts")
        closed = raw.get("status") is not None and Status(raw["status"]).is_closed
        overdue = bool(due) and not closed and datetime.fromisoformat(due) < at
        if s.get("overdue", False) is not overdue:
            problems.append(f"#{raw.get('global_task_number')}: overdue")
        if raw.get("object_id") and raw["object_id"] not in str(s.get("object", "")):
            problems.append(f"#{raw.get('global_task_number')}: object id")
    return problems


def run(quick: bool = False) -> list[Table]:
    with sandbox() as sb:
        m = asyncio.run(measure(sb))
    raw_bytes = len(m["raw_min"].encode())
    table = Table(
        "5. Tokens — search_tasks for 25 tasks against UltraCart's raw JSON for the same 25",
        ["form", "bytes", "tokens ≈ bytes/4", "pre-tokens (floor)", "vs raw (minified)"],
    )
    rows = [
        ("UltraCart raw JSON, as served", m["raw"]),
        ("UltraCart raw JSON, minified (baseline)", m["raw_min"]),
        ("search_tasks structured content (JSON)", m["structured"]),
        ("search_tasks text content", m["text"]),
        ("search_tasks whole tools/call result (both)", m["wire"]),
    ]
    ratios: dict[str, float] = {}
    for label, body in rows:
        size = len(body.encode())
        quarter, pre = tokens(body)
        ratios[label] = size / raw_bytes
        raw_pre = tokens(m["raw_min"])[1]
        table.add(
            label,
            f"{size:,}",
            f"{quarter:,}",
            f"{pre:,}",
            f"{size / raw_bytes:.1%} (tokens {pre / raw_pre:.1%})",
        )
    problems = missing_fields(m["data"].get("tasks") or [], m["raw_tasks"], m["at"])
    structured = ratios["search_tasks structured content (JSON)"]
    text = ratios["search_tasks text content"]
    wire = ratios["search_tasks whole tools/call result (both)"]
    table.target(f"structured content ≤ 25% of UltraCart's JSON ({structured:.1%})", structured <= 0.25)
    table.target(f"text content ≤ 25% of UltraCart's JSON ({text:.1%})", text <= 0.25)
    table.target(f"whole tools/call result, text + structured, ≤ 18% ({wire:.1%})", wire <= 0.18)
    table.target(
        "nothing a user needs left out (number, name, status, priority, assignee, due date, overdue, object)"
        + (f": missing {', '.join(problems[:6])}" if problems else ""),
        not problems,
    )
    table.notes.append(
        f"query: search_tasks {json.dumps(QUERY)}; raw: POST /workflow/tasks/search _sort={RAW_SORT}"
    )
    return [table]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
