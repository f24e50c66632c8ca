"""`uc-workflow-sandbox`: the sandbox over HTTP (uvicorn), logging to stderr."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from shared_client.commandline import (
    CommandParser,
    UsageError,
    add_listen_options,
    add_log_level_option,
    command_parser,
    load_settings,
    number_in_range,
    parsed_by,
    run_command,
    setup_logging,
)

from .config import DEFAULT_RATE_LIMIT, FAULT_KINDS, SandboxConfig, parse_rate_limit

PROG = "uc-workflow-sandbox"


def parse_fault_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown or not kinds:
        raise ValueError(f"fault kinds must be a comma list of {','.join(FAULT_KINDS)}")
    return kinds


RATE_HELP = "'none' or N/unit[,N/unit] with unit second|minute|hour|day (default 1000/hour,10000/day)"
KINDS_HELP = "comma list of 429,500,503,reset,timeout (reset and timeout strike after the commit)"


def build_parser() -> CommandParser:
    parser = command_parser(
        PROG,
        "A local emulator of UltraCart's Workflow API, backed by SQLite. "
        "Point any UltraCart client at http://HOST:PORT/rest/v2.",
    )
    add_listen_options(parser, port=8765, port_help="TCP port (default 8765; 0 picks a free one)")
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="PATH",
        help="SQLite file (default: UC_WORKFLOW_SANDBOX_DB, else sandbox.sqlite3 in the user data directory)",
    )
    parser.add_argument("--reset", action="store_true", help="wipe the database and reseed the demo account")
    seconds, share, count = (
        number_in_range(float, 0.0),
        number_in_range(float, 0.0, 1.0),
        number_in_range(int, 0),
    )
    rates, kinds = parsed_by(parse_rate_limit), parsed_by(parse_fault_kinds)

    limits = parser.add_argument_group("UltraCart's limits (on by default)")
    limits.add_argument(
        "--rate-limit", type=rates, default=DEFAULT_RATE_LIMIT, metavar="TEXT", help=RATE_HELP
    )
    limits.add_argument(
        "--allow-concurrent", action="store_true", help="no 429 for concurrent requests of a key"
    )

    faults = parser.add_argument_group("faults on demand")
    faults.add_argument(
        "--latency", type=seconds, default=0.0, metavar="SECONDS", help="added to each request"
    )
    faults.add_argument(
        "--fault-rate", type=share, default=0.0, metavar="FRACTION", help="share of requests that fail"
    )
    faults.add_argument("--fault-kinds", type=kinds, default=FAULT_KINDS, metavar="KINDS", help=KINDS_HELP)
    faults.add_argument(
        "--fault-timeout",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long a timeout fault hangs",
    )
    faults.add_argument("--seed", type=int, default=None, metavar="N", help="random seed for fault injection")

    parser.add_argument(
        "--seed-tasks", type=count, default=0, metavar="N", help="extra tasks for scale tests"
    )
    add_log_level_option(parser, default="info")
    return parser


def serve(args: argparse.Namespace) -> None:
    settings = load_settings()
    setup_logging(args.log_level, settings)
    log = logging.getLogger("uc_workflow.sandbox")
    try:
        config = SandboxConfig(
            db_path=args.db or settings.sandbox_db_path,
            reset=args.reset,
            rate_limit=args.rate_limit,
            allow_concurrent=args.allow_concurrent,
            latency=args.latency,
            fault_rate=args.fault_rate,
            fault_kinds=args.fault_kinds,
            fault_timeout=args.fault_timeout,
            seed=args.seed,
            seed_tasks=args.seed_tasks,
        )
        from .app import create_app

        app = create_app(config)
    except Exception as exc:  # one clear line, no traceback, for a misconfiguration
        raise UsageError(str(exc)) from None

    import uvicorn

    log.info("sandbox database %s", config.resolved_db_path())
    log.info("UltraCart Workflow API at http://%s:%s/rest/v2", args.host, args.port or "<free port>")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(PROG, lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())
