"""docs/ARCHITECTURE.md stays true: every product module is named there, and every module it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("shared_client", "server", "slack_bot")


def _modules() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name not in {"__init__.py", "__main__.py"} and "__pycache__" not in path.parts:
                found.add(path.name)
    return found


def _named() -> set[str]:
    return set(re.findall(r"([a-z_]+\.py)\b", PAGE.read_text(encoding="utf-8")))


def test_every_module_is_named() -> None:
    assert not _modules() - _named(), "modules the architecture page does not mention"


def test_every_module_named_exists() -> None:
    assert not _named() - _modules() - {"__init__.py"}, "modules the page names that do not exist"
