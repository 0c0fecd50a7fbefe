"""Picto manifests: load and validate.

A manifest is a YAML file that maps picto keys to images. The default set
(``pictos/default.yaml``) uses OpenMoji; an organisation adds its own set (ARASAAC,
Sclera, own photos) with a manifest of its own, without code changes::

    name: "Sclera (Zorg BV)"
    attribution: "Pictos: Sclera vzw, CC BY-NC 2.0"
    base_dir: ./images          # relative to the manifest file (default: its folder)
    pictos:
      good_day: {file: goede_dag.png, word: "Goede dag"}
      domain_housing: {file: wonen.svg}
      stopped: {openmoji: 1F6D1}  # another OpenMoji picto is fine too

Per key: ``file`` (PNG, JPEG or SVG, relative to ``base_dir``) or ``openmoji`` (a code
point sequence such as ``1F3E0`` or ``1F9D1-200D-1F527``), and optionally ``word``: the
word or two in easy Dutch under the picto. Keys an organisation leaves out, and words it
leaves out, come from the default set.

Choosing with pictures: ``mat`` names, per question, the pictures a client places on the
mat, replacing the bot's own for that question. A picture is a key of the default set
(``mat_music``), maybe with an own image under ``pictos``, or a new key of the
organisation's that starts with ``mat_`` and has a ``word`` (a photo of the client's own
day centre)::

    mat:
      good_day: [mat_music, mat_walk, mat_daycentre]
    pictos:
      mat_daycentre: {file: de-horst.jpg, word: "De Horst"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pictos import render

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".svg"}
ENTRY_FIELDS = {"file", "openmoji", "word"}
TOP_FIELDS = {"name", "attribution", "base_dir", "pictos", "mat"}
NEW_KEY_PREFIX = "mat_"  # an organisation's own pictures for the mat may be new keys
MAT_SIZE = (2, 12)  # pictures per question: at least, at most
MAX_WORD = 30  # longer text no longer fits in big letters under a picto
_SEQ_RE = re.compile(r"^[0-9A-Fa-f]{2,6}(-[0-9A-Fa-f]{2,6})*$")

DEFAULT_MANIFEST = Path(__file__).with_name("default.yaml")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message is one clear line for an operator."""


@dataclass(frozen=True)
class Entry:
    """One key of a manifest: an image (own file or OpenMoji) and maybe a word."""

    key: str
    file: Path | None = None
    openmoji: str | None = None
    word: str | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    attribution: str
    path: Path | None
    entries: dict[str, Entry] = field(default_factory=dict)
    mat: dict[str, tuple[str, ...]] = field(default_factory=dict)  # question -> pictures


def default_keys() -> set[str]:
    """Keys of the default set: the keys the bot knows."""
    return set(load_manifest(DEFAULT_MANIFEST).entries)


def check_manifest(path: Path, known_keys: set[str] | None = None,
                   questions: set[str] | None = None) -> list[str]:
    """Problems with a manifest, in easy English for an operator; empty list = ok.

    ``known_keys`` defaults to the keys of the default set; ``questions``: the questions
    that can be answered with pictures (None: any name is taken).
    """
    if known_keys is None:
        known_keys = default_keys()
    _, problems = _parse(Path(path), known_keys, questions)
    return problems


def load_manifest(path: Path, known_keys: set[str] | None = None,
                  questions: set[str] | None = None) -> Manifest:
    """Load a manifest; raises ManifestError (one line) when anything is wrong."""
    manifest, problems = _parse(Path(path), known_keys, questions)
    if problems or manifest is None:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ManifestError(f"{problems[0]}{more}")
    return manifest


def _parse(path: Path, known_keys: set[str] | None,
           questions: set[str] | None = None) -> tuple[Manifest | None, list[str]]:
    data, problem = _read_yaml(path)
    if problem:
        return None, [problem]
    assert isinstance(data, dict)
    problems = [
        f"{path}: unknown setting '{k}' (use: {', '.join(sorted(TOP_FIELDS))})"
        for k in data
        if k not in TOP_FIELDS
    ]
    base = path.parent / str(data.get("base_dir") or ".")
    if not base.is_dir():
        problems.append(f"{path}: base_dir folder '{base}' does not exist")
    pictos = data.get("pictos")
    if not isinstance(pictos, dict) or not pictos:
        problems.append(f"{path}: 'pictos' is missing or empty; it must map keys to images")
        pictos = {}
    entries: dict[str, Entry] = {}
    for raw_key, raw in pictos.items():
        key = _key_name(raw_key)
        entry, entry_problems = _parse_entry(path, key, raw, base)
        new = known_keys is not None and key not in known_keys
        if new and not key.startswith(NEW_KEY_PREFIX):
            entry_problems.insert(0, f"{path}: unknown key '{key}' (not a picto the bot uses)")
        elif new and entry is not None and not entry.word:
            entry_problems.append(f"{path}: key '{key}' is a new picture: give it a 'word'")
        problems += entry_problems
        if entry is not None:
            entries[key] = entry
    mat, mat_problems = _parse_mat(path, data.get("mat"), (known_keys or set()) | set(entries),
                                   questions)
    manifest = Manifest(
        name=str(data.get("name") or path.stem),
        attribution=str(data.get("attribution") or "").strip(),
        path=path,
        entries=entries,
        mat=mat,
    )
    return manifest, problems + mat_problems


def _parse_mat(path: Path, raw: object, keys: set[str], questions: set[str] | None
               ) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """The pictures per question for choosing with pictures (checked against `keys`)."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [f"{path}: 'mat' must map questions to lists of pictures"]
    sets, problems = {}, []
    low, high = MAT_SIZE
    for question, pictures in raw.items():
        where = f"{path}: mat '{question}'"
        if questions is not None and question not in questions:
            problems.append(f"{where}: not a question that can be answered with pictures "
                            f"(use: {', '.join(sorted(questions))})")
            continue
        if not isinstance(pictures, list) or not all(isinstance(p, str) for p in pictures):
            problems.append(f"{where} must be a list of picture keys")
            continue
        problems += [f"{where}: unknown picture '{p}' (add it under 'pictos' with a file "
                     "and a word)" for p in pictures if p not in keys]
        if len(set(pictures)) != len(pictures):
            problems.append(f"{where}: a picture is listed twice")
        if not low <= len(pictures) <= high:
            problems.append(f"{where}: give {low} to {high} pictures (now {len(pictures)})")
        sets[str(question)] = tuple(pictures)
    return sets, problems


def _read_yaml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    if not path.is_file():
        return None, f"{path}: manifest file not found"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path}: cannot read the manifest ({exc.__class__.__name__})"
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        return None, f"{path}: bad YAML{line}; check the indentation and colons"
    if not isinstance(data, dict):
        return None, f"{path}: a manifest must be a YAML mapping with 'pictos:'"
    return data, None


def _key_name(raw_key: object) -> str:
    # YAML 1.1 reads a bare `yes:` / `no:` as a boolean; the operator meant the key.
    if raw_key is True:
        return "yes"
    if raw_key is False:
        return "no"
    return str(raw_key)


def _parse_entry(path: Path, key: str, raw: object, base: Path) -> tuple[Entry | None, list[str]]:
    where = f"{path}: key '{key}'"
    if isinstance(raw, str):  # short form: `good_day: goede_dag.png`
        raw = {"file": raw}
    if not isinstance(raw, dict):
        return None, [f"{where} has no picto; give it a 'file' or 'openmoji'"]
    problems = [
        f"{where}: unknown field '{f}' (use: file, openmoji, word)"
        for f in raw
        if f not in ENTRY_FIELDS
    ]
    word = raw.get("word")
    if word is not None:
        word = str(word).strip()
        if not word or len(word) > MAX_WORD:
            problems.append(f"{where}: word must be 1 to {MAX_WORD} characters")
    file_value, seq = raw.get("file"), raw.get("openmoji")
    if file_value is None and seq is None:
        problems.append(f"{where} has no picto; give it a 'file' or 'openmoji'")
        return None, problems
    if file_value is not None and seq is not None:
        problems.append(f"{where}: give 'file' or 'openmoji', not both")
        return None, problems
    if seq is not None:
        seq = str(seq).upper()
        problems += _check_openmoji(where, seq)
        return Entry(key, openmoji=seq, word=word), problems
    file = base / str(file_value)
    problems += _check_file(where, file)
    return Entry(key, file=file, word=word), problems


def _check_openmoji(where: str, seq: str) -> list[str]:
    if not _SEQ_RE.match(seq):
        return [f"{where}: openmoji '{seq}' is not a code point like 1F3E0"]
    if render.openmoji_svg(seq) is None:
        return [f"{where}: OpenMoji has no picto for '{seq}'"]
    return []


def _check_file(where: str, file: Path) -> list[str]:
    if not file.is_file():
        return [f"{where}: image file '{file}' not found"]
    if file.suffix.lower() not in IMAGE_SUFFIXES:
        return [f"{where}: image '{file.name}' must be PNG, JPEG or SVG"]
    try:
        render.load_image(file.read_bytes(), file.suffix, 64)
    except render.ImageProblem as exc:
        return [f"{where}: cannot read image '{file.name}' ({exc})"]
    return []
