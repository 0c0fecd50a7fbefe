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


# --- a whole run, failures included ------------------------------------------------------

RUN_SECRETS = ("Zilvermeeuw op dinsdag", "Paarse olifant thuis", "Vergadering over Kwispel",
               "Dagbesteding bij Wolkenkrabber")


def _everything(record: logging.LogRecord) -> str:
    """All a record puts in a log: its message with its arguments, and its exception as a
    formatter writes it (the filters leave a traceback without the error's message)."""
    return "\n".join([str(record.msg), repr(record.args),
                      logging.Formatter().format(record)])


class _All(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_whole_run_logs_no_content(db_url: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import harness
    from tests.fake_gtts import FakeGtts
    from tests.harness import texts
    from tests.test_triangle import admin_and_begeleider, invite_naaste, new_client, share

    catch = _All()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    old_root = root.level
    root.addHandler(catch)
    root.setLevel(logging.DEBUG)
    for name in levels:  # every logger, also those set quieter elsewhere
        logging.getLogger(name).setLevel(logging.NOTSET)
    fake = FakeGtts().start()
    try:
        async with harness(db_url, tmp_path) as h:
            h.settings = h.settings.model_copy(update={"speech_enabled": True,
                                                       "gtts_base_url": fake.url})
            await h.start_bot()
            for name in logging.root.manager.loggerDict:  # loggers made at start-up too
                logger = logging.getLogger(name)
                if logger.level > logging.DEBUG:
                    levels.setdefault(name, logger.level)
                    logger.setLevel(logging.NOTSET)
            _fatima, bram = await admin_and_begeleider(h)
            sam = await new_client(h, bram, "Sam", 1001)
            await h.tap(sam, "➡️ Beginnen")
            await h.say(sam, RUN_SECRETS[0])
            await h.act(sam, sam.send_voice(b"OggS" + bytes(range(256)) * 4, duration=3))
            await h.say(sam, "/lijst")
            anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
            await share(h, sam, "Anja (Ouder)", "Alleen mijn onderwerpen")
            await h.act(anja, anja.send_command("/start"))
            await h.tap(anja, "➕ Onderwerp")
            await h.say(anja, RUN_SECRETS[1])
            await h.act(bram, bram.send_command("/clienten"))
            await h.tap(bram, "Sam")
            await h.tap(bram, "➕ Eigen onderwerp")
            await h.say(bram, RUN_SECRETS[3])
            agenda = texts(await h.tap(bram, "📋 Agenda"))
            assert RUN_SECRETS[1] in agenda and RUN_SECRETS[3] in agenda, agenda
            out = await h.tap(bram, "📄 PDF en export")
            assert sum(m.kind == "document" for m in out) == 4

            # Failures: a bug that quotes the input, a database error with the words
            # bound, a Bot API error while the answer goes out.
            assert h.runner is not None
            service = h.runner.service
            real = service.handle

            async def buggy(incoming: object) -> object:
                raise ValueError(f"cannot handle {RUN_SECRETS[2]!r}")

            monkeypatch.setattr(service, "handle", buggy)
            await h.say(sam, RUN_SECRETS[2])

            async def db_error(incoming: object) -> object:
                async with h.store.unit() as unit:
                    await unit.session.execute(text(
                        "INSERT INTO answer (client_id, step, item, part, kind, text,"
                        " created_at) VALUES (999, 'good_at', 1, 1, 'text', :w, '2026-01-01')"),
                        {"w": RUN_SECRETS[2]})
                return await real(incoming)  # type: ignore[arg-type]

            monkeypatch.setattr(service, "handle", db_error)
            await h.say(sam, RUN_SECRETS[2])
            monkeypatch.setattr(service, "handle", real)
            h.server.fail_next("sendMessage", times=3, error_code=400,
                               description="Bad Request: message is too long")
            h.server.fail_next("sendPhoto", times=3, error_code=400,
                               description="Bad Request: wrong file")
            await h.say(sam, RUN_SECRETS[2])
            await h.say(sam, "/lijst")
    finally:
        fake.stop()
        root.removeHandler(catch)
        root.setLevel(old_root)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert len(catch.records) > 50, "the run was logged"
    assert any(r.levelno >= logging.ERROR for r in catch.records), "the failures were logged"
    for record in catch.records:
        logged = _everything(record)
        for secret in RUN_SECRETS:
            assert secret not in logged, f"{record.name}: {logged[:600]}"
