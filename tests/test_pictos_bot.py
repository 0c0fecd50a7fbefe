"""Pictos through the bot: every question has its card, uploaded once and then sent by
file_id; an organisation's manifest changes a card without code changes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.dialogs import admin, begeleider, client_prep, naaste
from pictos import PictoLibrary
from tests.harness import Harness, harness


def flow_picto_keys() -> set[str]:
    """Every picto key any flow can show (steps, options, domains, moves)."""
    keys = {s.key for s in client_prep.STEPS} | set(client_prep.DOMAINS) | set(
        client_prep.HOW) | set(client_prep.TALKED)
    keys |= {"domains", "agenda_more", "done", "review", "naaste", "admin", "begeleider",
             "feedback"}
    for module in (begeleider, naaste, admin):
        assert module.FLOW.machine.states  # the role flows use the role pictos above
    return keys


def test_every_key_of_every_flow_has_a_picto() -> None:
    library = PictoLibrary.load()
    missing = sorted(k for k in flow_picto_keys() if not library.has(k))
    assert missing == []


async def test_each_card_is_uploaded_once_then_sent_by_file_id(h: Harness) -> None:
    people = [await h.join(1001, "Sam"), await h.join(1002, "Noor")]
    for person in people:
        await h.tap(person, "➡️ Beginnen")
        await h.say(person, "Tekenen")
        await h.tap(person, "➡️ Verder")
    photos = [m for p in people for m in p.messages if m.kind == "photo"]
    assert len(photos) >= 6
    digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in h.server.uploads]
    assert len(digests) == len(set(digests)), "a card was uploaded twice"
    by_caption = {}
    for photo in photos:
        by_caption.setdefault(photo.caption, set()).add(photo.file_id)
    assert all(len(ids) == 1 for ids in by_caption.values())


@pytest.fixture
async def own_set(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    Image.new("RGB", (300, 200), (200, 30, 30)).save(tmp_path / "goed.png")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("name: Test BV\nattribution: Eigen foto's\npictos:\n"
                        "  good_at: {file: goed.png, word: Sterk}\n", encoding="utf-8")
    async with harness(db_url, tmp_path) as h:
        h.settings = h.settings.model_copy(update={"picto_manifest": manifest,
                                                   "picto_cache_dir": tmp_path / "cards"})
        await h.start_bot()
        yield h


async def test_an_organisations_manifest_changes_the_card(own_set: Harness) -> None:
    h = own_set
    sam = await h.join(1001, "Sam")
    out = await h.tap(sam, "➡️ Beginnen")
    (card,) = [m for m in out if m.kind == "photo"]
    assert card.caption == "Waar ben jij goed in?"  # the question under the own picture
    data = h.server.file_bytes(card.file_id)
    library = PictoLibrary.load(h.settings.picto_manifest, h.settings.picto_cache_dir)
    assert data == library.card("good_at").read_bytes()
    default = PictoLibrary.load(None, h.settings.picto_cache_dir)
    assert data != default.card("good_at").read_bytes()
    out = await h.act(sam, sam.send_command("/over"))
    assert "OpenMoji" in out[0].text and "Eigen foto's" in out[0].text
