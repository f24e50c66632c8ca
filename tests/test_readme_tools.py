"""README.md's tool reference is generated from the registry: this fails when it is stale
(fix: ``python -m shared_client.docs --write README.md``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared_client.docs import (
    END_MARKER,
    START_MARKER,
    extract_block,
    first_sentence,
    main,
    render_tool_table,
    replace_block,
)
from shared_client.tools import ALL_TOOLS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_tool_table_is_current() -> None:
    assert README.is_file(), "README.md is missing at the repository root"
    text = README.read_text(encoding="utf-8")
    assert START_MARKER in text and END_MARKER in text, "README.md lacks the tool table markers"
    assert extract_block(text) == render_tool_table(), (
        "README.md's tool table is stale: run `python -m shared_client.docs --write README.md`"
    )


def test_table_lists_every_tool_once_with_its_facts() -> None:
    table = render_tool_table()
    lines = table.splitlines()
    assert lines[0] == "| tool | toolset | read-only | title | summary |"
    rows = lines[2:]
    assert len(rows) == len(ALL_TOOLS)
    for tool, row in zip(ALL_TOOLS, rows, strict=True):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[0] == f"`{tool.name}`"
        assert cells[1] == tool.toolset
        assert cells[2] == ("yes" if tool.read_only else "no")
        assert cells[3] == tool.title
        assert cells[4] and tool.description.startswith(cells[4][:20])
        assert "\n" not in cells[4]


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("Find tasks. Filters combine.", "Find tasks."),
        ("List groups, e.g. 'Customer Service'. Optional query.", "List groups, e.g. 'Customer Service'."),
        ("Upload (i.e. attach) a file.  More.", "Upload (i.e. attach) a file."),
        ("Ends without a stop", "Ends without a stop"),
        ("Spread\n  over lines. Next.", "Spread over lines."),
        ("Version 1.5 is fine. Next.", "Version 1.5 is fine."),
    ],
)
def test_first_sentence(text: str, sentence: str) -> None:
    assert first_sentence(text) == sentence


def test_pipes_are_escaped() -> None:
    tool = ALL_TOOLS[0]
    from dataclasses import replace

    piped = replace(tool, title="A | B", description="Does x | y. More.")
    row = render_tool_table([piped]).splitlines()[2]
    assert "A \\| B" in row and "Does x \\| y." in row


def _readme(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "README.md"
    path.write_text(
        f"# Title\n\nIntro.\n\n{START_MARKER}\n{block}{END_MARKER}\n\n## After\n", encoding="utf-8"
    )
    return path


def test_write_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _readme(tmp_path, "old table\n")
    assert main(["--check", str(path)]) == 1
    assert "stale" in capsys.readouterr().err
    assert main(["--write", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert extract_block(text) == render_tool_table()
    assert text.startswith("# Title\n\nIntro.\n\n") and text.endswith(f"{END_MARKER}\n\n## After\n")
    assert main(["--check", str(path)]) == 0
    assert main(["--write", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == text, "--write is idempotent"


def test_markers_on_adjacent_lines(tmp_path: Path) -> None:
    path = _readme(tmp_path, "")
    assert main(["--write", str(path)]) == 0
    assert extract_block(path.read_text(encoding="utf-8")) == render_tool_table()


def test_replace_block_keeps_the_rest() -> None:
    text = f"a\n{START_MARKER}\nx\n{END_MARKER}\nb\n"
    assert replace_block(text, "T\n") == f"a\n{START_MARKER}\nT\n{END_MARKER}\nb\n"


@pytest.mark.parametrize(
    "content", ["# no markers\n", f"{END_MARKER}\n{START_MARKER}\n", f"{START_MARKER}\nonly start\n"]
)
def test_missing_or_misordered_markers(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "README.md"
    path.write_text(content, encoding="utf-8")
    assert main(["--check", str(path)]) == 2
    assert main(["--write", str(path)]) == 2
    assert path.read_text(encoding="utf-8") == content
    assert "tools:start" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(tmp_path / "nope.md")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_prints_the_table_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out == render_tool_table()


def test_module_entry_point(tmp_path: Path) -> None:
    path = _readme(tmp_path, "stale\n")
    run = subprocess.run(
        [sys.executable, "-m", "shared_client.docs", "--check", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 1 and "--write" in run.stderr and run.stdout == ""
