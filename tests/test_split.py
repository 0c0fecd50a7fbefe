"""Splitting composed HTML to Telegram's limits (pure, fast)."""

from __future__ import annotations

import re
from html import unescape

import pytest

from bot.telegram.split import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    speech_pieces,
    split_html,
    visible_length,
)
from localbotapi.server import parse_html


def shown(html: str) -> str:
    return unescape(re.sub(r"<[^>]*>", "", html))


def test_short_text_is_left_alone() -> None:
    assert split_html("<b>Hoi</b> Sam") == ["<b>Hoi</b> Sam"]


@pytest.mark.parametrize("limit", [MESSAGE_LIMIT, CAPTION_LIMIT, 50])
def test_every_part_fits_is_valid_html_and_nothing_is_lost(limit: int) -> None:
    lines = [f"• <b>Onderwerp {n}</b>: koken &amp; <i>fietsen</i> met 🚲 en مرحبا"
             for n in range(400)]
    html = "<b>Waar ik over wil praten</b>\n" + "\n".join(lines)
    parts = split_html(html, limit)
    assert len(parts) > 1
    for part in parts:
        text, _entities = parse_html(part)  # raises on broken HTML, like Telegram
        assert visible_length(text) <= limit
    words = shown(html).split()
    assert " ".join(shown(p) for p in parts).split() == words  # no word cut or lost


def test_cuts_fall_on_line_breaks_then_between_words() -> None:
    html = "\n".join(["kort"] * 3 + ["lang " * 30])
    parts = split_html(html, 60)
    assert parts[0] == "kort\nkort\nkort"
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)


def test_a_tag_open_at_the_cut_is_closed_and_reopened() -> None:
    html = "<b>" + "woord " * 30 + "</b>"
    parts = split_html(html, 40)
    assert all(p.startswith("<b>") and p.endswith("</b>") for p in parts)


def test_a_word_longer_than_a_message_is_cut_between_characters() -> None:
    parts = split_html("x" * 9000 + " &amp;", MESSAGE_LIMIT)
    assert [visible_length(shown(p)) for p in parts] == [4096, 4096, 810]
    assert parts[-1].endswith("&amp;")


def test_emoji_count_twice_as_telegram_counts() -> None:
    parts = split_html("😀" * 3000, MESSAGE_LIMIT)
    assert [visible_length(shown(p)) for p in parts] == [4096, 1904]


def test_speech_pieces_are_short_and_few() -> None:
    pieces = speech_pieces("Dit is een zin over koken. " * 300)
    assert len(pieces) == 3 and all(len(p) <= 600 for p in pieces)
    assert pieces[-1].endswith("…")
    assert speech_pieces("Hoi Sam.") == ["Hoi Sam."]
