"""Cold start: from process spawn to the answer of ``tools/list`` over stdio, ``uc-workflow-mcp`` against a
bare ``MCPServer`` with one tool (``bench/_bare_mcp_server.py``); and what the server imports.

Run: ``python bench/cold_start.py``.

``uc-workflow-mcp`` runs as in production: ``ULTRACART_API_KEY`` set, pointing at the sandbox on a loopback
port (``tools/list`` makes no UltraCart call). A second row runs it on the embedded sandbox (no credentials,
an existing database), which is what a first-time user gets. Each sample is one fresh process; the client
(mcp's, in this process) is warm, so its cost is the same on both sides.

``python -X importtime`` of the production start shows the top imports by cumulative time and whether
anything from Slack or the sandbox was imported. ``-X importtime`` charges a shared dependency (pydantic,
importlib.metadata) to whichever module imports it first, so a third table times the start path step by
step in fresh processes, after mcp's own import (which the bare server pays too): what each step adds, and
the file it comes from.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    MCP_COMMAND,
    PYTHON,
    ROOT,
    Sandbox,
    Table,
    bench_main,
    clean_env,
    mcp_server_params,
    median,
    ms,
    sandbox,
    spread,
)

RUNS = 7
TARGET_RATIO = 1.2
BARE = str(Path(__file__).resolve().parent / "_bare_mcp_server.py")
# uvicorn and starlette are not on this list: mcp itself imports them (mcp.server → sse_starlette).
FORBIDDEN = ("slack_bot", "slack_bolt", "slack_sdk", "aiohttp", "shared_client.sandbox")


async def spawn_to_list(params: Any) -> tuple[float, int]:
    from mcp import Client

    started = time.perf_counter()
    async with Client(params) as client:
        tools = await client.list_tools()
        took = time.perf_counter() - started
    return took, len(tools.tools)


def children_cpu() -> float:
    """CPU seconds of the reaped child processes so far: less moved than wall time by a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _bare_params() -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(command=PYTHON, args=[BARE], env=clean_env(), cwd=str(ROOT))


def _sandbox_params(db: Path) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=MCP_COMMAND, args=[], env=clean_env(UC_WORKFLOW_SANDBOX_DB=str(db)), cwd=str(ROOT)
    )


# The start path of ``uc-workflow-mcp`` (server/cli.py ``serve``), one step at a time: (label, code).
# The first two steps are what the bare server does; every later one is what ours adds.
STEPS: tuple[tuple[str, str], ...] = (
    ("import mcp.server.mcpserver (the bare server pays it too)", "import mcp.server.mcpserver"),
    ("bare: MCPServer with one tool, tools/list", "bare()"),
    ("import argparse (shared_client/commandline.py)", "import argparse"),
    ("import pydantic_settings + python-dotenv (shared_client/settings.py)", "import pydantic_settings"),
    ("the Settings class (shared_client/settings.py)", "import shared_client.settings"),
    ("Settings(): environment + .env (shared_client/commandline.py)", "settings = load()"),
    ("import httpx, whose CLI module pulls in pygments and rich (shared_client/client.py)", "import httpx"),
    ("import shared_client.models", "import shared_client.models"),
    ("import shared_client.client (+ pacing, retry, errors)", "import shared_client.client"),
    ("import shared_client.tools (tasks, views, people, files, ...)", "import shared_client.tools"),
    ("import server.cli (+ shared_client.commandline, logs)", "import server.cli"),
    ("import server.app, shared_client.factory", "import server.app, shared_client.factory"),
    ("import httpcore (httpx.AsyncClient's transport, shared_client/client.py)", "import httpcore"),
    ("build_backend: WorkflowClient (TLS context, httpx.AsyncClient)", "backend = build(settings)"),
    ("build_server: 13 tools' input and output schemas (server/app.py)", "server = serve(backend)"),
    ("tools/list", "listed(server)"),
)
STEP_PROBE = """
import asyncio, json, sys, time
def add(a: int, b: int) -> int:
    return a + b
def bare():
    from mcp.server.mcpserver import MCPServer
    server = MCPServer("bare")
    server.tool()(add)
    asyncio.run(server.list_tools())
def load():
    from shared_client.commandline import load_settings
    return load_settings()
def build(settings):
    from shared_client.factory import build_backend
    return build_backend(settings)
def serve(backend):
    from server.app import build_server
    from shared_client.tools import TOOLSETS, ToolContext
    context = ToolContext(backend.client, sandbox=backend.sandbox, description=backend.description)
    return build_server(context, read_only=False, toolsets=list(TOOLSETS))
def listed(server):
    asyncio.run(server.list_tools())
took = []
for code in json.loads(sys.argv[1]):
    started = time.perf_counter()
    exec(code)
    took.append(time.perf_counter() - started)
print(json.dumps(took))
"""


def step_profile(sb: Sandbox, runs: int) -> list[tuple[str, float]]:
    """Median seconds of each of STEPS, each run a fresh process as ``uc-workflow-mcp`` would start."""
    params = mcp_server_params(sb, "bench-cold")
    samples: list[list[float]] = []
    for _ in range(runs):
        done = subprocess.run(
            [PYTHON, "-c", STEP_PROBE, json.dumps([code for _, code in STEPS])],
            env=params.env,
            cwd=params.cwd,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"the step probe failed: {done.stderr[-2000:]}")
        samples.append(json.loads(done.stdout))
    return [(label, statistics.median(s[i] for s in samples)) for i, (label, _) in enumerate(STEPS)]


def import_profile(sb: Sandbox) -> tuple[list[tuple[float, float, str]], list[str], int]:
    """The production start under ``-X importtime`` up to ``tools/list``: (cumulative s, self s, module)."""
    params = mcp_server_params(sb, "bench-cold", python_flags=["-X", "importtime"])
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [params.command, *params.args],
            env=params.env,
            cwd=params.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert proc.stdin and proc.stdout
        init = (
            '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
            '"capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}\n'
        )
        proc.stdin.write(init)
        proc.stdin.flush()
        proc.stdout.readline()
        proc.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        proc.stdin.write('{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n')
        proc.stdin.flush()
        proc.stdout.readline()
        proc.stdin.close()
        proc.wait(timeout=30)
        err.seek(0)
        text = err.read()
    rows: list[tuple[float, float, str]] = []
    for line in text.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)) / 1e6, int(m.group(1)) / 1e6, m.group(3) + m.group(4)))
    names = [r[2].strip() for r in rows]
    forbidden = sorted({n for n in names for f in FORBIDDEN if n == f or n.startswith(f + ".")})
    return rows, forbidden, len(names)


def run(quick: bool = False) -> list[Table]:
    runs = 3 if quick else RUNS
    samples: dict[str, list[float]] = {"bare": [], "ours": [], "ours-sandbox": []}
    cpu: dict[str, list[float]] = {key: [] for key in samples}
    counts: dict[str, int] = {}
    with sandbox() as sb, tempfile.TemporaryDirectory(prefix="uc-bench-cold-") as tmp:
        db = Path(tmp) / "sandbox.sqlite3"
        asyncio.run(spawn_to_list(_sandbox_params(db)))  # create and seed the embedded sandbox's file once
        # Warm the OS page cache for both sides, then alternate so drift hits both alike.
        asyncio.run(spawn_to_list(_bare_params()))
        asyncio.run(spawn_to_list(mcp_server_params(sb, "bench-cold")))
        for _ in range(runs):
            for key, params in (
                ("bare", _bare_params()),
                ("ours", mcp_server_params(sb, "bench-cold")),
                ("ours-sandbox", _sandbox_params(db)),
            ):
                before = children_cpu()
                took, n = asyncio.run(spawn_to_list(params))
                cpu[key].append(children_cpu() - before)  # the server's whole life, exit included
                samples[key].append(took)
                counts[key] = n
        rows, forbidden, n_modules = import_profile(sb)
        steps = step_profile(sb, runs)
    base = median(samples["bare"])
    table = Table(
        "4. Cold start — process spawn to tools/list answer over stdio (ms)",
        ["server", "tools", "runs", "median", "spread", "ratio vs bare", "CPU median", "CPU ratio"],
    )
    labels = {
        "bare": "bare MCPServer, one tool",
        "ours": "uc-workflow-mcp (UltraCart key set)",
        "ours-sandbox": "uc-workflow-mcp (embedded sandbox)",
    }
    for key, label in labels.items():
        values = samples[key]
        table.add(
            label,
            counts[key],
            len(values),
            ms(median(values)),
            spread([v * 1000 for v in values]),
            f"{median(values) / base:.2f}x",
            ms(median(cpu[key])),
            f"{median(cpu[key]) / median(cpu['bare']):.2f}x",
        )
    ratio = median(samples["ours"]) / base
    table.notes.append(
        "CPU: user + system seconds of the server process over its whole life (exit included), which a busy "
        "machine moves less than the wall time; the target is on the wall time"
    )
    table.target(
        f"uc-workflow-mcp within {TARGET_RATIO}x of a bare MCPServer ({ratio:.2f}x)", ratio <= TARGET_RATIO
    )
    table.target(
        "nothing imports Slack or the sandbox unless it is used"
        + (
            f" (imported: {', '.join(forbidden[:8])}{'…' if len(forbidden) > 8 else ''})" if forbidden else ""
        ),
        not forbidden,
    )
    imports = Table(
        f"4b. Cold start — top imports of uc-workflow-mcp by cumulative time "
        f"({n_modules} modules, -X importtime)",
        ["module", "cumulative ms", "self ms"],
    )
    top = sorted(rows, key=lambda r: r[0], reverse=True)
    shown = 0
    for cumulative, self_time, name in top:
        depth = (len(name) - len(name.lstrip())) // 2
        if depth > 2:
            continue
        imports.add(name.strip(), f"{cumulative * 1000:.1f}", f"{self_time * 1000:.1f}")
        shown += 1
        if shown >= 25:
            break
    total = sum(r[1] for r in rows)
    imports.notes.append(f"sum of self times: {total * 1000:.0f} ms")

    path = Table(
        f"4c. Cold start — the start path step by step, median of {runs} fresh processes (ms)",
        ["step", "ms", "share of what ours adds"],
    )
    added = sum(took for _, took in steps[2:])
    for i, (label, took) in enumerate(steps):
        path.add(label, f"{took * 1000:.1f}", "" if i < 2 else f"{took / added:.0%}")
    bare_ms = sum(took for _, took in steps[:2]) * 1000
    path.notes.append(
        f"ours adds {added * 1000:.0f} ms to the bare server's {bare_ms:.0f} ms of steps; "
        f"the spawn-to-list medians above differ by {(median(samples['ours']) - base) * 1000:.0f} ms"
    )
    return [table, imports, path]


def main() -> None:
    bench_main(run)


if __name__ == "__main__":
    main()
