"""Effects more than one menu flow has (each role's own effects are in its dialog module).

An effect is a frozen dataclass the service applies (bot/service/<role>.py, with `match`);
ids are ints, read once from the button (`as_id`), and checked by the service against the person's
relations before anything happens.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditCsv:
    """Send the client's access log as a CSV file (begeleider, admin)."""

    client_id: int
