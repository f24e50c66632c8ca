"""Drive the official MCP conformance suite and the MCP Inspector CLI against a Python MCP server.

Both tools are npm packages pinned in ``conformance/package.json`` / ``package-lock.json``;
``node_modules`` is installed on first use with ``npm ci`` (only the npm registry is needed).

Library use (e.g. from pytest)::

    from conformance.run_conformance import run_conformance, run_inspector_cli, serve_http

    with serve_http(["python", "-m", "server", "--port", "{port}"]) as url:
        report = run_conformance(url, ["server-initialize", "ping"])
        assert report.all_passed, report.output

    tools = run_inspector_cli(["python", "-m", "server"], "tools/list")

Command line::

    python conformance/run_conformance.py --url http://127.0.0.1:8765/mcp [--scenario ping ...]
    python conformance/run_conformance.py --demo        # demo server: all scenarios + inspector CLI
    python conformance/run_conformance.py --inspector tools/list -- python conformance/demo_server.py

Node 20 note: conformance 0.1.x imports ``fs.globSync`` (Node >= 22). We start it with
``node --import node20-compat/register.mjs``, a module-resolution hook that supplies a
``globSync`` export; on Node >= 22 the hook is a no-op. See NOTES.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONFORMANCE_DIR = Path(__file__).resolve().parent
NODE_MODULES = CONFORMANCE_DIR / "node_modules"
CONFORMANCE_JS = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
# What `mcp-inspector --cli ...` spawns; called directly so a trailing `--` reliably separates the
# server's own arguments from inspector options (the bin wrapper drops the `--`).
INSPECTOR_CLI_JS = NODE_MODULES / "@modelcontextprotocol" / "inspector" / "cli" / "build" / "index.js"
NODE20_PRELOAD = CONFORMANCE_DIR / "node20-compat" / "register.mjs"
DEMO_SERVER = CONFORMANCE_DIR / "demo_server.py"

DEFAULT_SCENARIOS: tuple[str, ...] = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "completion-complete",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
)

# Names people reach for that are not server-scenario names in the suite: `initialize` is a
# *client* scenario there; the server handshake test is `server-initialize`.
SCENARIO_ALIASES: dict[str, str] = {
    "initialize": "server-initialize",
    "sse-multiple-streams": "server-sse-multiple-streams",
    "multiple-sse-streams": "server-sse-multiple-streams",
}


class ToolingError(RuntimeError):
    """The node tooling could not be installed or run (not a conformance failure)."""


# --------------------------------------------------------------------------- installation


def _require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolingError(f"`{name}` not found on PATH (Node >= 20 and npm are required)")
    return path


def ensure_node_modules(*, timeout_s: float = 600.0) -> None:
    """Run ``npm ci`` in conformance/ unless the pinned packages are already installed.

    Guarded by a file lock so concurrent test processes don't install twice.
    """
    if CONFORMANCE_JS.is_file() and INSPECTOR_CLI_JS.is_file():
        return
    npm = _require_executable("npm")
    lock_path = Path(tempfile.gettempdir()) / "uc-workflow-conformance-npm-ci.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if CONFORMANCE_JS.is_file() and INSPECTOR_CLI_JS.is_file():
                return
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=CONFORMANCE_DIR,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
            if proc.returncode != 0 or not CONFORMANCE_JS.is_file():
                raise ToolingError(f"npm ci failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@functools.cache
def node_version() -> tuple[int, int, int]:
    """Version of the `node` on PATH; the Node 20 shim needs module.register (>= 20.6)."""
    out = subprocess.run(
        [_require_executable("node"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    major, minor, patch = (int(p) for p in out.lstrip("v").split(".")[:3])
    if (major, minor) < (20, 6):
        raise ToolingError(f"Node {out} is too old: need >= 20.6 (module.register) for the conformance suite")
    return major, minor, patch


def _node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NO_COLOR", "1")
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------- conformance suite


@dataclass
class ScenarioResult:
    """Outcome of one conformance scenario (one `conformance server --scenario X` run)."""

    scenario: str
    passed: bool
    exit_code: int
    checks: list[dict[str, Any]]
    output: str
    duration_s: float

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.get("status") == status)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c.get("status") == "FAILURE"]


@dataclass
class ConformanceReport:
    url: str
    results: dict[str, ScenarioResult] = field(default_factory=dict)

    @property
    def passed(self) -> dict[str, bool]:
        return {name: r.passed for name, r in self.results.items()}

    @property
    def all_passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results.values())

    @property
    def output(self) -> str:
        return "\n".join(f"##### {n}\n{r.output}" for n, r in self.results.items())

    def summary(self) -> str:
        lines = []
        for name, r in self.results.items():
            mark = "PASS" if r.passed else "FAIL"
            lines.append(
                f"{mark} {name}: {r.count('SUCCESS')} ok, {r.count('FAILURE')} failed, "
                f"{r.count('WARNING')} warnings ({r.duration_s:.2f}s)"
            )
            lines.extend(f"     - {c.get('id')}: {c.get('errorMessage', '')}" for c in r.failures)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "all_passed": self.all_passed,
            "passed": self.passed,
            "scenarios": {
                n: {
                    "passed": r.passed,
                    "exit_code": r.exit_code,
                    "duration_s": round(r.duration_s, 3),
                    "checks": r.checks,
                }
                for n, r in self.results.items()
            },
        }


def conformance_command(url: str, scenario: str, output_dir: Path) -> list[str]:
    node = _require_executable("node")
    node_version()
    return [
        node,
        "--import",
        NODE20_PRELOAD.as_uri(),
        str(CONFORMANCE_JS),
        "server",
        "--url",
        url,
        "--scenario",
        scenario,
        "--output-dir",
        str(output_dir),
    ]


def run_scenario(url: str, scenario: str, *, timeout_s: float = 120.0) -> ScenarioResult:
    """Run one server scenario and parse its ``checks.json``.

    A scenario passes when the CLI exits 0, at least one check is SUCCESS and none is FAILURE
    (a scenario that only yields WARNING/INFO, e.g. multiple-streams against a stateless
    server, counts as not passed).
    """
    ensure_node_modules()
    with tempfile.TemporaryDirectory(prefix="mcp-conformance-") as tmp:
        out_dir = Path(tmp)
        start = time.monotonic()
        try:
            proc = subprocess.run(
                conformance_command(url, scenario, out_dir),
                cwd=CONFORMANCE_DIR,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=_node_env(),
                check=False,
            )
            exit_code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            exit_code = -1
            output = f"TIMEOUT after {timeout_s}s\n{_text(exc.stdout)}{_text(exc.stderr)}"
        duration = time.monotonic() - start
        checks: list[dict[str, Any]] = []
        for checks_file in sorted(out_dir.glob("**/checks.json")):
            loaded = json.loads(checks_file.read_text())
            if isinstance(loaded, list):
                checks.extend(c for c in loaded if isinstance(c, dict))
    statuses = [c.get("status") for c in checks]
    passed = exit_code == 0 and "SUCCESS" in statuses and "FAILURE" not in statuses
    return ScenarioResult(scenario, passed, exit_code, checks, output, duration)


def run_conformance(
    url: str, scenarios: Sequence[str] = DEFAULT_SCENARIOS, *, timeout_s: float = 120.0
) -> ConformanceReport:
    """Run each server scenario against the streamable-HTTP endpoint ``url`` (…/mcp).

    Results are keyed by the name given (aliases such as ``initialize`` are run as their
    canonical scenario, recorded in ``ScenarioResult.scenario``).
    """
    report = ConformanceReport(url=url)
    for scenario in scenarios:
        canonical = SCENARIO_ALIASES.get(scenario, scenario)
        report.results[scenario] = run_scenario(url, canonical, timeout_s=timeout_s)
    return report


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


# --------------------------------------------------------------------------- inspector CLI


def run_inspector_cli(
    command: Sequence[str],
    method: str,
    extra_args: Sequence[str] = (),
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Run MCP Inspector CLI mode against a stdio server and return its JSON result.

    ``command`` is the server command line (e.g. ``[sys.executable, "demo_server.py"]``);
    ``method`` is tools/list, tools/call, resources/list, resources/read,
    resources/templates/list, prompts/list, prompts/get or logging/setLevel; ``extra_args`` are
    inspector options such as ``["--tool-name", "add", "--tool-arg", "a=1", "--tool-arg", "b=2"]``.
    ``env`` is added to the environment the server inherits. Raises ToolingError if the CLI
    fails or prints no JSON. A tool error is *not* an exception: it comes back as ``isError: true``.
    """
    if not command:
        raise ValueError("command must not be empty")
    ensure_node_modules()
    node = _require_executable("node")
    argv = [node, str(INSPECTOR_CLI_JS), command[0], "--method", method, *extra_args, "--", *command[1:]]
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,  # None: the caller's cwd, so relative paths in `command` work
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=_node_env(env),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolingError(f"inspector CLI timed out after {timeout_s}s: {argv}") from exc
    if proc.returncode != 0:
        raise ToolingError(f"inspector CLI exit {proc.returncode}: {argv}\n{proc.stdout}\n{proc.stderr}")
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ToolingError(f"inspector CLI printed non-JSON:\n{proc.stdout}\n{proc.stderr}") from exc
    if not isinstance(result, dict):
        raise ToolingError(f"inspector CLI printed non-object JSON: {proc.stdout}")
    return result


# --------------------------------------------------------------------------- serving helpers


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    host: str, port: int, *, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll until something accepts TCP connections on host:port (or the process dies)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise ToolingError(f"server exited with {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ToolingError(f"nothing listening on {host}:{port} after {timeout_s}s") from None
            time.sleep(0.05)  # poll interval, not a readiness guess


@contextlib.contextmanager
def serve_http(
    command: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    path: str = "/mcp",
    env: dict[str, str] | None = None,
    startup_timeout_s: float = 30.0,
) -> Iterator[str]:
    """Start an HTTP MCP server subprocess and yield its endpoint URL once it accepts connections.

    ``{port}`` and ``{host}`` in ``command`` are substituted (a free port is picked if ``port`` is
    None). Server output goes to a temp log file, included in the error if startup fails.
    """
    port = port if port is not None else free_port(host)
    argv = [a.format(port=port, host=host) for a in command]
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{port}{path}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        try:
            try:
                wait_for_port(host, port, timeout_s=startup_timeout_s, proc=proc)
            except ToolingError as exc:
                log.seek(0)
                raise ToolingError(f"{exc}\n--- server output ---\n{_text(log.read())}") from None
            yield url
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def demo_server_command(transport: str = "streamable-http") -> list[str]:
    cmd = [sys.executable, str(DEMO_SERVER), "--transport", transport]
    if transport == "streamable-http":
        cmd += ["--host", "{host}", "--port", "{port}"]
    return cmd


# --------------------------------------------------------------------------- CLI


def _demo(scenarios: Sequence[str], as_json: bool) -> int:
    ok = True
    t0 = time.monotonic()
    with serve_http(demo_server_command()) as url:
        report = run_conformance(url, scenarios)
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    ok &= report.all_passed
    stdio = [sys.executable, str(DEMO_SERVER), "--transport", "stdio"]
    tools = run_inspector_cli(stdio, "tools/list")
    names = [t.get("name") for t in tools.get("tools", [])]
    call = run_inspector_cli(
        stdio, "tools/call", ["--tool-name", "add", "--tool-arg", "a=2", "--tool-arg", "b=40"]
    )
    call_ok = call.get("structuredContent") == {"total": 42, "expression": "2 + 40"} and not call.get(
        "isError"
    )
    print(f"{'PASS' if names == ['add'] else 'FAIL'} inspector tools/list: {names}")
    print(f"{'PASS' if call_ok else 'FAIL'} inspector tools/call add(2, 40): {call.get('structuredContent')}")
    ok &= names == ["add"] and call_ok
    print(f"total {time.monotonic() - t0:.1f}s")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    server_cmd: list[str] = []
    if "--" in args_list:
        i = args_list.index("--")
        args_list, server_cmd = args_list[:i], args_list[i + 1 :]
    parser = argparse.ArgumentParser(description="Run MCP conformance scenarios / inspector CLI.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--url", help="streamable-HTTP endpoint, e.g. http://127.0.0.1:8765/mcp")
    mode.add_argument("--demo", action="store_true", help="start demo_server.py and run everything")
    mode.add_argument("--inspector", metavar="METHOD", help="inspector CLI method; server command after --")
    mode.add_argument("--install", action="store_true", help="only run npm ci if node_modules is missing")
    parser.add_argument("--scenario", action="append", help="scenario name (repeatable); default: our set")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    parser.add_argument("--raw", action="store_true", help="also print the suite's raw output")
    args, inspector_extra = parser.parse_known_args(args_list)
    scenarios: list[str] = args.scenario or list(DEFAULT_SCENARIOS)

    if args.install:
        ensure_node_modules()
        return 0
    if args.demo:
        return _demo(scenarios, args.json)
    if args.inspector:
        if not server_cmd:
            parser.error("--inspector needs the server command after --")
        print(json.dumps(run_inspector_cli(server_cmd, args.inspector, inspector_extra), indent=2))
        return 0
    if inspector_extra:
        parser.error(f"unrecognized arguments: {' '.join(inspector_extra)}")
    host = urlsplit(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: dns-rebinding-protection requires a loopback URL, got {host}", file=sys.stderr)
    report = run_conformance(args.url, scenarios)
    if args.raw:
        print(report.output)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if report.all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
