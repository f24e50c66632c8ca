"""Every tool's input and output JSON schema, as the MCP server publishes them, committed in
``schemas.json`` beside this file.

Two reasons for one committed file: a schema change shows in review, and a server starts without asking
pydantic for 26 schemas (about 55 ms, a tenth of a cold start). The suite fails when the file and the
models disagree; after an intended change run ``python -m shared_client.tools.schemas --write``.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

from shared_client.tools.base import Tool

SCHEMAS_FILE = Path(__file__).with_name("schemas.json")
Schemas = dict[str, dict[str, dict[str, Any]]]


def generate(tools: tuple[Tool[Any, Any], ...]) -> Schemas:
    """The schemas as the models say, now: ``{tool: {"input": ..., "output": ...}}``."""
    return {
        tool.name: {
            "input": tool.input_model.model_json_schema(),
            "output": tool.output_model.model_json_schema(mode="serialization"),
        }
        for tool in sorted(tools, key=lambda t: t.name)
    }


def render(schemas: Schemas) -> str:
    return json.dumps(schemas, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@functools.cache
def _committed() -> Schemas:
    try:
        loaded: Schemas = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return loaded


def schemas_of(tool: Tool[Any, Any]) -> dict[str, dict[str, Any]]:
    """The committed schemas of a tool; a tool not in the file yet (being written) is generated."""
    return _committed().get(tool.name) or generate((tool,))[tool.name]


def main(argv: list[str] | None = None) -> int:
    from shared_client.tools import ALL_TOOLS

    args = sys.argv[1:] if argv is None else argv
    text = render(generate(ALL_TOOLS))
    if args == ["--write"]:
        SCHEMAS_FILE.write_text(text, encoding="utf-8")
        return 0
    if args == ["--check"]:
        return 0 if SCHEMAS_FILE.is_file() and SCHEMAS_FILE.read_text(encoding="utf-8") == text else 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
