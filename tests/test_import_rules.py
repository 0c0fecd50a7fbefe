"""The arrows of ARCHITECTURE.md: which package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package folder → prefixes it must never import
FORBIDDEN = {
    "bot/dialogs": ("telegram", "sqlalchemy", "bot.state", "bot.telegram", "bot.agenda",
                    "bot.service", "bot.schedule", "bot.ops", "voice"),
    "bot/state": ("bot.dialogs", "bot.telegram", "bot.agenda", "bot.service", "bot.schedule",
                  "telegram", "voice", "pictos"),
    # The service talks to the database only through bot/state's unit of work.
    "bot/service": ("telegram", "sqlalchemy", "bot.telegram", "bot.ops"),
    # Operators' view: it reads the store and counts; it never drives a conversation.
    "bot/ops": ("telegram", "sqlalchemy", "bot.telegram", "bot.dialogs", "bot.service"),
    "bot/telegram": ("sqlalchemy", "bot.state.unit", "bot.state.models"),
    "bot/schedule": ("sqlalchemy", "telegram", "bot.telegram", "bot.service"),
    "bot/agenda": ("telegram", "sqlalchemy", "bot.telegram", "bot.service"),
    "voice": ("bot", "telegram", "pictos"),
    "pictos": ("bot", "telegram", "voice"),
}


def imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved (`from ..state import x` in
    bot/service/client.py is bot.state), imports under TYPE_CHECKING included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            # `from bot import access` imports bot.access
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    """The rule also sees `from ..state import unit` (it once looked at absolute imports
    only)."""
    folder = ROOT / "bot" / "service"
    probe = folder / "_probe_for_import_rules.py"
    probe.write_text("from ..state import unit\nfrom . import kernel\n", encoding="utf-8")
    try:
        found = imports(probe)
    finally:
        probe.unlink()
    assert {"bot.state.unit", "bot.service.kernel"} <= found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imports(path):
            if any(name == p or name.startswith(p + ".") for p in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []
