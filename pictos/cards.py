"""Draw cards (one picto + its word) and sheets (a grid of pictos) with Pillow.

Everything is deterministic: same input, same bytes (no timestamps or other metadata).
Text is black on white in a big bold font, for clients who read poorly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CARD_SIZE = 512
INK = (0, 0, 0)
SUBTLE_INK = (51, 51, 51)  # still > 12:1 contrast on white
PAPER = (255, 255, 255)
LINE = (200, 200, 200)

# Atkinson Hyperlegible was designed for readers with low vision; DejaVu is the fallback
# that CI and Debian machines have (fonts-dejavu-core).
_DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=1)
def font_path() -> Path | None:
    spec = importlib.util.find_spec("fontpkg_atkinson_hyperlegible")
    if spec is not None and spec.origin:
        atkinson = Path(spec.origin).parent / "files" / "AtkinsonHyperlegible-Bold.ttf"
        if atkinson.is_file():
            return atkinson
    return _DEJAVU_BOLD if _DEJAVU_BOLD.is_file() else None


@lru_cache(maxsize=1)
def font_id() -> str:
    """Identifies the font in cache keys: another font must give other card files."""
    path = font_path()
    if path is None:
        return "pillow-default"
    hinted = "" if _unhinted_font() is not None else ",hinted"
    return f"{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}{hinted}"


@lru_cache(maxsize=1)
def _unhinted_font() -> bytes | None:
    """The font without its hinting instructions (HarfBuzz's subsetter, every glyph kept).
    FreeType runs those instructions for every glyph it draws: a line of Atkinson
    Hyperlegible took 0.9 ms to draw with them and 0.23 ms without, the same widths. They
    only snap glyphs to whole pixels, which this size and Telegram's scaling do not need.
    None: no HarfBuzz (the font file is used as it is)."""
    path = font_path()
    if path is None or importlib.util.find_spec("uharfbuzz") is None:
        return None
    import uharfbuzz as hb

    face = hb.Face(path.read_bytes())
    wanted = hb.SubsetInput()
    wanted.flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.RETAIN_GIDS
    for codepoint in face.unicodes:
        wanted.unicode_set.add(codepoint)
    return bytes(hb.subset(face, wanted).blob.data)


@lru_cache(maxsize=64)
def font(size: int) -> Font:
    path = font_path()
    if path is None:
        return ImageFont.load_default(size)  # last resort: Pillow's built-in font
    unhinted = _unhinted_font()
    return ImageFont.truetype(io.BytesIO(unhinted) if unhinted else str(path), size)


@dataclass(frozen=True)
class TextBlock:
    lines: list[str]
    size: int

    @property
    def line_height(self) -> int:
        return round(self.size * 1.18)

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


def text_width(text: str, size: int) -> float:
    return font(size).getlength(text)


def layout_text(text: str, max_w: int, max_h: int, max_size: int, min_size: int) -> TextBlock:
    """Largest font size at which the text fits in one or two lines."""
    for size in range(max_size, min_size - 1, -2):
        for lines in _line_options(text, size):
            block = TextBlock(lines, size)
            widest = max(text_width(line, size) for line in lines)
            if widest <= max_w and block.height <= max_h:
                return block
    return TextBlock(_line_options(text, min_size)[-1], min_size)


def _line_options(text: str, size: int) -> list[list[str]]:
    """One line first; then the two-line split with the narrowest widest line."""
    words = text.split()
    options = [[text]]
    if len(words) > 1:
        splits = [[" ".join(words[:i]), " ".join(words[i:])] for i in range(1, len(words))]
        options.append(min(splits, key=lambda s: max(text_width(line, size) for line in s)))
    return options


def draw_text(
    draw: ImageDraw.ImageDraw, block: TextBlock, cx: int, top: int, fill: tuple[int, int, int]
) -> None:
    for i, line in enumerate(block.lines):
        y = top + i * block.line_height
        draw.text((cx, y), line, font=font(block.size), fill=fill, anchor="mt")


def paste_centered(
    canvas: Image.Image, picto: Image.Image, box: tuple[int, int, int, int]
) -> None:
    left, top, right, bottom = box
    x = left + (right - left - picto.width) // 2
    y = top + (bottom - top - picto.height) // 2
    canvas.paste(picto, (x, y), picto)


def png_bytes(img: Image.Image) -> bytes:
    """PNG without metadata, so the bytes depend on the pixels only. Level 6, not 9: a
    card encodes 4x faster (12 instead of 50 ms) for 2 % more bytes."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def jpeg_bytes(img: Image.Image) -> bytes:
    """JPEG for a picture made anew for each send (the list): 10 ms where PNG level 9 took
    490 ms for ten parts. Quality 90 without chroma subsampling keeps text and the
    pictos' edges crisp (Telegram re-encodes every photo as JPEG anyway)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, subsampling=0)
    return buf.getvalue()


def card_picto_size(size: int = CARD_SIZE) -> int:
    return round(size * 0.62)


def make_card(picto: Image.Image, word: str, size: int = CARD_SIZE) -> bytes:
    """Picto large at the top, the word(s) big and bold under it. Square PNG."""
    canvas = Image.new("RGB", (size, size), PAPER)
    margin = round(size * 0.05)
    picto_box = card_picto_size(size)
    paste_centered(canvas, picto, (0, margin, size, margin + picto_box))
    text_top = margin + picto_box + round(size * 0.04)
    block = layout_text(
        word,
        max_w=size - 2 * margin,
        max_h=size - text_top - margin // 2,
        max_size=round(size * 0.15),
        min_size=round(size * 0.06),
    )
    # Centre the text in the space left under the picto.
    free = size - text_top - block.height
    draw_text(ImageDraw.Draw(canvas), block, size // 2, text_top + max(0, free // 2 - 4), INK)
    return png_bytes(canvas)


@dataclass(frozen=True)
class Cell:
    picto: Image.Image
    label: str
    note: str | None = None  # small second label, e.g. the key name on a contact sheet


def grid_columns(count: int, max_cols: int = 5) -> int:
    # Fewest rows, then spread evenly: 10 domains give 5 + 5, not 4 + 4 + 2.
    rows = max(1, math.ceil(count / max_cols))
    return max(1, math.ceil(count / rows))


def make_sheet(cells: list[Cell], cell_w: int = 300, cols: int | None = None) -> bytes:
    """A grid of pictos, each with its label under it (e.g. the ten life domains)."""
    cols = cols or grid_columns(len(cells))
    rows = max(1, math.ceil(len(cells) / cols))
    pad = cell_w // 20
    picto_box = round(cell_w * 0.6)
    label_h = round(cell_w * 0.28)
    note_h = round(cell_w * 0.09) if any(c.note for c in cells) else 0
    gap = pad // 2 if note_h else 0  # keep a two-line label clear of the note under it
    cell_h = pad + picto_box + label_h + gap + note_h + pad
    canvas = Image.new("RGB", (cols * cell_w, rows * cell_h), PAPER)
    draw = ImageDraw.Draw(canvas)
    for i, cell in enumerate(cells):
        left, top = (i % cols) * cell_w, (i // cols) * cell_h
        draw.rectangle((left, top, left + cell_w - 1, top + cell_h - 1), outline=LINE, width=2)
        paste_centered(canvas, cell.picto, (left, top + pad, left + cell_w, top + pad + picto_box))
        block = layout_text(cell.label, cell_w - 2 * pad, label_h - pad // 2, cell_w // 8, 14)
        text_top = top + pad + picto_box + pad // 2
        draw_text(draw, block, left + cell_w // 2, text_top, INK)
        if cell.note:
            note = layout_text(cell.note, cell_w - 2 * pad, note_h, note_h * 3 // 4, 10)
            draw_text(draw, note, left + cell_w // 2, top + cell_h - pad - note_h, SUBTLE_INK)
    return png_bytes(canvas)


def sheet_picto_size(cell_w: int = 300) -> int:
    return round(cell_w * 0.6) - 2 * (cell_w // 40)


BOARD_WIDTH = 1000
BOARD_PICTO = 120


def wrap(text: str, size: int, max_w: int, max_lines: int) -> list[str]:
    """Words in lines of at most `max_w` pixels; what does not fit ends in "…"."""
    # No more than fits: a 4,000-character answer is not measured word by word.
    words = text[:max_lines * max_w // max(1, size // 4)].split()
    lines: list[str] = []
    current = ""
    for index, word in enumerate(words):
        trial = f"{current} {word}".strip()
        if text_width(trial, size) <= max_w or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            current = ""
            lines[-1] = _ellipsis(lines[-1] + " " + " ".join(words[index:]), size, max_w)
            break
    if current:
        lines.append(_ellipsis(current, size, max_w))
    if len(text) > len(" ".join(words)) + 1 and lines and not lines[-1].endswith("…"):
        lines[-1] = _ellipsis(lines[-1] + " …", size, max_w, force=True)
    return lines


def _ellipsis(line: str, size: int, max_w: int, force: bool = False) -> str:
    """`line` cut (found by halving) so that it and " …" fit in `max_w`."""
    if text_width(line, size) <= max_w and not force:
        return line
    line = line.removesuffix(" …")
    low, high = 0, len(line)
    while low < high:
        middle = (low + high + 1) // 2
        if text_width(line[:middle] + " …", size) <= max_w:
            low = middle
        else:
            high = middle - 1
    return line[:low].rstrip() + " …"


@lru_cache(maxsize=64)
def _title_mask(line: str, size: int) -> Image.Image:
    """A part's title drawn once (as a mask to paste): every list shows the same titles,
    and drawing a line of this font takes a millisecond."""
    _left, _top, right, bottom = font(size).getbbox(line)
    mask = Image.new("L", (max(1, math.ceil(right)), max(1, math.ceil(bottom))), 0)
    ImageDraw.Draw(mask).text((0, 0), line, font=font(size), fill=255)
    return mask


def make_board(rows: list[tuple[Image.Image, str, str]]) -> bytes:
    """The client's list as one JPEG: per part its picto, its title and the client's
    words (up to three lines), one part under the other."""
    margin, gap = 24, 16
    title_size, words_size = 34, 30
    text_left = margin + BOARD_PICTO + 2 * gap
    text_w = BOARD_WIDTH - text_left - margin
    laid = [(picto, wrap(title, title_size, text_w, 1), wrap(words, words_size, text_w, 3))
            for picto, title, words in rows]
    heights = [max(BOARD_PICTO, round(title_size * 1.25) + round(words_size * 1.25) * len(w))
               + 2 * gap for _, _, w in laid]
    canvas = Image.new("RGB", (BOARD_WIDTH, max(1, sum(heights))), PAPER)
    draw = ImageDraw.Draw(canvas)
    top = 0
    for (picto, title, words), height in zip(laid, heights, strict=True):
        paste_centered(canvas, picto, (margin, top, margin + BOARD_PICTO, top + height))
        y = top + gap
        for line in title:
            canvas.paste(INK, (text_left, y), _title_mask(line, title_size))
            y += round(title_size * 1.25)
        for line in words:
            draw.text((text_left, y), line, font=font(words_size), fill=SUBTLE_INK)
            y += round(words_size * 1.25)
        top += height
        draw.line((margin, top - 1, BOARD_WIDTH - margin, top - 1), fill=LINE, width=2)
    return jpeg_bytes(canvas)


MAT_COLUMN = 330  # px per column of the mat
MAT_PICTO = 110


def make_mat(columns: list[tuple[Image.Image, str, list[tuple[Image.Image, str]]]]) -> bytes:
    """The picto mat as one JPEG: a column per place (its picto and word on top), the
    cards placed there under it (picto and word), one under the other."""
    margin, gap, word_size, head_size = 16, 12, 28, 34
    card_h = MAT_PICTO + round(word_size * 1.3) + gap
    head_h = MAT_PICTO + round(head_size * 1.3) + 2 * gap
    rows = max([1, *(len(cards) for _, _, cards in columns)])
    width = len(columns) * MAT_COLUMN + 2 * margin
    height = head_h + rows * card_h + 2 * margin
    canvas = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(canvas)
    inner = MAT_COLUMN - 2 * gap
    for index, (picto, word, cards) in enumerate(columns):
        left = margin + index * MAT_COLUMN
        if index:  # a line between the places
            draw.line((left, margin, left, height - margin), fill=LINE, width=3)
        paste_centered(canvas, picto, (left, margin, left + MAT_COLUMN, margin + MAT_PICTO))
        title = wrap(word, head_size, inner, 1)[0]
        draw.text((left + MAT_COLUMN // 2, margin + MAT_PICTO + gap), title,
                  font=font(head_size), fill=INK, anchor="mt")
        top = margin + head_h
        draw.line((left + gap, top - gap // 2, left + MAT_COLUMN - gap, top - gap // 2),
                  fill=LINE, width=2)
        for card, card_word in cards:
            paste_centered(canvas, card, (left, top, left + MAT_COLUMN, top + MAT_PICTO))
            line = wrap(card_word, word_size, inner, 1)[0]
            draw.text((left + MAT_COLUMN // 2, top + MAT_PICTO + 4), line,
                      font=font(word_size), fill=SUBTLE_INK, anchor="mt")
            top += card_h
    return jpeg_bytes(canvas)
