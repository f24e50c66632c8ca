"""What the four console scripts share: the argument parser (a usage error is one line), the options
they have in common (``--sandbox``, ``--log-level``, ``--host``/``--port``), reading the settings (a bad
setting is one line naming it, never its value), logging to stderr with every secret redacted, and the
exit codes.

    parser = command_parser("uc-workflow-mcp", "MCP server for ...")
    add_sandbox_option(parser)
    add_log_level_option(parser, default="warning")
    args = parser.parse_args(argv)
    return run_command("uc-workflow-mcp", lambda: serve(args))

Usage errors exit 2 (argparse's code); so do ``UsageError`` (a bad option value, a bad setting) and
``ConfigurationError`` (a setting that cannot work). A ``CommandError`` carries its own code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

from shared_client.logs import configure_logging
from shared_client.settings import ConfigurationError, Settings

T = TypeVar("T")
N = TypeVar("N", int, float)

USAGE_EXIT = 2
LOOPBACK = "127.0.0.1"
LOG_LEVELS = ("debug", "info", "warning", "error")
SANDBOX_HELP = "use the local sandbox even when UltraCart credentials are set"


class CommandError(Exception):
    """The command stops: its message is one line on stderr, and the process exits with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CommandError):
    """Misused or misconfigured (an option's value, a setting): one line on stderr, exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE_EXIT)


class CommandParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line: ``PROG: message (see --help)``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT, f"{self.prog}: {message} (see --help)\n")


def command_parser(prog: str, description: str) -> CommandParser:
    return CommandParser(prog=prog, description=description)


# --------------------------------------------------------------------------- the common options


def add_sandbox_option(parser: argparse.ArgumentParser, *, on_subcommand: bool = False) -> None:
    """``--sandbox``. ``on_subcommand``: repeated on a subcommand, so it may follow the subcommand's
    arguments too; it then leaves a ``--sandbox`` given before the subcommand alone."""
    default: Any = argparse.SUPPRESS if on_subcommand else False
    parser.add_argument("--sandbox", action="store_true", default=default, help=SANDBOX_HELP)


def add_log_level_option(parser: argparse.ArgumentParser, *, default: str) -> None:
    """``--log-level``, in any case (``INFO`` or ``info``); the value is lower case."""
    parser.add_argument(
        "--log-level",
        default=default,
        type=str.lower,
        choices=LOG_LEVELS,
        help=f"stderr log level (default {default})",
    )


def add_listen_options(parser: argparse.ArgumentParser, *, port: int, port_help: str) -> None:
    """``--host`` (default loopback) and ``--port``."""
    parser.add_argument("--host", default=LOOPBACK, help=f"address to bind (default {LOOPBACK})")
    parser.add_argument("--port", type=number_in_range(int, 0, 65535), default=port, help=port_help)


def parsed_by(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser whose ValueError message is fit for the user (argparse would
    otherwise replace it with "invalid value")."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def number_in_range(kind: type[N], low: N | None = None, high: N | None = None) -> Callable[[str], N]:
    """An argparse type: an ``int`` or a ``float`` within ``low``..``high`` (either may be open)."""
    noun = "an integer" if kind is int else "a number"
    if low is not None and high is not None:
        bounds = f"between {low:g} and {high:g}"
    elif low is not None:
        bounds = f">= {low:g}"
    elif high is not None:
        bounds = f"<= {high:g}"
    else:
        bounds = "any"

    def convert(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {noun}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{text!r} must be {bounds}")
        return value

    return parsed_by(convert)


# --------------------------------------------------------------------------- settings, logging, exit codes


def bad_setting_message(error: ValidationError) -> str:
    """``setting NAME: what is wrong``, from the first error; pydantic's message never holds the value."""
    first = error.errors()[0]
    name = ".".join(str(part) for part in first.get("loc", ())).upper()
    return f"setting {name}: {str(first.get('msg')).removeprefix('Value error, ')}"


def load_settings() -> Settings:
    """The settings from the environment and ``.env``; UsageError naming the first bad one."""
    try:
        return Settings()
    except ValidationError as exc:
        raise UsageError(bad_setting_message(exc)) from None


def setup_logging(level: str, settings: Settings | None = None) -> None:
    """Every log line to stderr (never stdout: the stdio MCP transport owns it), with the settings'
    secrets redacted."""
    configure_logging(level, settings.secrets() if settings is not None else ())


def report(prog: str, message: str) -> None:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


def run_command(prog: str, command: Callable[[], int | None]) -> int:
    """Run a command's body and return the process's exit code: 0, or that of the error that stopped it,
    reported as one line on stderr."""
    try:
        return command() or 0
    except CommandError as exc:
        report(prog, str(exc))
        return exc.code
    except ConfigurationError as exc:
        report(prog, str(exc))
        return USAGE_EXIT
