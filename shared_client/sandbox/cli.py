"""`uc-workflow-sandbox`: the sandbox over HTTP (uvicorn), logging to stderr."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import NoReturn

from .config import DEFAULT_RATE_LIMIT, FAULT_KINDS, SandboxConfig, default_db_path, parse_rate_limit


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"fault kinds must be a comma list of {','.join(FAULT_KINDS)}")
    return kinds


def _rate(text: str) -> object:
    try:
        return parse_rate_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One clear line instead of usage plus error."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="uc-workflow-sandbox",
        description="A local emulator of UltraCart's Workflow API, backed by SQLite. "
        "Point any UltraCart client at http://HOST:PORT/rest/v2.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8765, help="TCP port (default 8765; 0 picks a free one)"
    )
    parser.add_argument("--db", type=Path, default=None, help=f"SQLite file (default {default_db_path()})")
    parser.add_argument("--reset", action="store_true", help="wipe the database and reseed the demo account")
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        default=DEFAULT_RATE_LIMIT,
        metavar="TEXT",
        help="'none' or N/unit[,N/unit] with unit second|minute|hour|day (default 1000/hour,10000/day)",
    )
    parser.add_argument(
        "--allow-concurrent", action="store_true", help="do not answer 429 to concurrent requests of one key"
    )
    parser.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="SECONDS", help="added to each request"
    )
    parser.add_argument(
        "--fault-rate", type=_fraction, default=0.0, metavar="FRACTION", help="share of requests that fail"
    )
    parser.add_argument(
        "--fault-kinds",
        type=_kinds,
        default=FAULT_KINDS,
        metavar="KINDS",
        help="comma list of 429,500,503,reset,timeout (reset and timeout strike after the commit)",
    )
    parser.add_argument(
        "--fault-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long a timeout fault hangs",
    )
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="random seed for fault injection")
    parser.add_argument(
        "--seed-tasks", type=_count, default=0, metavar="N", help="extra synthetic tasks for scale tests"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("uc_workflow.sandbox")
    try:
        config = SandboxConfig(
            db_path=args.db,
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
        print(f"uc-workflow-sandbox: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    log.info("sandbox database %s", config.resolved_db_path())
    log.info("UltraCart Workflow API at http://%s:%s/rest/v2", args.host, args.port or "<free port>")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
