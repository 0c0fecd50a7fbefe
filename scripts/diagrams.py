"""Write the Mermaid diagram of every flow to docs/ (generated from the machines)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.dialogs import admin, begeleider, client_prep, naaste  # noqa: E402

FLOWS = {"client_prep": client_prep.FLOW, "begeleider": begeleider.FLOW,
         "naaste": naaste.FLOW, "admin": admin.FLOW}


def main() -> None:
    for name, flow in FLOWS.items():
        (ROOT / "docs" / f"{name}.mmd").write_text(flow.mermaid(), encoding="utf-8")


if __name__ == "__main__":
    main()
