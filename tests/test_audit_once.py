"""Every read of a client's data is logged once: a screen that is checked, built and shown in
one update is one read per client and part, not two (issue 14: /clienten with three clients
wrote six rows, a stray text six more)."""

from __future__ import annotations

from collections import Counter

from bot.state.models import AuditLog
from tests.harness import Harness
from tests.test_triangle import admin_and_begeleider, new_client


async def test_the_begeleiders_screen_is_one_read_per_client(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    for number, name in enumerate(["Sam", "Noor", "Lies"]):
        await new_client(h, bram, name, 1001 + number)
    before = len(await h.rows(AuditLog))
    await h.act(bram, bram.send_command("/clienten"))
    rows = (await h.rows(AuditLog))[before:]
    assert Counter((r.client_id, r.part) for r in rows) == Counter(
        {(r.client_id, "progress"): 1 for r in rows})
    assert len(rows) == 3
    before = len(await h.rows(AuditLog))
    await h.say(bram, "hallo?")  # a stray text shows the screen again: one read each
    assert len(await h.rows(AuditLog)) - before == 3
    before = len(await h.rows(AuditLog))
    await h.tap(bram, "Sam")  # checked (may Bram open Sam?) and shown: still one row each
    rows = (await h.rows(AuditLog))[before:]
    assert len(rows) == len({(r.client_id, r.part, r.allowed) for r in rows})
