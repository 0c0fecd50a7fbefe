"""PictoLibrary: the pictos in use (default set + an organisation's own), rendered and cached."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pictos import cards, render
from pictos.manifest import DEFAULT_MANIFEST, Entry, Manifest, ManifestError, load_manifest

RENDER_VERSION = "1"  # bump when the card layout changes: old cache files are then unused
SHEET_CELL = 300
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "gespreksmaatje-pictos"
# Pictos drawn for the picture of a list, kept in memory: 64 at 120 px are under 4 MB.
BOARD_PICTOS_KEPT = 64
MATS_KEPT = 32  # finished mats in memory (a few hundred KB each)


@dataclass(frozen=True)
class Source:
    """Where a key's image comes from: an own file, or an OpenMoji SVG."""

    path: Path
    origin: str  # "openmoji" or the manifest's name, for the contact sheet and attribution

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()


class PictoLibrary:
    """All pictos of the bot. Cards are rendered once per input and kept in ``cache_dir``."""

    def __init__(self, default: Manifest, custom: Manifest | None, cache_dir: Path) -> None:
        self._default = default
        self._custom = custom
        # The organisation's own new pictures (keys the default set does not have).
        self._own = tuple(k for k in (custom.entries if custom else {})
                          if k not in default.entries)
        self.cache_dir = Path(cache_dir)
        self._lock = threading.Lock()
        self._render_locks: dict[str, threading.Lock] = {}
        self._digests: dict[Path, str] = {}
        self._card_ids: dict[tuple[str, int], str] = {}
        # (key, size) -> picto drawn for the list's picture, least recently used first
        self._board_pictos: OrderedDict[tuple[str, int], Image.Image] = OrderedDict()
        self._mats: OrderedDict[tuple[tuple[str, tuple[str, ...]], ...], bytes] = OrderedDict()
        self.renders = 0  # how many images were really drawn (tests check the caching)

    @classmethod
    def load(cls, manifest: Path | None = None, cache_dir: Path = DEFAULT_CACHE,
             questions: set[str] | None = None) -> PictoLibrary:
        """Default set, plus the organisation's manifest when given (its keys win);
        `questions`: those its `mat` may name (None: any).

        Raises ManifestError (one clear line) when the manifest is broken.
        """
        default = load_manifest(DEFAULT_MANIFEST)
        custom = (load_manifest(Path(manifest), set(default.entries), questions)
                  if manifest else None)
        return cls(default, custom, cache_dir)

    # -- what is in the set -------------------------------------------------------------

    def keys(self) -> list[str]:
        """Every key: the default set's, then the organisation's own new pictures."""
        return [*self._default.entries, *self._own]

    def has(self, key: str) -> bool:
        return key in self._default.entries or key in self._own

    def mat_sets(self) -> dict[str, tuple[str, ...]]:
        """The organisation's pictures per question for choosing with pictures (empty: the
        bot's own)."""
        return dict(self._custom.mat) if self._custom else {}

    def word(self, key: str) -> str:
        custom = self._custom_entry(key)
        if custom is not None and custom.word:
            return custom.word
        return self._default_entry(key).word or key

    def emoji(self, key: str) -> str:
        """Emoji for button labels; always from the default set (Telegram shows emoji only;
        an organisation's own new picture has none)."""
        if key not in self._default.entries:
            if not self.has(key):
                raise KeyError(f"unknown picto key '{key}'")
            return ""
        seq = self._default_entry(key).openmoji
        return render.emoji_char(seq) if seq else ""

    def source(self, key: str) -> Source:
        entry = self._custom_entry(key)
        origin = self._custom.name if self._custom else ""
        if entry is None:
            entry, origin = self._default_entry(key), "OpenMoji"
        if entry.file is not None:
            return Source(entry.file, origin)
        path = render.openmoji_svg(entry.openmoji or "")
        if path is None:  # cannot happen after validation, unless the package changed
            raise ManifestError(f"OpenMoji has no picto for '{entry.openmoji}' (key '{key}')")
        return Source(path, "OpenMoji")

    def attribution(self) -> list[str]:
        lines = []
        if any(self.source(k).origin == "OpenMoji" for k in self.keys()):
            lines.append(self._default.attribution)
        if self._custom and self._custom.attribution:
            lines.append(self._custom.attribution)
        return lines

    # -- cards --------------------------------------------------------------------------

    def card_id(self, key: str, size: int = cards.CARD_SIZE) -> str:
        """Content hash of everything that makes the card: image, word, size, font, layout.
        Worked out once per key: like the images' digests, it holds until a reload."""
        found = self._card_ids.get((key, size))
        if found is None:
            src = self.source(key)
            found = _hash(["card", RENDER_VERSION, cards.font_id(), str(size),
                           self._digest(src.path), src.suffix, self.word(key)])
            self._card_ids[(key, size)] = found
        return found

    def card_file(self, key: str) -> Path:
        """Where the card's PNG is (or will be) kept; nothing is read or drawn."""
        return self.cache_dir / f"card-{key}-{self.card_id(key)}.png"

    def card(self, key: str) -> Path:
        """PNG path of the card; drawn at most once per card_id, also across threads."""
        out = self.card_file(key)
        return self._cached(out, self.card_id(key), lambda: self._draw_card(key))

    def sheet_file(self, keys: list[str]) -> Path:
        """Where the sheet of `keys` is (or will be) kept; nothing is read or drawn."""
        for key in keys:
            if not self.has(key):  # unknown key: clear KeyError before drawing anything
                raise KeyError(f"unknown picto key '{key}'")
        sheet_id = _hash(["sheet", RENDER_VERSION, *(self.card_id(k) for k in keys)])
        return self.cache_dir / f"sheet-{sheet_id}.png"

    def sheet(self, keys: list[str]) -> Path:
        """One image with a grid of pictos, each with its word (e.g. the ten life domains)."""
        out = self.sheet_file(keys)
        return self._cached(out, out.stem.removeprefix("sheet-"),
                            lambda: self._draw_sheet(keys, notes=False))

    def contact_sheet(self, out: Path) -> Path:
        """Every key with its picto, word and key name: to review a set at a glance."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(out, self._draw_sheet(self.keys(), notes=True, cols=8))
        return out

    def warm(self, max_workers: int = 2) -> int:
        """Render every card (run in a background thread at start-up); returns the count."""
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            return sum(1 for _ in pool.map(self.card, self.keys()))

    # -- internals ----------------------------------------------------------------------

    def _default_entry(self, key: str) -> Entry:
        try:
            return self._default.entries[key]
        except KeyError:
            raise KeyError(f"unknown picto key '{key}'") from None

    def _custom_entry(self, key: str) -> Entry | None:
        if key in self._own:  # the organisation's own new picture
            assert self._custom is not None
            return self._custom.entries[key]
        self._default_entry(key)
        return self._custom.entries.get(key) if self._custom else None

    def _digest(self, path: Path) -> str:
        # Files are hashed once per library: a changed image needs a reload, like a manifest.
        with self._lock:
            digest = self._digests.get(path)
        if digest is None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            with self._lock:
                self._digests[path] = digest
        return digest

    def _picto(self, key: str, size: int) -> Image.Image:
        src = self.source(key)
        return render.load_image(src.path.read_bytes(), src.suffix, size)

    def board(self, rows: list[tuple[str, str, str]]) -> bytes:
        """The client's list as one picture (JPEG): (picto key, title, words) per part.
        Never cached, in memory or on disk: it holds a person's own words. The pictos in
        it are (drawing one from its SVG took a fifth of the picture's time)."""
        size = cards.BOARD_PICTO
        return cards.make_board([(self._kept_picto(key, size) if self.has(key) else
                                  Image.new("RGBA", (size, size)), title, words)
                                 for key, title, words in rows])

    def mat(self, columns: Sequence[tuple[str, Sequence[str]]]) -> bytes:
        """The picto mat as one picture (JPEG): per place (its picto key) the keys of the
        cards placed there. Only our own pictos and words: kept in memory, made once."""
        slot = tuple((place, tuple(keys)) for place, keys in columns)
        with self._lock:
            made = self._mats.get(slot)
            if made is not None:
                self._mats.move_to_end(slot)
                return made
        size = cards.MAT_PICTO
        made = cards.make_mat([(self._kept_picto(place, size), self.word(place),
                                [(self._kept_picto(k, size), self.word(k)) for k in keys])
                               for place, keys in columns])
        with self._lock:
            self._mats[slot] = made
            while len(self._mats) > MATS_KEPT:
                self._mats.popitem(last=False)
        return made

    def _kept_picto(self, key: str, size: int) -> Image.Image:
        """`_picto` through a small LRU in memory. The image is shared: only read it (the
        board pastes it)."""
        slot = (key, size)
        with self._lock:
            img = self._board_pictos.get(slot)
            if img is not None:
                self._board_pictos.move_to_end(slot)
                return img
        img = self._picto(key, size)  # two threads may both draw it: the same pixels
        with self._lock:
            self._board_pictos[slot] = img
            while len(self._board_pictos) > BOARD_PICTOS_KEPT:
                self._board_pictos.popitem(last=False)
        return img

    def _draw_card(self, key: str) -> bytes:
        return cards.make_card(self._picto(key, cards.card_picto_size()), self.word(key))

    def _draw_sheet(self, keys: Iterable[str], notes: bool, cols: int | None = None) -> bytes:
        size = cards.sheet_picto_size(SHEET_CELL)
        cells = [cards.Cell(self._picto(k, size), self.word(k), k if notes else None)
                 for k in keys]
        return cards.make_sheet(cells, SHEET_CELL, cols)

    def _cached(self, out: Path, content_id: str, draw: Callable[[], bytes]) -> Path:
        if out.is_file():
            return out
        with self._lock:
            lock = self._render_locks.setdefault(content_id, threading.Lock())
        with lock:
            if not out.is_file():  # another thread may have drawn it while we waited
                data = draw()
                with self._lock:
                    self.renders += 1
                out.parent.mkdir(parents=True, exist_ok=True)
                _write_atomic(out, data)
        return out


def _hash(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:20]


def _write_atomic(out: Path, data: bytes) -> None:
    # Write then rename: a reader (or a crash) never sees half a PNG.
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the PNG is no secret, others may serve it
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
