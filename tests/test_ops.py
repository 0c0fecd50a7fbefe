"""The operator's view (issue 18): /healthz, /readyz and /metrics on the ops port, and
JSON log lines."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops import metrics
from bot.ops.http import readiness
from bot.ops.jsonlog import JsonFormatter
from bot.state.models import Inbox
from bot.telegram.app import keep_content_out_of_logs
from tests.fake_gtts import FakeGtts
from tests.harness import Harness, free_port, harness


@pytest.fixture
async def ho(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(db_url, tmp_path) as h:
        h.settings = h.settings.model_copy(update={"ops_port": free_port()})
        await h.start_bot(with_media=False)
        yield h


async def get(h: Harness, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{h.settings.ops_port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def samples(body: str) -> dict[str, float]:
    return {s.name: s.value for family in text_string_to_metric_families(body)
            for s in family.samples if not s.labels}


async def test_health_readiness_and_metrics_after_a_few_messages(ho: Harness) -> None:
    h = ho
    before = samples((await get(h, "/metrics"))[1])
    person = await h.join(2001, "Sam")
    await h.say(person, "hallo")
    await h.say(person, "nog eens")
    assert await get(h, "/healthz") == (200, "ok\n")
    assert await get(h, "/readyz") == (200, "ready\n")
    status, body = await get(h, "/metrics")
    assert status == 200
    after = samples(body)
    handled = after["gespreksmaatje_updates_handled_total"] - before.get(
        "gespreksmaatje_updates_handled_total", 0)
    assert handled == 3  # /start and two messages
    observed = after["gespreksmaatje_update_handling_seconds_count"] - before.get(
        "gespreksmaatje_update_handling_seconds_count", 0)
    assert observed == 3
    assert after["gespreksmaatje_inbox_backlog"] == 0
    assert "gespreksmaatje_inbox_oldest_pending_seconds" in after
    assert after["gespreksmaatje_bot_api_calls_total"] > 0


async def test_not_ready_when_the_backlog_reaches_the_threshold(ho: Harness) -> None:
    h = ho
    await h.stop_bot()  # nobody handles the pending row
    async with h.store.unit() as unit:
        unit.session.add(Inbox(update_id=10**9, chat_id=1, payload={}, state="new"))
    assert await readiness(h.store, 0) == "inbox backlog 1 >= READY_MAX_BACKLOG 0"
    assert await readiness(h.store, 5) is None


async def test_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    from bot.state.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'db.sqlite'}")  # no such folder
    try:
        reason = await readiness(store, 100)
    finally:
        await store.close()
    assert reason is not None and reason.startswith("database unreachable")


def test_json_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("gespreksmaatje", logging.ERROR, __file__, 1,
                               "update=%d failed\nsecond line", (7,), None)
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR" and parsed["logger"] == "gespreksmaatje"
    assert parsed["message"] == "update=7 failed\nsecond line"
    assert "ValueError: boom" in parsed["exception"]
    assert set(parsed) == {"time", "level", "logger", "message", "exception"}


def test_json_logs_keep_the_content_filter(caplog: pytest.LogCaptureFixture) -> None:
    """The filters rewrite the record on the logger; the JSON formatter sees only that."""
    keep_content_out_of_logs()
    secret = "Mijn geheim: ik ben bang in het donker"
    caplog.handler.setFormatter(JsonFormatter())
    batch = [{"update_id": 1, "message": {"text": secret}}]
    with caplog.at_level(logging.CRITICAL, logger="telegram.Bot"):
        logging.getLogger("telegram.Bot").critical(
            "Error while parsing updates! Received data was %r", batch)
    assert "Error while parsing updates!" in caplog.text
    assert secret not in caplog.text
    for line in caplog.text.splitlines():
        json.loads(line)


def test_metrics_have_their_own_registry() -> None:
    from prometheus_client import REGISTRY

    assert metrics.REGISTRY is not REGISTRY


async def test_picto_and_speech_cache_hits_are_exported(db_url: str, tmp_path: Path,
                                                         fake_gtts: FakeGtts) -> None:
    """The first client's question card is uploaded, the second's is sent by the file id
    Telegram has (a hit); the voice clips are counted by how the speech cache served them."""
    async with harness(db_url, tmp_path) as h:
        h.settings = h.settings.model_copy(update={"ops_port": free_port(),
                                                   "speech_enabled": True,
                                                   "gtts_base_url": fake_gtts.url})
        await h.start_bot()
        before = labelled((await get(h, "/metrics"))[1])
        for user_id, name in ((1001, "Sam"), (1002, "Noor")):
            person = await h.join(user_id, name)
            await h.tap(person, "➡️ Beginnen")
        after = labelled((await get(h, "/metrics"))[1])

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("gespreksmaatje_media_sent_total", kind="picto", how="upload") >= 1
    assert grew("gespreksmaatje_media_sent_total", kind="picto", how="file_id") >= 1
    assert grew("gespreksmaatje_media_sent_total", kind="speech", how="file_id") >= 1
    assert grew("gespreksmaatje_speech_clips_total", result="hit") >= 1
    assert fake_gtts.texts, "the clips came from the fake gTTS on localhost"


def labelled(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}
