"""Shared helpers for the benchmarks: a sandbox subprocess on a loopback port, a client on it, an MCP
server over stdio, statistics, table printing, and quiet output.

Every benchmark module has ``run(quick: bool = False) -> list[Table]`` and a ``main()`` that prints them
(``bench_main``); ``bench/run_all.py`` calls every ``run``.

Quiet by default: this process logs warnings and errors only, and what child processes write to stderr is
kept aside and shown when the benchmark fails. ``--verbose`` shows everything as it happens.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/NAME.py` from anywhere
    sys.path.insert(0, str(ROOT))

from shared_client.client import WorkflowClient  # noqa: E402
from shared_client.pacing import BudgetSpec  # noqa: E402

PYTHON = sys.executable
BIN = Path(sys.executable).parent
MCP_COMMAND = str(BIN / "uc-workflow-mcp")


# --------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> str:
    """min–max, the honest spread for a handful of runs."""
    if not values:
        return "-"
    return f"{_num(min(values))}–{_num(max(values))}"


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --------------------------------------------------------------------------- tables


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, bool]] = field(default_factory=list)  # (target, met)

    def add(self, *row: Any) -> None:
        self.rows.append(list(row))

    def target(self, text: str, ok: bool) -> None:
        self.verdicts.append((text, ok))

    def render(self) -> str:
        cells = [[str(c) for c in self.headers], *[[_cell(c) for c in row] for row in self.rows]]
        widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(self.headers))]
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)) + " |")
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in cells[1:]:
            lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |")
        for text, ok in self.verdicts:
            lines.append(f"\n**{verdict(ok)}** — {text}")
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def print_tables(tables: Sequence[Table]) -> None:
    for table in tables:
        print(table.render(), flush=True)


def machine_line() -> str:
    return (
        f"{platform.platform()}, {os.cpu_count()} CPU(s) (nproc {len(os.sched_getaffinity(0))}), "
        f"Python {platform.python_version()}"
    )


# --------------------------------------------------------------------------- quiet output

# Libraries that log every request or connection at INFO: httpx and httpcore (each UltraCart call), uvicorn
# and aiohttp (access lines of the sandbox and the mock Slack), mcp (every request it handles).
CHATTY_LOGGERS = (
    "httpx",
    "httpcore",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "aiohttp.access",
    "aiohttp.server",
    "mcp",
    "slack_bolt",
    "slack_sdk",
)
STDERR_TAIL = 8000  # characters of a child's stderr shown with a failure


def verbose_requested() -> bool:
    return "--verbose" in sys.argv


@functools.cache
def terminal() -> TextIO:
    """This process's stderr as it was at the start, before ``quiet_children`` points descriptor 2 away."""
    sys.stderr.flush()
    return open(  # lives as long as the process
        os.dup(2), "w", encoding="utf-8", errors="backslashreplace", buffering=1
    )


def configure_logging(verbose: bool = False) -> None:
    """One handler on the root logger, on the terminal's stderr: warnings and errors, or everything with
    ``--verbose``. Installed before mcp's ``MCPServer`` runs ``logging.basicConfig(level=INFO)``, which then
    does nothing."""
    handler = logging.StreamHandler(terminal())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


def show_child_stderr(what: str, text: str) -> None:
    text = text.strip()
    if text:
        out = terminal()
        print(f"--- stderr of {what} (last {STDERR_TAIL} characters) ---", file=out)
        print(text[-STDERR_TAIL:], file=out, flush=True)


@contextlib.contextmanager
def quiet_children(verbose: bool = False) -> Iterator[None]:
    """File descriptor 2, which child processes inherit (mcp's client hands ``sys.stderr`` to the MCP
    servers it starts), goes to a file for the block; log records still reach the terminal (see
    ``configure_logging``). When the block fails, what the file caught is shown."""
    if verbose:
        yield
        return
    terminal()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+b") as kept:
        os.dup2(kept.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                kept.seek(0)
                show_child_stderr("child processes", kept.read().decode(errors="replace"))


def bench_main(run: Callable[..., Sequence[Table]]) -> None:
    """``main()`` of a benchmark: ``--quick`` for fewer runs, ``--verbose`` for every log line."""
    verbose = verbose_requested()
    configure_logging(verbose)
    with quiet_children(verbose):
        tables = run(quick="--quick" in sys.argv)
    print_tables(tables)


# --------------------------------------------------------------------------- the sandbox over a port


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any UltraCart, uc-workflow or Slack setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_"))}
    env.update(extra)
    return env


@dataclass
class Sandbox:
    root: str
    db: Path
    proc: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return f"{self.root}/rest/v2"

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.root}/_sandbox/stats", timeout=30).json())

    def reset_stats(self) -> None:
        httpx.post(f"{self.root}/_sandbox/stats/reset", timeout=30)

    def client(self, key: str | None = None, *, limits: bool = True, **kwargs: Any) -> WorkflowClient:
        """Our client on this sandbox. A fresh key by default: its own gate and its own UltraCart budget."""
        return WorkflowClient(
            api_key=key or f"bench-{uuid.uuid4().hex[:12]}",
            base_url=self.api,
            budget=BudgetSpec() if limits else BudgetSpec.none(),
            **kwargs,
        )


@contextlib.contextmanager
def sandbox(*args: str, ready_timeout: float = 300.0) -> Iterator[Sandbox]:
    """``python -m shared_client.sandbox`` on a free loopback port with its own database and ``args``
    (e.g. ``--latency 0.05``, ``--rate-limit none``, ``--seed-tasks 10000``); readiness is polled."""
    verbose = verbose_requested()
    with tempfile.TemporaryDirectory(prefix="uc-bench-") as tmp, open(Path(tmp) / "stderr", "w+b") as err:
        port = free_port()
        db = Path(tmp) / "sandbox.sqlite3"
        proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "shared_client.sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--db",
                str(db),
                "--log-level",
                "info" if verbose else "warning",
                *args,
            ],
            env=clean_env(),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=None if verbose else err,  # a file: a pipe nobody reads could fill and stall it
        )
        root = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(f"{root}/_sandbox/stats", proc, err, ready_timeout)
            try:
                yield Sandbox(root, db, proc)
            except BaseException:  # the benchmark failed: what the sandbox said (warnings and errors)
                err.seek(0)
                state = "running" if proc.poll() is None else f"exit {proc.returncode}"
                show_child_stderr(f"the sandbox ({state})", err.read().decode(errors="replace"))
                raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], err: Any, deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            err.seek(0)
            text = err.read().decode(errors="replace")
            raise RuntimeError(f"sandbox exited early with {proc.returncode}: {text[-2000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # readiness poll interval
    raise RuntimeError(f"sandbox not ready at {url}")


# --------------------------------------------------------------------------- the MCP server over stdio


def mcp_server_params(
    sb: Sandbox | None, key: str, *extra_args: str, python_flags: Sequence[str] = ()
) -> Any:
    """``uc-workflow-mcp`` over stdio, talking to the sandbox on its loopback port as if it were UltraCart
    (a key is set, so the server takes the UltraCart path, not the in-process sandbox)."""
    from mcp import StdioServerParameters

    env = clean_env(ULTRACART_API_KEY=key)
    if sb is not None:
        env["ULTRACART_BASE_URL"] = sb.api
    if python_flags:
        return StdioServerParameters(
            command=PYTHON, args=[*python_flags, "-m", "server", *extra_args], env=env, cwd=str(ROOT)
        )
    return StdioServerParameters(command=MCP_COMMAND, args=list(extra_args), env=env, cwd=str(ROOT))


# --------------------------------------------------------------------------- Redis


@contextlib.contextmanager
def redis() -> Iterator[str | None]:
    """A Redis URL for the shared-state rows: CI's (``UC_WORKFLOW_TEST_REDIS_URL``), else a private
    ``redis-server`` from PATH on a free loopback port, else None (those rows are skipped)."""
    given = os.environ.get("UC_WORKFLOW_TEST_REDIS_URL")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="uc-bench-redis-") as tmp:
        port = free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:  # it says when it is ready
            if "Ready to accept connections" in line:
                break
        process.stdout.close()
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)
