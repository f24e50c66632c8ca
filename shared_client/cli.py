"""``uc-workflow``: the registry's tools from a shell.

    uc-workflow tools                                   # name, read-only, toolset, title
    uc-workflow call search_tasks '{"assignee": "me"}'  # the structured result as JSON on stdout

A tool failure prints its message on stderr, ``{"error": {kind, message, fields}}`` on stdout, and exits 1;
an unknown tool, bad JSON or a bad setting exits 2.
Needs neither mcp nor slack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared_client import commandline

if TYPE_CHECKING:
    from shared_client.settings import Settings

PROG = "uc-workflow"


def build_parser() -> commandline.CommandParser:
    parser = commandline.command_parser(
        PROG,
        "UltraCart Workflow tools from a shell. Runs on the local sandbox unless "
        "ULTRACART_API_KEY or ULTRACART_OAUTH_TOKEN is set.",
    )
    commandline.add_sandbox_option(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tools = commands.add_parser("tools", help="list the tools", description="List the tools.")
    tools.add_argument("--json", action="store_true", help="print the list as JSON")
    commandline.add_sandbox_option(tools, on_subcommand=True)

    call = commands.add_parser(
        "call",
        help="call a tool",
        description="Call a tool and print its structured result as JSON.",
    )
    call.add_argument("tool", help="tool name (see `uc-workflow tools`)")
    call.add_argument(
        "arguments",
        nargs="?",
        default="{}",
        help="the arguments as a JSON object (default {}; - reads stdin)",
    )
    commandline.add_sandbox_option(call, on_subcommand=True)
    return parser


def list_tools(as_json: bool) -> None:
    from shared_client.tools import ALL_TOOLS

    if as_json:
        rows = [
            {"name": t.name, "read_only": t.read_only, "toolset": t.toolset, "title": t.title}
            for t in ALL_TOOLS
        ]
        print(json.dumps(rows, indent=2))
        return
    width = max(len(t.name) for t in ALL_TOOLS)
    print(f"{'TOOL':<{width}}  {'READ-ONLY':<9}  {'TOOLSET':<11}  TITLE")
    for tool in ALL_TOOLS:
        flag = "yes" if tool.read_only else "no"
        print(f"{tool.name:<{width}}  {flag:<9}  {tool.toolset:<11}  {tool.title}")


def parse_arguments(text: str) -> dict[str, Any]:
    if text == "-":
        text = sys.stdin.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise commandline.UsageError(
            f"arguments are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise commandline.UsageError('arguments must be a JSON object, e.g. \'{"status": "open"}\'')
    return value


async def call_tool(
    name: str, arguments: dict[str, Any], settings: Settings, *, force_sandbox: bool
) -> dict[str, Any]:
    """Run one tool; ToolError propagates."""
    from shared_client.factory import build_backend_async
    from shared_client.tools import ToolContext, get_tool

    tool = get_tool(name)
    backend = await build_backend_async(settings, force_sandbox=force_sandbox)
    async with backend.client:
        context = ToolContext(backend.client, sandbox=backend.sandbox, description=backend.description)
        output = await tool.run(context, arguments)
        data: dict[str, Any] = output.to_data()
        return data


def call(args: argparse.Namespace) -> None:
    from shared_client.tools import ToolError, get_tool

    try:
        get_tool(args.tool)
    except KeyError:
        raise commandline.UsageError(f"unknown tool {args.tool!r}; `{PROG} tools` lists them") from None
    arguments = parse_arguments(args.arguments)
    settings = commandline.load_settings()
    commandline.setup_logging("warning", settings)
    try:
        data = asyncio.run(call_tool(args.tool, arguments, settings, force_sandbox=args.sandbox))
    except ToolError as exc:
        # For scripts, the error as data on stdout (its kind, the fields it names); for people, the line.
        print(json.dumps({"error": exc.to_data()}, indent=2, ensure_ascii=False))
        raise commandline.CommandError(exc.message) from None
    print(json.dumps(data, indent=2, ensure_ascii=False))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "tools":
        try:
            list_tools(args.json)
            sys.stdout.flush()
        except BrokenPipeError:  # `uc-workflow tools | head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    return commandline.run_command(PROG, lambda: call(args))
