"""Each organisation's look (`bot/dialogs/look.py`) and picture library, from its row: the
path of its own picto manifest and its own texts (`python -m bot organisation set`).

Read once and kept for `LOOK_SECONDS`: a turn pays no statement for it, and a change by
the operator reaches every process within that time. A manifest that cannot be used any
more (its file gone or broken since it was checked) is logged in one line and the
deployment's pictures stand in: the organisation's people keep a working bot."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.dialogs import picto_mat
from bot.dialogs.look import Look, current, deployment
from bot.dialogs.texts import own_texts_problems
from pictos import ManifestError, PictoLibrary

log = logging.getLogger("gespreksmaatje.looks")

LOOK_SECONDS = 60.0


def look_of(library: PictoLibrary, texts: Mapping[str, str] | None = None,
            organisation_id: int | None = None) -> Look:
    """The look a picture library gives (its pictures per question, the words under
    them), with these own texts."""
    sets = library.mat_sets()
    pictures = {p for options in (*picto_mat.OWN_SETS.values(), *sets.values())
                for p in options}
    return picto_mat.look_with(sets, {p: library.word(p) for p in pictures}, texts,
                               organisation_id)


def usable_texts(texts: Any) -> tuple[dict[str, str], list[str]]:
    """The organisation's own texts that still fit this version of the bot, and what is
    wrong with the others (a text whose key or values changed since it was set)."""
    if not isinstance(texts, dict):
        return {}, []
    usable, problems = {}, []
    for key, text in texts.items():
        wrong = own_texts_problems({key: text})
        if wrong:
            problems += wrong
        else:
            usable[key] = text
    return usable, problems


@dataclass
class _Kept:
    look: Look
    pictos: PictoLibrary | None
    read_at: datetime


class Looks:
    """The looks of the organisations that have one, and their picture libraries."""

    def __init__(self, pictos: PictoLibrary | None, cache_dir: Path | None = None) -> None:
        self.base = pictos  # the deployment's library (PICTO_MANIFEST or the bot's own)
        self.cache_dir = cache_dir
        self._kept: dict[int, _Kept] = {}
        self._libraries: dict[tuple[str, int], PictoLibrary | None] = {}
        self._said: set[tuple[int, str]] = set()  # problems logged (once each)

    async def of(self, unit: Any, organisation_id: int | None,
                 now: Callable[[], datetime]) -> Look:
        """The organisation's look, read again when older than LOOK_SECONDS."""
        if organisation_id is None:
            return deployment()
        kept = self._kept.get(organisation_id)
        moment = now()
        if kept is None or (moment - kept.read_at).total_seconds() > LOOK_SECONDS:
            manifest, texts = await unit.organisation_look(organisation_id)
            kept = self._build(organisation_id, manifest, texts, moment)
            self._kept[organisation_id] = kept
        return kept.look

    def pictos(self, look: Look | None = None) -> PictoLibrary | None:
        """The picture library of a look (the one worn now): the organisation's own, else
        the deployment's."""
        look = look or current()
        kept = self._kept.get(look.organisation_id) if look.organisation_id else None
        return kept.pictos if kept is not None and kept.pictos is not None else self.base

    def _build(self, organisation_id: int, manifest: str | None, texts: Any,
               moment: datetime) -> _Kept:
        own, problems = usable_texts(texts)
        for problem in problems:
            if (organisation_id, problem) not in self._said:
                self._said.add((organisation_id, problem))
                log.warning("organisation=%d own text left out: %s", organisation_id, problem)
        library = self._library(organisation_id, manifest) if manifest else None
        if library is None and not own:
            return _Kept(deployment(), None, moment)
        if library is None:
            base = deployment()
            return _Kept(Look(organisation_id, base.sets, base.words, own), None, moment)
        return _Kept(look_of(library, own, organisation_id), library, moment)

    def _library(self, organisation_id: int, manifest: str) -> PictoLibrary | None:
        """The library of a manifest, loaded again when its file changed; None (logged
        once) when it cannot be used or there are no pictures at all."""
        if self.base is None:
            return None
        path = Path(manifest)
        try:
            changed = path.stat().st_mtime_ns
        except OSError:
            changed = -1
        if (manifest, changed) not in self._libraries:
            try:
                self._libraries[(manifest, changed)] = PictoLibrary.load(
                    path, self.cache_dir or self.base.cache_dir,
                    questions=set(picto_mat.QUESTIONS))
            except (ManifestError, OSError) as error:
                log.error("organisation=%d picto manifest cannot be used, the deployment's "
                          "pictures stand in: %s", organisation_id, error)
                self._libraries[(manifest, changed)] = None
        return self._libraries[(manifest, changed)]
