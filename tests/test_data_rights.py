"""The client's data and care-grade protection (issue 17), as far as it is built: start
links kept only as a hash."""

from __future__ import annotations

from sqlalchemy import text

from tests.harness import Harness, texts
from tests.test_triangle import start


async def test_a_start_link_is_kept_only_as_a_hash(h: Harness) -> None:
    token = await h.enrol("Sam")
    async with h.store.unit() as unit:
        stored = [row[0] for row in (await unit.session.execute(
            text("SELECT token FROM invite"))).all()]
    assert len(stored) == 1 and token not in stored[0]  # the database cannot open it
    sam = h.server.user(1001, first_name="Sam")
    out = await start(h, sam, token)
    assert "Hoi Sam" in texts(out)  # the link itself still works, once
    stranger = h.server.user(1002, first_name="Kim")
    out = await start(h, stranger, stored[0])  # the stored hash is no link
    assert "Deze link werkt niet." in texts(out)
