"""The agenda as PDF (fpdf2): an easy-read client version and a compact begeleider version.

Fonts are embedded (subset): Atkinson Hyperlegible (PyPI `fontpkg-atkinson-hyperlegible`,
made for readers with low vision) for the text, and DejaVu Sans (Debian
`fonts-dejavu-core`) as fallback for letters Atkinson lacks (Hebrew, Arabic, Cyrillic, …).
Characters neither font has (most emoji) are left out instead of printing empty boxes.
Right-to-left text (Hebrew, Arabic) is shaped with HarfBuzz (`uharfbuzz`, PyPI) when the
agenda holds any: visual order and joined Arabic letters. Without uharfbuzz it is printed
in logical order (readable letters, wrong direction) rather than failing.
"""

from __future__ import annotations

import importlib.util
import io
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from fontTools.ttLib import TTFont
from fpdf import FPDF
from PIL import Image

from bot.agenda.model import (
    SECTION_PICTOS,
    Agenda,
    Contribution,
    Item,
    format_date,
    heard_label,
    label,
    media_label,
    short_date,
    since_moods,
    since_who,
)
from bot.dialogs import picto_mat
from bot.dialogs.texts import t

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
INK = (0, 0, 0)
GREY = (80, 80, 80)  # still > 7:1 on white


class Pictos(Protocol):
    """What the PDF needs of `pictos.PictoLibrary`."""

    def card(self, key: str) -> Path: ...

    def mat(self, columns: Sequence[tuple[str, Sequence[str]]]) -> bytes: ...

    def attribution(self) -> list[str]: ...


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path
    fallback: Path | None
    fallback_bold: Path | None


@lru_cache(maxsize=1)
def font_files() -> FontFiles:
    dejavu, dejavu_bold = DEJAVU_DIR / "DejaVuSans.ttf", DEJAVU_DIR / "DejaVuSans-Bold.ttf"
    spec = importlib.util.find_spec("fontpkg_atkinson_hyperlegible")
    if spec is not None and spec.origin:
        files = Path(spec.origin).parent / "files"
        regular = files / "AtkinsonHyperlegible-Regular.ttf"
        bold = files / "AtkinsonHyperlegible-Bold.ttf"
        if regular.is_file() and bold.is_file():
            has_dejavu = dejavu.is_file() and dejavu_bold.is_file()
            return FontFiles(regular, bold, dejavu if has_dejavu else None,
                             dejavu_bold if has_dejavu else None)
    if dejavu.is_file():
        return FontFiles(dejavu, dejavu_bold, None, None)
    raise RuntimeError("no Unicode font: install fonts-dejavu-core or "
                       "fontpkg-atkinson-hyperlegible")


@lru_cache(maxsize=8)
def _cmap(path: Path) -> frozenset[int]:
    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


@lru_cache(maxsize=128)
def _picto_image(path: Path, pixels: int) -> Image.Image:
    """The card scaled to print size (about 300 dpi): a 512 px card would bloat the PDF."""
    with Image.open(path) as image:
        return image.convert("RGB").resize((pixels, pixels), Image.Resampling.LANCZOS)


def _needs_fallback(texts: Iterable[str]) -> bool:
    main = _cmap(font_files().regular)
    return any(ord(c) not in main for text in texts for c in text if c >= "\u0080")


def _has_rtl(texts: Iterable[str]) -> bool:
    return any(unicodedata.bidirectional(c) in {"R", "AL"} for text in texts for c in text)


def printable(text: str, with_fallback: bool) -> str:
    """Only characters the embedded fonts can draw (drops most emoji and control codes)."""
    files = font_files()
    known = _cmap(files.regular)
    if with_fallback and files.fallback is not None:
        known = known | _cmap(files.fallback)
    out = []
    for char in text.replace("\t", " ").replace("\r", ""):
        if char == "\n" or (ord(char) in known and unicodedata.category(char) != "Cc"):
            out.append(char)
    return "".join(out)


class _Doc(FPDF):
    """A4 with the fonts added and a quiet footer (page number, picto credits)."""

    def __init__(self, footer_size: float, credits: list[str]) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_size = footer_size
        self.credits = credits
        self.with_fallback = False
        self.set_creator("Gespreksmaatje")
        self.set_auto_page_break(True, margin=18)

    def setup_fonts(self, texts: list[str]) -> None:
        files = font_files()
        self.add_font("main", "", str(files.regular))
        self.add_font("main", "B", str(files.bold))
        # DejaVu only when needed: adding a font costs time, and most agendas are Dutch.
        if files.fallback and files.fallback_bold and _needs_fallback(texts):
            self.add_font("fallback", "", str(files.fallback))
            self.add_font("fallback", "B", str(files.fallback_bold))
            self.set_fallback_fonts(["fallback"], exact_match=False)
            self.with_fallback = True
        if _has_rtl(texts) and importlib.util.find_spec("uharfbuzz") is not None:
            # Shaping puts Hebrew/Arabic in visual order and joins Arabic letters; only
            # when needed, as it is slower.
            self.set_text_shaping(True)

    def text_of(self, text: str) -> str:
        return printable(text, self.with_fallback)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("main", "", self.footer_size)
        self.set_text_color(*GREY)
        self.cell(0, 4, f"{self.page_no()} / {{nb}}", align="R", new_x="LMARGIN",
                  new_y="NEXT")
        self.set_font("main", "", 6)
        self.multi_cell(0, 2.6, self.text_of(" · ".join(self.credits)), align="L")
        self.set_text_color(*INK)


def _all_texts(agenda: Agenda) -> list[str]:
    texts = [agenda.client_name]
    for part in agenda.parts:
        texts += [i.text for i in part.items]
    texts += [c.text for c in (*agenda.naasten, *agenda.begeleider)]
    texts += [c.author.display() for c in (*agenda.naasten, *agenda.begeleider)]
    texts += [a.text for a in agenda.since_last]
    if agenda.meeting is not None:
        texts += [agenda.meeting.place, *(i.text for i in agenda.meeting.items())]
    return texts


def _item_text(item: Item) -> str:
    """The client's own words; a recording or photo is named, with its length."""
    text = t(item.text) if item.kind == "choice" and item.text else item.text
    media = ", ".join(" ".join(filter(None, [media_label(m), heard_label(m, item.author.name)]))
                      for m in item.media)
    if media:
        text = f"({media}) {text}".strip()
    if item.domain:
        text = f"{t(item.domain)}: {text}"
    return text


# ------------------------------------------------------------------------------ client
CLIENT_MARGIN = 18.0
PICTO = 30.0  # mm, the card beside each part
GAP = 8.0
TEXT_PT = 18
TITLE_PT = 22


def client_pdf(agenda: Agenda, pictos: Pictos,
               photos: Mapping[str, Path] | None = None) -> bytes:
    """Easy read: big letters, a picto beside each part, one item per line, lots of room.

    `photos` maps a photo's file_unique_id to a downloaded file, to print it.
    """
    pdf = _Doc(11, pictos.attribution())
    pdf.set_margins(CLIENT_MARGIN, CLIENT_MARGIN, CLIENT_MARGIN)
    pdf.setup_fonts(_all_texts(agenda))
    pdf.add_page()
    pdf.set_font("main", "B", 32)
    pdf.cell(0, 16, label("client_title"), new_x="LMARGIN", new_y="NEXT", align="L")
    if agenda.round > 1:  # the next meeting: which one it is
        pdf.set_font("main", "", 20)
        pdf.cell(0, 11, label("round", n=agenda.round), new_x="LMARGIN", new_y="NEXT")
    meeting = agenda.meeting
    pdf.set_font("main", "", 20)
    if meeting is not None and meeting.starts_at is not None:
        pdf.cell(0, 11, format_date(meeting.starts_at, agenda.tz_name), new_x="LMARGIN",
                 new_y="NEXT")
    pdf.ln(8)
    mats = {part.title: _mat_picture(pictos, part.items) for part in agenda.parts}
    for title, picto, lines in _client_sections(agenda):
        _client_section(pdf, pictos, title, picto, lines, photos or {}, mats.get(title))
    return bytes(pdf.output())


def agreements_pdf(title: str, rows: list[tuple[str, str, str]], pictos: Pictos) -> bytes:
    """The agreements, easy read: per agreement its picto, who does it and the words
    (`rows`: picto key, who, text), big letters as in `client_pdf`."""
    return sections_pdf(title, [(who, picto, [text]) for picto, who, text in rows], pictos)


def sections_pdf(title: str, sections: list[tuple[str, str, list[str]]],
                 pictos: Pictos) -> bytes:
    """Easy read, as `client_pdf`: a big title, then per section (its title, picto key,
    lines) the picto beside the title and one line per item."""
    pdf = _Doc(11, pictos.attribution())
    pdf.set_margins(CLIENT_MARGIN, CLIENT_MARGIN, CLIENT_MARGIN)
    pdf.setup_fonts([title, *(s[0] for s in sections), *(x for s in sections for x in s[2])])
    pdf.add_page()
    pdf.set_font("main", "B", 32)
    pdf.multi_cell(0, 16, pdf.text_of(title), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(8)
    for heading, picto, lines in sections:
        _client_section(pdf, pictos, heading, picto, [(line, None) for line in lines], {})
    return bytes(pdf.output())


Section = tuple[str, str, list[tuple[str, str | None]]]  # title, picto, (line, photo id)


def _client_sections(agenda: Agenda) -> list[Section]:
    """The client's own version: its headings stay in the first person ("Waar ik goed in
    ben"), also when the begeleider prints it."""
    sections: list[Section] = []
    meeting = agenda.meeting
    if meeting is not None:
        lines: list[tuple[str, str | None]] = []
        if meeting.starts_at is None:
            lines.append((label("no_date"), None))
        if meeting.place:
            lines.append((f"{label('place')}: {meeting.place}", None))
        lines += [(f"{label('place')}: {_item_text(i)}", None) for i in meeting.where]
        lines += [(f"{label('who')}: {_item_text(i)}", None) for i in meeting.who]
        if meeting.chair:
            lines.append((f"{label('chair')}: {t(meeting.chair)}", None))
        lines += [(f"{label('chair')}: {_item_text(i)}", _photo_id(i))
                  for i in meeting.chair_said]
        lines += [(f"{label('how')}: {t(h)}", None) for h in meeting.how]
        lines += [(f"{label('how')}: {_item_text(i)}", _photo_id(i)) for i in meeting.how_said]
        sections.append((label("meeting"), SECTION_PICTOS["meeting"], lines))
    for part in agenda.parts:
        sections.append((part.title, part.picto_key,
                         [(_item_text(i), _photo_id(i)) for i in part.items]))
    if agenda.since_last:
        sections.append((label("since_last"), SECTION_PICTOS["agreements"], [
            (" · ".join(filter(None, [
                f"{a.text} ({since_who(a, agenda.viewer_role, agenda.client_name)})",
                since_moods(a)])), None) for a in agenda.since_last]))
    for key, entries in (("naasten", agenda.naasten), ("begeleider", agenda.begeleider)):
        if entries:
            sections.append((label(key), SECTION_PICTOS[key],
                             [(_contribution_text(c), None) for c in entries]))
    if agenda.skipped:
        sections.append((label("skipped"), SECTION_PICTOS["skipped"],
                         [(t(f"title_{s}"), None) for s in agenda.skipped]))
    return sections


def _mat_picture(pictos: Pictos, items: Iterable[Item]) -> Image.Image | None:
    """The picto mat of a part answered with pictures, as the client saw it."""
    readings = [r for i in items if (r := picto_mat.reading(i.kind, i.tag)) is not None]
    if not readings:
        return None
    return Image.open(io.BytesIO(pictos.mat(picto_mat.columns(readings))))


def _photo_id(item: Item) -> str | None:
    return next((m.file_unique_id for m in item.media if m.kind == "photo"), None)


def _contribution_text(entry: Contribution) -> str:
    who = entry.author.display()
    return f"{who}: {entry.text}" if who else entry.text


def _client_section(pdf: _Doc, pictos: Pictos, title: str, picto: str,
                    lines: list[tuple[str, str | None]], photos: Mapping[str, Path],
                    mat: Image.Image | None = None) -> None:
    line_h = TEXT_PT * 0.3528 * 1.5
    if pdf.get_y() + PICTO + 4 > pdf.page_break_trigger:  # keep picto and title together
        pdf.add_page()
    top, page = pdf.get_y(), pdf.page
    pdf.image(_picto_image(pictos.card(picto), 360), x=CLIENT_MARGIN, y=top, w=PICTO,
              h=PICTO)
    x = CLIENT_MARGIN + PICTO + GAP
    width = pdf.w - CLIENT_MARGIN - x
    pdf.set_xy(x, top + 2)
    pdf.set_font("main", "B", TITLE_PT)
    pdf.multi_cell(width, TITLE_PT * 0.3528 * 1.4, pdf.text_of(title), new_x="LEFT",
                   new_y="NEXT", align="L")
    pdf.ln(2)
    pdf.set_font("main", "", TEXT_PT)
    for text, photo in lines or [(label("empty"), None)]:
        pdf.set_x(x)
        pdf.cell(7, line_h, "•")
        pdf.multi_cell(width - 7, line_h, pdf.text_of(text) or "…", new_x="LEFT",
                       new_y="NEXT", align="L")
        if photo and photo in photos:
            pdf.image(str(photos[photo]), x=x + 7, w=min(70, width - 7))
        pdf.ln(3)  # white space between items
    if mat is not None:  # the whole mat under its lines, as the client saw it
        pdf.image(mat, x=x, w=min(110, width))
    # Below the picto, unless the lines ran on to the next page (the picto is not there).
    below_picto = top + PICTO if pdf.page == page else 0
    pdf.set_y(max(pdf.get_y(), below_picto) + 10)


# ------------------------------------------------------------------------------ begeleider
MARGIN = 15.0
SMALL_PICTO = 9.0


def begeleider_pdf(agenda: Agenda, pictos: Pictos,
                   photos: Mapping[str, Path] | None = None) -> bytes:
    """Compact: every answer with who gave it and when, skipped parts, naasten's input."""
    pdf = _Doc(8, pictos.attribution())
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.setup_fonts(_all_texts(agenda))
    pdf.add_page()
    pdf.set_font("main", "B", 16)
    pdf.multi_cell(0, 8, pdf.text_of(label("begeleider_title", name=agenda.client_name)),
                   new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font("main", "", 9)
    pdf.set_text_color(*GREY)
    made = format_date(agenda.generated_at, agenda.tz_name)
    role = label(f"role_{agenda.viewer_role}") if f"role_{agenda.viewer_role}" in _ROLES else (
        agenda.viewer_role)
    facts = [label("made_on", date=made), label("for_viewer", role=role)]
    if agenda.round > 1:
        facts.append(label("round", n=agenda.round))
    pdf.cell(0, 5, " · ".join(facts), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_text_color(*INK)
    pdf.ln(3)
    if agenda.meeting is not None:
        _b_heading(pdf, pictos, label("meeting"), SECTION_PICTOS["meeting"])
        for key, value in _meeting_rows(agenda):
            _b_row(pdf, key, value)
        pdf.ln(2)
    for part in agenda.parts:
        _b_heading(pdf, pictos, agenda.title(part.key), part.picto_key)  # "Waar Sam …"
        if not part.items:
            _b_line(pdf, label("empty"), "")
        for item in part.items:
            _b_line(pdf, _item_text(item), _item_meta(item, agenda.tz_name))
            photo = _photo_id(item)
            if photo and photos and photo in photos:
                pdf.image(str(photos[photo]), x=MARGIN + SMALL_PICTO + 2, w=35)
        mat = _mat_picture(pictos, part.items)
        if mat is not None:
            pdf.image(mat, x=MARGIN + SMALL_PICTO + 2, w=70)
        pdf.ln(1.5)
    if agenda.since_last:
        _b_heading(pdf, pictos, label("since_last"), SECTION_PICTOS["agreements"])
        for agreement in agenda.since_last:
            _b_line(pdf, agreement.text, " · ".join(filter(None, [
                since_who(agreement, agenda.viewer_role, agenda.client_name),
                since_moods(agreement)])))
        pdf.ln(1.5)
    for key, entries in (("naasten", agenda.naasten), ("begeleider", agenda.begeleider)):
        if entries:
            _b_heading(pdf, pictos, label(f"{key}_b"), SECTION_PICTOS[key])
            for entry in entries:
                kind = label(f"kind_{entry.kind}")
                meta = f"{entry.author.display()} · {short_date(entry.created_at, agenda.tz_name)}"
                _b_line(pdf, f"[{kind}] {entry.text}", meta)
            pdf.ln(1.5)
    if agenda.skipped:
        _b_heading(pdf, pictos, label("skipped_b"), SECTION_PICTOS["skipped"])
        for step in agenda.skipped:
            _b_line(pdf, agenda.title(step), "")
    return bytes(pdf.output())


_ROLES = {"role_client", "role_begeleider", "role_naaste", "role_admin"}


def _meeting_rows(agenda: Agenda) -> list[tuple[str, str]]:
    meeting = agenda.meeting
    assert meeting is not None
    when = format_date(meeting.starts_at, agenda.tz_name) if meeting.starts_at else label(
        "no_date")
    rows = [(label("when"), when)]
    if meeting.place:
        rows.append((label("place"), meeting.place))
    rows += [(t("title_meeting_where"), _item_text(i)) for i in meeting.where]
    rows += [(t("title_meeting_who"), _item_text(i)) for i in meeting.who]
    if meeting.chair:
        rows.append((label("chair"), t(meeting.chair)))
    rows += [(label("chair"), _item_text(i)) for i in meeting.chair_said]
    if meeting.how:
        rows.append((label("how"), ", ".join(t(h) for h in meeting.how)))
    rows += [(label("how"), _item_text(i)) for i in meeting.how_said]
    return rows


def _item_meta(item: Item, tz_name: str) -> str:
    who = label(f"by_{item.author.role}") if item.author.role == "client" else (
        f"{label('by_' + item.author.role)} {item.author.display()}".strip())
    meta = [who, short_date(item.created_at, tz_name)]
    if item.changed_at is not None:
        meta.append(label("changed", date=short_date(item.changed_at, tz_name)))
    return " · ".join(meta)


def _b_heading(pdf: _Doc, pictos: Pictos, title: str, picto: str) -> None:
    if pdf.get_y() + SMALL_PICTO + 8 > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    pdf.image(_picto_image(pictos.card(picto), 128), x=MARGIN, y=top, w=SMALL_PICTO,
              h=SMALL_PICTO)
    pdf.set_xy(MARGIN + SMALL_PICTO + 2, top + 1.5)
    pdf.set_font("main", "B", 12)
    pdf.cell(0, 6, pdf.text_of(title), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_y(max(pdf.get_y(), top + SMALL_PICTO) + 0.5)


def _b_row(pdf: _Doc, key: str, value: str) -> None:
    x = MARGIN + SMALL_PICTO + 2
    pdf.set_x(x)
    pdf.set_font("main", "B", 10)
    pdf.cell(45, 5, pdf.text_of(key))
    pdf.set_font("main", "", 10)
    pdf.multi_cell(pdf.w - MARGIN - x - 45, 5, pdf.text_of(value) or "…", new_x="LMARGIN",
                   new_y="NEXT", align="L")


def _b_line(pdf: _Doc, text: str, meta: str) -> None:
    x = MARGIN + SMALL_PICTO + 2
    width = pdf.w - MARGIN - x
    pdf.set_x(x)
    pdf.set_font("main", "", 10)
    pdf.cell(4, 5, "•")
    pdf.multi_cell(width - 4, 5, pdf.text_of(text) or "…", new_x="LMARGIN", new_y="NEXT",
                   align="L")
    if meta:
        pdf.set_x(x + 4)
        pdf.set_font("main", "", 8)
        pdf.set_text_color(*GREY)
        pdf.multi_cell(width - 4, 4, pdf.text_of(meta), new_x="LMARGIN", new_y="NEXT",
                       align="L")
        pdf.set_text_color(*INK)
    pdf.ln(0.8)
