"""The README's tool reference, generated from the registry so it cannot drift.

``python -m shared_client.docs`` prints the table; ``--write README.md`` rewrites the block between
``<!-- tools:start -->`` and ``<!-- tools:end -->``; ``--check README.md`` exits 1 when that block is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from shared_client.tools import ALL_TOOLS, Tool

START_MARKER = "<!-- tools:start -->"
END_MARKER = "<!-- tools:end -->"
DEFAULT_README = "README.md"

# A sentence ends at . ! or ? followed by whitespace or the end, except after common abbreviations.
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)[.!?](?=\s|$)")


class MarkersError(ValueError):
    """The file lacks the start/end markers (or has them in the wrong order)."""


def first_sentence(text: str) -> str:
    """The description's first sentence, on one line, ending with its full stop."""
    flat = " ".join(text.split())
    match = _SENTENCE_END.search(flat)
    return flat[: match.end()] if match else flat


def _cell(text: str) -> str:
    """Markdown-table-safe: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def render_tool_table(tools: Iterable[Tool] | None = None) -> str:  # type: ignore[type-arg]
    """A Markdown table of every registry tool (in registry order), ending with a newline."""
    rows = [
        "| tool | toolset | read-only | title | summary |",
        "|---|---|---|---|---|",
    ]
    for tool in ALL_TOOLS if tools is None else tools:
        rows.append(
            f"| `{tool.name}` | {tool.toolset} | {'yes' if tool.read_only else 'no'} | "
            f"{_cell(tool.title)} | {_cell(first_sentence(tool.description))} |"
        )
    return "\n".join(rows) + "\n"


def _block_span(text: str) -> tuple[int, int]:
    """Where the generated block sits: from just after the start marker's line to the end marker."""
    start = text.find(START_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise MarkersError(f"expected {START_MARKER} ... {END_MARKER} in that order")
    body_start = text.find("\n", start)
    body_start = len(text) if body_start < 0 or body_start > end else body_start + 1
    return body_start, end


def extract_block(text: str) -> str:
    """The text currently between the markers (what ``--write`` would replace)."""
    body_start, end = _block_span(text)
    return text[body_start:end]


def replace_block(text: str, table: str | None = None) -> str:
    """``text`` with the block between the markers replaced by the current table."""
    body_start, end = _block_span(text)
    prefix = text[:body_start]
    if not prefix.endswith("\n"):
        prefix += "\n"
    return prefix + (table if table is not None else render_tool_table()) + text[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared_client.docs",
        description="Render the tool reference table from the registry (and keep README.md's copy fresh).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--write",
        metavar="PATH",
        nargs="?",
        const=DEFAULT_README,
        help=f"rewrite the block between {START_MARKER} and {END_MARKER} in PATH (default README.md)",
    )
    mode.add_argument(
        "--check",
        metavar="PATH",
        nargs="?",
        const=DEFAULT_README,
        help="exit 1 when PATH's block differs from the registry (default README.md)",
    )
    args = parser.parse_args(argv)

    if args.write is None and args.check is None:
        sys.stdout.write(render_tool_table())
        return 0

    path = Path(args.write if args.write is not None else args.check)
    try:
        text = path.read_text(encoding="utf-8")
        updated = replace_block(text)
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except MarkersError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2

    if args.check is not None:
        if updated != text:
            print(
                f"{path}: the tool table is stale; run: python -m shared_client.docs --write {path}",
                file=sys.stderr,
            )
            return 1
        print(f"{path}: the tool table is up to date", file=sys.stderr)
        return 0

    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: tool table updated", file=sys.stderr)
    else:
        print(f"{path}: tool table already up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
