"""MCP overhead: round trip of ``tools/call get_task`` through the stdio server (``uc-workflow-mcp``, a
separate process) from this process, against the same read made directly in-process.

Run: ``python bench/mcp_overhead.py``. Limits on; both paths talk to the same sandbox over loopback, with
their own keys. Rows:
- ``client.get_task``: the typed client in-process (the baseline the target is measured against);
- ``tool get_task``: the registry tool in-process (validation, the client call, the output model and its
  JSON), which is what the MCP server runs for each call;
- ``MCP tools/call``: mcp's client → stdio → ``uc-workflow-mcp`` → the same tool → back.
Target: the MCP path adds under 2 ms at the median (MCP median − client median).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Sandbox, Table, bench_main, mcp_server_params, median, ms, percentile, sandbox
from shared_client.models import WorkflowTasksRequest
from shared_client.tools import ToolContext, get_tool

CALLS = 300
WARMUP = 20
ROUNDS = 3  # interleaved rounds, so drift hits every path alike


async def _task_uuids(sb: Sandbox) -> list[str]:
    async with sb.client() as client:
        page = await client.search_tasks(WorkflowTasksRequest(), limit=20)
        return [t.workflow_task_uuid or "" for t in page.tasks or []]


async def measure(sb: Sandbox, calls: int) -> dict[str, list[float]]:
    from mcp import Client

    uuids = await _task_uuids(sb)
    out: dict[str, list[float]] = {"client": [], "tool": [], "mcp": []}
    tool = get_tool("get_task")
    per_round = calls // ROUNDS
    async with sb.client() as client, Client(mcp_server_params(sb, "bench-mcp-overhead")) as mcp:
        ctx = ToolContext(client)
        for i in range(WARMUP):
            u = uuids[i % len(uuids)]
            await client.get_task(u)
            (await tool.run(ctx, {"task": u})).to_data()
            await mcp.call_tool("get_task", {"task": u})
        for _ in range(ROUNDS):
            for i in range(per_round):
                u = uuids[i % len(uuids)]
                started = time.perf_counter()
                await client.get_task(u)
                out["client"].append(time.perf_counter() - started)
            for i in range(per_round):
                u = uuids[i % len(uuids)]
                started = time.perf_counter()
                output = await tool.run(ctx, {"task": u})
                output.to_data()
                output.to_text()
                out["tool"].append(time.perf_counter() - started)
            for i in range(per_round):
                u = uuids[i % len(uuids)]
                started = time.perf_counter()
                result = await mcp.call_tool("get_task", {"task": u})
                out["mcp"].append(time.perf_counter() - started)
                if result.is_error:
                    raise RuntimeError(f"get_task failed over MCP: {result.content}")
    return out


async def breakdown(sb: Sandbox, calls: int) -> dict[str, list[float]]:
    """Where the MCP path's time goes: stdio ping, the MCP layers in-process (no stdio), and the client's
    re-validation of structured content against the tool's output schema (mcp's client does it)."""
    from mcp import Client

    from server.app import build_server

    uuids = await _task_uuids(sb)
    out: dict[str, list[float]] = {"ping": [], "ping_tool": [], "inproc": [], "validate": [], "tool": []}
    tool = get_tool("get_task")
    async with sb.client() as client:
        ctx = ToolContext(client)
        server = build_server(ctx)
        async with Client(server) as local, Client(mcp_server_params(sb, "bench-mcp-breakdown")) as remote:
            await remote.list_tools()
            await local.list_tools()
            # A tool that makes no UltraCart call once the people cache is warm: pure MCP + stdio cost.
            cheap = get_tool("list_assignable_groups")
            await remote.call_tool(cheap.name, {})
            await cheap.run(ctx, {})
            result = await local.call_tool("get_task", {"task": uuids[0]})
            session = local.session
            for i in range(WARMUP):
                await remote.call_tool(cheap.name, {})
                await local.call_tool("get_task", {"task": uuids[i % len(uuids)]})
            for i in range(calls):
                u = uuids[i % len(uuids)]
                started = time.perf_counter()
                await remote.call_tool(cheap.name, {})
                out["ping"].append(time.perf_counter() - started)
                started = time.perf_counter()
                (await cheap.run(ctx, {})).to_data()
                out["ping_tool"].append(time.perf_counter() - started)
                started = time.perf_counter()
                await local.call_tool("get_task", {"task": u})
                out["inproc"].append(time.perf_counter() - started)
                started = time.perf_counter()
                await session.validate_tool_result("get_task", result)
                out["validate"].append(time.perf_counter() - started)
                started = time.perf_counter()
                output = await tool.run(ctx, {"task": u})
                output.to_data()
                output.to_text()
                out["tool"].append(time.perf_counter() - started)
    return out


def run(quick: bool = False) -> list[Table]:
    calls = 60 if quick else CALLS
    with sandbox() as sb:
        samples = asyncio.run(measure(sb, calls))
    base = median(samples["client"])
    table = Table(
        "3. MCP overhead — get_task round trip (ms), sandbox over loopback",
        ["path", "calls", "median", "p99", "min", "added vs client (median)", "ratio"],
    )
    labels = {
        "client": "client.get_task (in-process)",
        "tool": "tool get_task (in-process)",
        "mcp": "MCP tools/call over stdio",
    }
    for key, label in labels.items():
        values = samples[key]
        table.add(
            label,
            len(values),
            ms(median(values)),
            ms(percentile(values, 99)),
            ms(min(values)),
            ms(median(values) - base),
            f"{median(values) / base:.2f}x",
        )
    added = median(samples["mcp"]) - base
    table.target(f"MCP path adds under 2 ms at the median (adds {added * 1000:.2f} ms)", added < 0.002)
    table.notes.append(
        f"MCP over the in-process tool: {(median(samples['mcp']) - median(samples['tool'])) * 1000:.2f} ms "
        "(stdio, JSON-RPC, mcp's dispatch and validation in both processes)"
    )
    with sandbox() as sb:
        parts = asyncio.run(breakdown(sb, calls))
    why = Table(
        "3b. MCP overhead — where the time goes (ms, median of interleaved samples)",
        ["component", "median", "p99"],
    )
    why.add(
        "stdio tools/call of a cached tool (list_assignable_groups, no UltraCart call)",
        ms(median(parts["ping"])),
        ms(percentile(parts["ping"], 99)),
    )
    why.add(
        "  the same tool in-process", ms(median(parts["ping_tool"])), ms(percentile(parts["ping_tool"], 99))
    )
    why.add("tool get_task in-process", ms(median(parts["tool"])), ms(percentile(parts["tool"], 99)))
    why.add(
        "MCP tools/call in-process (mcp client + server layers, no stdio)",
        ms(median(parts["inproc"])),
        ms(percentile(parts["inproc"], 99)),
    )
    why.add(
        "  of which: mcp client re-validates structured content (jsonschema)",
        ms(median(parts["validate"])),
        ms(percentile(parts["validate"], 99)),
    )
    why.add("  MCP layers in-process − tool", ms(median(parts["inproc"]) - median(parts["tool"])), "")
    return [table, why]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
