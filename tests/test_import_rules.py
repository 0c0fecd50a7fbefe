"""The arrows of ARCHITECTURE.md: which package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package folder → prefixes it must never import
FORBIDDEN = {
    "bot/dialogs": ("telegram", "sqlalchemy", "bot.state", "bot.telegram", "bot.agenda",
                    "bot.access", "bot.conversation", "bot.roles", "voice"),
    "bot/state": ("bot.dialogs", "bot.telegram", "bot.agenda", "bot.access", "bot.conversation",
                  "bot.roles", "telegram", "voice", "pictos"),
    "bot/agenda": ("telegram", "bot.telegram", "bot.conversation"),
    "voice": ("bot", "telegram", "pictos"),
    "pictos": ("bot", "telegram", "voice"),
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imports(path):
            if any(name == p or name.startswith(p + ".") for p in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []
