"""Webhook mode (issue 18): Telegram posts updates to the bot instead of the bot polling.
The local Bot API server delivers them like Telegram (retrying until it gets a 200), the
bot answers 200 only after the update is in the inbox, and a post without the right
secret header is refused and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.state.models import Answer, Inbox
from bot.telegram.app import webhook_secret
from tests.harness import Harness, free_port, running, texts

SECRET = "test-secret_123"



@pytest.fixture
async def hw(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    port = free_port()
    async with running(db_url, tmp_path, webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
                       webhook_listen="127.0.0.1", webhook_port=port,
                       webhook_secret=SECRET) as h:
        yield h


async def test_updates_come_over_the_webhook_and_each_is_handled_once(hw: Harness) -> None:
    h = hw
    assert h.server.webhook_url == h.settings.webhook_url
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    out = await h.say(sam, "Ik kan goed tekenen")
    assert "Dank je" in texts(out)
    (answer,) = await h.rows(Answer)
    assert answer.text == "Ik kan goed tekenen"
    assert h.server.call_count("getUpdates") == 0, "no polling beside the webhook"
    handled = await h.rows(Inbox)
    assert len(handled) == 3 and {row.state for row in handled} == {"done"}


@pytest.mark.parametrize("header", [None, "wrong-secret"])
async def test_a_post_without_the_right_secret_is_refused(hw: Harness,
                                                          header: str | None) -> None:
    h = hw
    forged = {"update_id": 990001, "message": {
        "message_id": 1, "date": 1_700_000_000, "text": "Ik ben iemand anders",
        "chat": {"id": 4242, "type": "private"},
        "from": {"id": 4242, "is_bot": False, "first_name": "Mallory"}}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header else {}
    async with aiohttp.ClientSession() as http, http.post(
            h.settings.webhook_url, json=forged, headers=headers) as response:
        assert response.status == 403
    assert await h.rows(Inbox) == []
    assert await h.rows(Answer) == []


def test_without_a_secret_every_process_derives_the_same_one(tmp_path: Path) -> None:
    from bot.settings import load_settings

    one, two = (load_settings(_env_file=None, telegram_bot_token=token,
                              data_dir=tmp_path) for token in ("1:AAA", "1:AAA"))
    other = load_settings(_env_file=None, telegram_bot_token="2:BBB", data_dir=tmp_path)
    assert webhook_secret(one) == webhook_secret(two) != webhook_secret(other)
    assert "AAA" not in webhook_secret(one)
