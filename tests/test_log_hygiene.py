"""A person's words never reach the logs through an error (issue 17, secrets and logs): a
database error names the statement without its values, and python-telegram-bot's dump of
an unparsable getUpdates batch keeps its line but not the batch."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.state.migrate import upgrade
from bot.state.store import Store
from bot.telegram.app import keep_content_out_of_logs

SECRET = "Mijn geheim: ik ben bang in het donker"


async def test_a_database_error_does_not_carry_the_values(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await upgrade(url)
    store = Store(url)
    try:
        with pytest.raises(IntegrityError) as caught:
            async with store.unit() as unit:  # no such client: the foreign key refuses
                await unit.session.execute(text(
                    "INSERT INTO answer (client_id, step, item, part, kind, text, created_at)"
                    " VALUES (999, 'good_at', 1, 1, 'text', :words, '2026-01-01')"),
                    {"words": SECRET})
        assert SECRET not in str(caught.value)
        assert "hidden" in str(caught.value)  # SQLAlchemy says what it left out
    finally:
        await store.close()


def test_an_unparsable_update_batch_is_logged_without_its_content(
        caplog: pytest.LogCaptureFixture) -> None:
    keep_content_out_of_logs()
    keep_content_out_of_logs()  # once is enough: a second call adds nothing
    logger = logging.getLogger("telegram.Bot")
    assert sum(type(f).__name__ == "NoUpdateContent" for f in logger.filters) == 1
    batch = [{"update_id": 1, "message": {"text": SECRET}}, {"update_id": 2}]
    with caplog.at_level(logging.CRITICAL, logger="telegram.Bot"):
        # The very call python-telegram-bot makes (telegram/_bot.py, get_updates).
        logger.critical("Error while parsing updates! Received data was %r", batch)
    assert "Error while parsing updates!" in caplog.text
    assert SECRET not in caplog.text and "<2 updates, content not logged>" in caplog.text
