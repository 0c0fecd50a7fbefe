"""An organisation's own look (issue 18): the operator gives one organisation its own picto
manifest and its own wording of some texts (`python -m bot organisation set --pictos
--texts`) while the bot runs. Its people see them; the people of the other organisation in
the same deployment do not. A change reaches the bot within a minute of its clock, a bad
file is refused in one line and changes nothing, and a manifest that disappears later
leaves the organisation with the deployment's pictures, not with a broken bot."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

from bot.__main__ import _organisation_set
from bot.clock import FakeClock
from bot.dialogs import picto_mat
from bot.dialogs.look import current, deployment, wearing
from bot.dialogs.texts import t
from bot.service.looks import LOOK_SECONDS, Looks
from bot.state.models import Organisation
from bot.telegram.app import BotRunner
from bot.telegram.media import build_media
from localbotapi.server import BotMessage, UserHandle
from pictos import PictoLibrary
from tests.harness import Harness, harness, labels, texts
from tests.test_operator_errors import one_clear_line, run_bot

OWN_WELCOME = "Je persoonlijk begeleider van De Horst kan lezen wat je hier vertelt."
BOT_WELCOME = "Je begeleider kan lezen wat je hier vertelt."
OWN_RESUME = "Fijn dat je er weer bent. We gaan verder waar je was."
BOT_RESUME = "Je bent al aangemeld. We gaan verder waar je was."


@pytest.fixture
async def hc(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Harness, FakeClock]]:
    async with harness(db_url, tmp_path) as h:
        clock = FakeClock(datetime.now(UTC))
        h.runner = BotRunner(h.settings, h.store, media=build_media(h.settings, h.store),
                             poll_timeout=1, clock=clock, schedule_every=0)
        await h.start_bot(runner=h.runner)
        yield h, clock


def west_files(folder: Path) -> tuple[Path, Path]:
    """De Horst's picto manifest (its own photo for "good at", a good day with a photo of
    the day centre) and its own wording of the welcome's line about the begeleider."""
    Image.new("RGB", (300, 200), (20, 90, 160)).save(folder / "goed.png")
    Image.new("RGB", (320, 240), (40, 140, 60)).save(folder / "horst.jpg")
    manifest = folder / "west.yaml"
    manifest.write_text(
        "name: De Horst\nattribution: Foto's van De Horst\npictos:\n"
        "  good_at: {file: goed.png, word: Sterk}\n"
        "  mat_horst: {file: horst.jpg, word: \"De Horst\"}\n"
        "mat:\n  good_day: [mat_horst, mat_music, mat_walk]\n", encoding="utf-8")
    own = folder / "west-texts.yaml"
    own.write_text(f"welcome_begeleider: {OWN_WELCOME}\nalready_linked: {OWN_RESUME}\n",
                   encoding="utf-8")
    return manifest, own


async def client_of(h: Harness, organisation_id: int, user_id: int, name: str) -> UserHandle:
    _client, token = await h.store.create_client_invite(name, 30,
                                                        organisation_id=organisation_id)
    user = h.server.user(user_id, first_name=name)
    await h.act(user, user.send_command("/start", token))
    return user


def pdf_text(messages: list[BotMessage], h: Harness) -> str:
    (document,) = [m for m in messages if m.kind == "document"]
    reader = PdfReader(io.BytesIO(h.server.file_bytes(document.file_id)))
    return " ".join(page.extract_text() for page in reader.pages)


def photo(messages: list[BotMessage]) -> BotMessage:
    (found,) = [m for m in messages if m.kind == "photo"]
    return found


async def test_each_organisation_sees_its_own_look(hc: tuple[Harness, FakeClock],
                                                   tmp_path: Path) -> None:
    h, clock = hc
    west = await h.store.add_organisation("Zorg West")
    oost = await h.store.add_organisation("Zorg Oost")
    assert west is not None and oost is not None
    manifest, own = west_files(tmp_path)
    await _organisation_set(h.settings, "Zorg West", None, str(manifest), str(own))
    (row,) = await h.rows(Organisation, Organisation.id == west[0])
    assert row.picto_manifest == str(manifest.resolve())
    assert row.texts == {"welcome_begeleider": OWN_WELCOME, "already_linked": OWN_RESUME}

    wim = await client_of(h, west[0], 2001, "Wim")
    olga = await client_of(h, oost[0], 2002, "Olga")
    assert OWN_WELCOME in texts(wim.messages) and BOT_WELCOME not in texts(wim.messages)
    assert BOT_WELCOME in texts(olga.messages) and OWN_WELCOME not in texts(olga.messages)

    # "Waar ben jij goed in?" under West's own photo; Oost keeps the bot's own picto.
    cache = h.settings.picto_cache_dir or h.settings.data_dir / "pictos"
    theirs = PictoLibrary.load(manifest, cache)
    ours = PictoLibrary.load(None, cache)
    wim_card = photo(await h.tap(wim, "➡️ Beginnen"))
    olga_card = photo(await h.tap(olga, "➡️ Beginnen"))
    assert wim_card.caption == olga_card.caption == "Waar ben jij goed in?"
    assert h.server.file_bytes(wim_card.file_id) == theirs.card("good_at").read_bytes()
    assert h.server.file_bytes(olga_card.file_id) == ours.card("good_at").read_bytes()

    # A good day with pictures: West's set (the day centre first), Oost's the bot's own.
    for user in (wim, olga):
        await h.say(user, "Ik kan goed tekenen")
        await h.tap(user, "➡️ Verder")
        await h.say(user, "Dat ik goed luister")
        await h.tap(user, "➡️ Verder")
        await h.say(user, "Mijn fiets")
        assert "Denk aan een goede dag." in texts(await h.tap(user, "Nee, verder"))
    wim_mat = photo(await h.tap(wim, "🖼️ Kiezen met plaatjes"))
    olga_mat = photo(await h.tap(olga, "🖼️ Kiezen met plaatjes"))
    assert "Plaatje 1 van 3." in wim_mat.content and "De Horst" in wim_mat.content
    assert "De Horst" not in olga_mat.content and "Plaatje 1 van 3." not in olga_mat.content
    assert h.server.file_bytes(wim_mat.file_id) == theirs.card("mat_horst").read_bytes()
    # Wim places the day centre; his own PDF has its word and West's attribution, which is
    # made after the commit, in a worker thread, in the look of his organisation.
    await h.tap(wim, "🙂 Fijn")
    await h.tap(wim, "✋ Stop met plaatjes")
    assert "Fijn: De Horst" in pdf_text(await h.act(wim, wim.send_command("/mijnlijst")), h)
    assert "Foto's van De Horst" in pdf_text(wim.messages[-1:], h)
    assert "De Horst" not in pdf_text(await h.act(olga, olga.send_command("/mijnlijst")), h)
    # /over names the organisation's own pictures for its people only.
    assert "Foto's van De Horst" in texts(await h.act(wim, wim.send_command("/over")))
    assert "De Horst" not in texts(await h.act(olga, olga.send_command("/over")))

    # Back to the bot's texts: the bot keeps West's look for up to a minute, then reads it.
    await _organisation_set(h.settings, str(west[0]), None, None, "default")
    assert OWN_RESUME in texts(await h.act(wim, wim.send_command("/start")))
    assert BOT_RESUME in texts(await h.act(olga, olga.send_command("/start")))
    clock.advance(timedelta(seconds=LOOK_SECONDS + 1))
    out = await h.act(wim, wim.send_command("/start"))
    assert BOT_RESUME in texts(out) and OWN_RESUME not in texts(out)


async def test_a_manifest_gone_later_leaves_the_deployments_pictures(
        hc: tuple[Harness, FakeClock], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h, clock = hc
    west = await h.store.add_organisation("Zorg West")
    assert west is not None
    manifest, _own = west_files(tmp_path)
    await _organisation_set(h.settings, "Zorg West", None, str(manifest), None)
    manifest.write_text("pictos: [this is not a manifest\n", encoding="utf-8")
    wim = await client_of(h, west[0], 2001, "Wim")
    card = photo(await h.tap(wim, "➡️ Beginnen"))
    ours = PictoLibrary.load(None, h.settings.picto_cache_dir or
                             h.settings.data_dir / "pictos")
    assert h.server.file_bytes(card.file_id) == ours.card("good_at").read_bytes()
    said = [r.getMessage() for r in caplog.records if "picto manifest cannot be used"
            in r.getMessage()]
    assert len(said) == 1 and f"organisation={west[0]}" in said[0]
    await h.say(wim, "Ik kan goed tekenen")  # the bot goes on as usual
    assert "➡️ Verder" in labels(wim.messages[-1:])


async def test_the_operator_gets_one_line_for_a_bad_look(h: Harness, tmp_path: Path,
                                                         db_url: str) -> None:
    def cli(*args: str) -> Any:
        return asyncio.to_thread(run_bot, tmp_path, *args, DATABASE_URL=db_url)

    west = await h.store.add_organisation("Zorg West")
    assert west is not None
    manifest, own = west_files(tmp_path)
    bad_texts = tmp_path / "bad.yaml"
    cases = {
        "welcome_hello: Hallo {naam}!\n": "'welcome_hello': must use exactly these values: name",
        "welkom: Hallo\n": "'welkom': the bot has no text with this key",
        "b_client: \"{name} zonder tags\"\n": "'b_client': keep the bot's tags (<b> </b>)",
        "weekdays: ma di wo do vr za zo\n": "'weekdays': this text cannot be changed",
        "- een lijst\n": "must hold lines `key: text`",
    }
    for content, problem in cases.items():
        bad_texts.write_text(content, encoding="utf-8")
        line = one_clear_line(await cli("organisation", "set", "Zorg West", "--pictos",
                                        str(manifest), "--texts", str(bad_texts)))
        assert problem in line, line
    broken = tmp_path / "broken.yaml"
    broken.write_text("pictos:\n  good_at: {file: missing.png}\n", encoding="utf-8")
    line = one_clear_line(await cli("organisation", "set", "Zorg West", "--pictos",
                                    str(broken)))
    assert "the picto manifest" in line and "missing.png" in line
    line = one_clear_line(await cli("organisation", "set", "Zorg West"))
    assert "--quiet, --pictos and/or --texts" in line
    (row,) = await h.rows(Organisation, Organisation.id == west[0])
    assert (row.picto_manifest, row.texts) == (None, None)  # nothing was written

    done = await cli("organisation", "set", "Zorg West", "--pictos", str(manifest),
                     "--texts", str(own))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"organisation {west[0]}: Zorg West: pictos "
                                   f"{manifest.resolve()}; 2 own texts")
    listed = (await cli("organisation", "list")).stdout
    assert f"Zorg West ({manifest.resolve()})" in listed


def test_a_look_is_worn_for_a_turn_and_taken_off_after() -> None:
    """Pure: texts and the picto mat read the look worn now; outside, the deployment's."""
    west = picto_mat.look_with({"good_day": ("mat_horst", "mat_music")},
                               {"mat_horst": "De Horst"}, {"already_linked": OWN_RESUME}, 7)
    assert t("already_linked") == BOT_RESUME
    with wearing(west):
        assert current().organisation_id == 7
        assert t("already_linked") == OWN_RESUME
        assert t("welcome_begeleider") == BOT_WELCOME  # what it does not word stays ours
        assert picto_mat.option_sets()["good_day"] == ("mat_horst", "mat_music")
        assert picto_mat.option_sets()["bad_day"] == picto_mat.OWN_SETS["bad_day"]
        assert picto_mat.word("mat_horst") == "De Horst"
        with wearing(None):  # the deployment's, inside
            assert t("already_linked") == BOT_RESUME
        assert t("already_linked") == OWN_RESUME
    assert current() is deployment() and t("already_linked") == BOT_RESUME
    assert picto_mat.option_sets()["good_day"] == picto_mat.OWN_SETS["good_day"]
    with pytest.raises(ValueError, match="no pictures for these questions: good_at"):
        picto_mat.look_with({"good_at": ("mat_music", "mat_walk")}, {})


async def test_the_example_texts_name_a_role_in_the_role_menu(h: Harness) -> None:
    """deploy/organisation-texts.example.yaml is valid, and a person with two roles in the
    organisation sees its own name for the begeleider in the role menu."""
    example = Path(__file__).parents[1] / "deploy" / "organisation-texts.example.yaml"
    horst = await h.store.add_organisation("De Horst")
    assert horst is not None
    await _organisation_set(h.settings, "De Horst", None, None, str(example))
    bram = h.server.user(3001, first_name="Bram")
    for role in ("begeleider", "admin"):
        token = await h.store.create_role_invite(role, "Bram", 30, organisation_id=horst[0])
        out = await h.act(bram, bram.send_command("/start", token))
    out = await h.act(bram, bram.send_command("/rol"))
    assert "Persoonlijk begeleider" in labels(out) and "Begeleider" not in labels(out)
    out = await h.tap(bram, "Persoonlijk begeleider")
    assert "Je bent nu: Persoonlijk begeleider." in texts(out)


async def test_own_texts_that_no_longer_fit_are_left_out_and_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """After an upgrade of the bot a stored own text may no longer fit (here: a value the
    bot's text does not have). It is left out, the others stay, and the log says it once,
    not at every reading of the organisation's row."""
    class Row:
        reads = 0

        async def organisation_look(self, organisation_id: int) -> tuple[None, dict[str, str]]:
            self.reads += 1
            return None, {"welcome_hello": "Hallo {naam}!", "already_linked": OWN_RESUME}

    clock = FakeClock(datetime.now(UTC))
    looks, row = Looks(None), Row()
    for _ in range(3):
        look = await looks.of(row, 7, clock.now)
        clock.advance(timedelta(seconds=LOOK_SECONDS + 1))
    assert row.reads == 3 and dict(look.texts) == {"already_linked": OWN_RESUME}
    said = [r.getMessage() for r in caplog.records if "own text left out" in r.getMessage()]
    assert said == ["organisation=7 own text left out: 'welcome_hello': must use exactly "
                    "these values: name"]
