"""Tests for the pictos package: default set, cards, caching, own manifests, CLI."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from pictos import ManifestError, PictoLibrary, cards, check_manifest
from pictos.__main__ import main as cli_main

STEPS = [
    "welcome", "good_at", "appreciated", "agenda", "agenda_more", "domains", "good_day",
    "bad_day", "works", "not_works", "important", "future", "learn", "meeting_where",
    "meeting_who", "meeting_chair", "meeting_how", "how_short", "how_break", "how_pictos",
    "how_calm", "how_someone", "sharing", "review", "done", "paused", "stopped",
]
DOMAINS = [
    "domain_health", "domain_daytime", "domain_social", "domain_feelings", "domain_learning",
    "domain_housing", "domain_money", "domain_choices", "domain_intimacy", "domain_meaning",
]
MOVES = ["skip", "pause", "back", "again", "next", "yes", "no", "change", "remove", "up", "add",
         "confirm"]
ROLES = ["begeleider", "naaste", "admin", "meeting_date", "talked_yes", "talked_bit", "talked_no"]
ALL_KEYS = STEPS + DOMAINS + MOVES + ROLES
DOMAIN_WORDS = {
    "domain_health": "Gezondheid",
    "domain_daytime": "Dagbesteding en vrije tijd",
    "domain_social": "Vrienden en familie",
    "domain_feelings": "Gevoel",
    "domain_learning": "Leren",
    "domain_housing": "Wonen",
    "domain_money": "Geld en rechten",
    "domain_choices": "Zelf kiezen",
    "domain_intimacy": "Liefde en seks",
    "domain_meaning": "Geloof",
}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("picto-cache")


@pytest.fixture()
def lib(shared_cache: Path) -> PictoLibrary:
    return PictoLibrary.load(cache_dir=shared_cache)


def _png(path: Path) -> Image.Image:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _write_manifest(folder: Path, body: str) -> Path:
    path = folder / "manifest.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _own_png(path: Path, colour: str = "red", size: tuple[int, int] = (300, 200)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


# -- the default set ---------------------------------------------------------------------


def test_every_key_has_a_picto_and_a_word(lib: PictoLibrary) -> None:
    assert set(ALL_KEYS) <= set(lib.keys())
    for key in ALL_KEYS:
        assert lib.has(key)
        assert lib.source(key).path.is_file(), key
        word = lib.word(key)
        assert word and len(word) <= 30 and len(word.split()) <= 4, key
        assert lib.emoji(key), key


def test_domain_words_follow_seed_003(lib: PictoLibrary) -> None:
    assert {k: lib.word(k) for k in DOMAINS} == DOMAIN_WORDS


def test_default_manifest_checks_clean() -> None:
    assert check_manifest(Path(__file__).parents[1] / "pictos" / "default.yaml") == []


def test_emoji_for_buttons(lib: PictoLibrary) -> None:
    assert lib.emoji("domain_housing") == "\U0001f3e0"
    assert lib.emoji("back") == "\u2b05\ufe0f"  # with FE0F, so Telegram shows it in colour
    assert not lib.has("nonsense")
    with pytest.raises(KeyError):
        lib.word("nonsense")


def test_attribution_names_openmoji_license(lib: PictoLibrary) -> None:
    lines = lib.attribution()
    assert len(lines) == 1 and "OpenMoji" in lines[0] and "CC BY-SA 4.0" in lines[0]


# -- cards and caching -------------------------------------------------------------------


def test_card_is_512_png(lib: PictoLibrary) -> None:
    img = _png(lib.card("good_day"))
    assert img.size == (512, 512)
    assert img.getpixel((0, 0)) == (255, 255, 255)  # white card
    assert lib.card_id("good_day") in lib.card("good_day").name


def test_text_is_drawn_without_the_fonts_hinting_and_at_the_same_widths() -> None:
    """The font's hinting programs made every drawn line four times slower (pictos/cards.py,
    _unhinted_font); without them every glyph keeps its width, kerning and shaping, so the
    lines break where they did."""
    import uharfbuzz as hb

    path = cards.font_path()
    assert path is not None and path.name.startswith("AtkinsonHyperlegible")
    unhinted = cards._unhinted_font()
    assert unhinted is not None
    tags = set(hb.Face(unhinted).table_tags)
    assert not tags & {"fpgm", "prep", "cvt "} and {"GPOS", "GSUB", "glyf", "cmap"} <= tags
    drawn_with = cards.font(30)
    assert getattr(drawn_with, "font_bytes", None) == unhinted
    hinted = ImageFont.truetype(str(path), 30)
    for line in ("Waar ik goed in ben", "Ik kan goed tekenen, zwemmen en koken!",
                 "Één keer per week naar oma’s huis", "ÀÉÎÕÜ ß ĳ € 1234567890"):
        assert drawn_with.getlength(line) == hinted.getlength(line)
    assert cards.wrap("Ik kan goed tekenen en ik ben grappig met mijn vrienden", 30, 400, 3) \
        == ["Ik kan goed tekenen en ik", "ben grappig met mijn", "vrienden"]


def test_card_is_deterministic(tmp_path: Path) -> None:
    first = PictoLibrary.load(cache_dir=tmp_path / "a").card("domain_housing")
    second = PictoLibrary.load(cache_dir=tmp_path / "b").card("domain_housing")
    assert first.read_bytes() == second.read_bytes()
    assert first.name == second.name
    assert b"tIME" not in first.read_bytes()  # no timestamp in the PNG


def test_card_rendered_once_even_across_threads(tmp_path: Path) -> None:
    library = PictoLibrary.load(cache_dir=tmp_path)
    paths: list[Path] = []
    threads = [threading.Thread(target=lambda: paths.append(library.card("works")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert library.renders == 1 and len(set(paths)) == 1
    library.card("works")
    assert library.renders == 1


def test_warm_renders_every_card(tmp_path: Path) -> None:
    library = PictoLibrary.load(cache_dir=tmp_path)
    assert library.warm(max_workers=4) == len(library.keys())
    assert len(list(tmp_path.glob("card-*.png"))) == len(library.keys())
    assert library.renders == len(library.keys())


def test_domains_sheet_is_png(lib: PictoLibrary) -> None:
    path = lib.sheet(DOMAINS)
    img = _png(path)
    assert img.width > img.height > 300
    assert lib.sheet(DOMAINS) == path


def test_contact_sheet(lib: PictoLibrary, tmp_path: Path) -> None:
    out = lib.contact_sheet(tmp_path / "sheet.png")
    assert _png(out).width >= 8 * 250


# -- an organisation's own manifest ------------------------------------------------------


def test_own_png_changes_one_card_only(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _own_png(images / "goede_dag.png")
    manifest = _write_manifest(tmp_path, """
name: "Eigen set"
attribution: "Pictos: Zorg BV, eigen foto's"
base_dir: ./images
pictos:
  good_day: {file: goede_dag.png, word: "Fijne dag"}
""")
    default = PictoLibrary.load(cache_dir=tmp_path / "cache")
    own = PictoLibrary.load(manifest, cache_dir=tmp_path / "cache")
    assert own.card_id("good_day") != default.card_id("good_day")
    assert own.card("good_day") != default.card("good_day")
    assert own.word("good_day") == "Fijne dag"
    assert own.emoji("good_day") == default.emoji("good_day")
    for key in ("bad_day", "domain_housing", "yes"):
        assert own.card_id(key) == default.card_id(key)
        assert own.word(key) == default.word(key)
    card = _png(own.card("good_day"))
    assert card.size == (512, 512)
    red = card.getpixel((256, 160))
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 60  # own image is on it
    assert own.attribution() == [default.attribution()[0], "Pictos: Zorg BV, eigen foto's"]


def test_changed_image_gives_new_card_id(tmp_path: Path) -> None:
    image = _own_png(tmp_path / "wonen.png", "blue")
    manifest = _write_manifest(tmp_path, "pictos:\n  domain_housing: {file: wonen.png}\n")
    before = PictoLibrary.load(manifest, cache_dir=tmp_path).card_id("domain_housing")
    _own_png(image, "green")
    after = PictoLibrary.load(manifest, cache_dir=tmp_path).card_id("domain_housing")
    assert before != after


def test_own_svg_and_jpeg(tmp_path: Path) -> None:
    (tmp_path / "wonen.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="80">'
        '<rect width="40" height="80" fill="#0000ff"/></svg>', encoding="utf-8")
    Image.new("RGB", (120, 90), "green").save(tmp_path / "geld.jpg", quality=90)
    manifest = _write_manifest(tmp_path, """
pictos:
  domain_housing: {file: wonen.svg}
  domain_money: geld.jpg
  yes: {openmoji: 1F44D}
""")
    assert check_manifest(manifest) == []
    library = PictoLibrary.load(manifest, cache_dir=tmp_path / "cache")
    assert _png(library.card("domain_housing")).size == (512, 512)
    assert _png(library.card("domain_money")).size == (512, 512)
    assert library.emoji("yes") == "\u2705"  # buttons keep the default emoji


# -- broken manifests: clear errors from load and from check ------------------------------


BROKEN = {
    "missing file": ("pictos:\n  good_day: {file: weg.png}\n", "not found"),
    "unknown key": ("pictos:\n  good_dag: {openmoji: 1F600}\n", "unknown key 'good_dag'"),
    "bad yaml": ("pictos:\n  good_day: {file: [unclosed\n", "bad YAML"),
    "unreadable image": ("pictos:\n  good_day: {file: kapot.png}\n", "cannot read image"),
    "no picto": ("pictos:\n  good_day: {word: \"Goede dag\"}\n", "has no picto"),
    "bad code point": ("pictos:\n  good_day: {openmoji: ZZZ}\n", "not a code point"),
    # Choosing with pictures: the organisation's pictures per question.
    "mat: unknown picture": ("pictos:\n  stopped: {openmoji: 1F6D1}\nmat:\n"
                             "  good_day: [mat_music, mat_nothere]\n",
                             "unknown picture 'mat_nothere'"),
    "mat: new picture without a word": ("pictos:\n  mat_horst: {openmoji: 1F3E0}\n",
                                        "give it a 'word'"),
    "mat: one picture": ("pictos:\n  stopped: {openmoji: 1F6D1}\nmat:\n"
                         "  good_day: [mat_music]\n", "give 2 to 12 pictures"),
    "mat: not a list": ("pictos:\n  stopped: {openmoji: 1F6D1}\nmat:\n"
                        "  good_day: mat_music\n", "must be a list"),
}


def test_an_organisations_own_pictures_for_the_mat(tmp_path: Path) -> None:
    _own_png(tmp_path / "horst.png", "green")
    manifest = _write_manifest(tmp_path, (
        "pictos:\n  mat_horst: {file: horst.png, word: \"De Horst\"}\n"
        "  mat_music: {openmoji: 1F3B8, word: Gitaar}\n"
        "mat:\n  good_day: [mat_horst, mat_music, mat_walk]\n"))
    assert check_manifest(manifest) == []
    assert "not a question" in check_manifest(manifest, questions={"bad_day"})[0]
    lib = PictoLibrary.load(manifest, cache_dir=tmp_path / "cache")
    assert lib.mat_sets() == {"good_day": ("mat_horst", "mat_music", "mat_walk")}
    assert lib.has("mat_horst") and lib.keys()[-1] == "mat_horst"
    assert lib.word("mat_horst") == "De Horst" and lib.word("mat_music") == "Gitaar"
    assert lib.emoji("mat_horst") == ""  # no emoji for a photo: the label is the word
    assert _png(lib.card("mat_horst")).size == (512, 512)
    assert lib.mat([("mat_fine", ["mat_horst"]), ("mat_unsure", []),
                    ("mat_not_fine", [])])[:2] == b"\xff\xd8"


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_manifest(case: str, tmp_path: Path) -> None:
    body, expected = BROKEN[case]
    (tmp_path / "kapot.png").write_bytes(b"this is not a png")
    manifest = _write_manifest(tmp_path, body)
    problems = check_manifest(manifest)
    assert len(problems) == 1 and expected in problems[0], problems
    with pytest.raises(ManifestError) as err:
        PictoLibrary.load(manifest, cache_dir=tmp_path)
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_missing_manifest_file(tmp_path: Path) -> None:
    assert "not found" in check_manifest(tmp_path / "nope.yaml")[0]
    with pytest.raises(ManifestError, match="not found"):
        PictoLibrary.load(tmp_path / "nope.yaml")


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    manifest = _write_manifest(tmp_path, "pictos:\n  foo: {file: a.png}\n  bar: {file: b.png}\n")
    assert len(check_manifest(manifest)) == 4
    with pytest.raises(ManifestError, match="and 3 more problems"):
        PictoLibrary.load(manifest)


# -- command line --------------------------------------------------------------------------


def test_cli_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write_manifest(tmp_path, "pictos:\n  stopped: {openmoji: 1F6D1}\n")
    assert cli_main(["check", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("pictos: [\n", encoding="utf-8")
    assert cli_main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad YAML" in out and "Traceback" not in out


def test_cli_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sheet.png"
    assert cli_main(["sheet", str(out)]) == 0
    assert _png(out).width > 0
    assert cli_main(["sheet", str(out), "--manifest", str(tmp_path / "nope.yaml")]) == 1
    assert "not found" in capsys.readouterr().err


def test_the_picture_of_the_list_grows_with_the_parts_and_cuts_long_words(
        shared_cache: Path) -> None:
    library = PictoLibrary.load(None, shared_cache)
    one = library.board([("good_at", "Waar ik goed in ben", "Tekenen; Koken")])
    rows = [(key, key, "woord " * 2000) for key in ("good_at", "agenda", "works", "nope")]
    four = library.board(rows)  # an unknown picto leaves its place empty
    assert one == library.board([("good_at", "Waar ik goed in ben", "Tekenen; Koken")])
    small, large = Image.open(io.BytesIO(one)), Image.open(io.BytesIO(four))
    assert small.width == large.width == cards.BOARD_WIDTH
    assert large.height > 3 * small.height  # a band per part; three lines at most each
    assert large.height < 4 * 3 * small.height
    lines = cards.wrap("ä" * 4000, 30, 794, 3)
    assert len(lines) == 1 and lines[0].endswith(" …")
    assert cards.wrap("kort", 30, 794, 3) == ["kort"]
