"""On-disk cache of spoken clips with an offline fallback and a circuit breaker; the
sentences of read-backs (a person's words) are held in memory only, never on disk.

Flow for one text: primary clip on disk -> served. Otherwise, if the primary (gTTS) is
not in its cool-down, try it; on failure open the breaker and let the fallback
(espeak-ng) stand in. A fallback clip is only an interim: once the breaker has closed,
the next request tries the primary again and, on success, deletes the fallback file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from voice.media import MediaError, probe_audio
from voice.opus import ConversionError, VoiceClip, join_voice, to_voice_ogg
from voice.tts import SpeechError, Synthesizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedClip:
    path: Path  # the .ogg file, ready for sendVoice
    duration: float
    engine: str
    key: str  # stable hex id; the bot maps it to Telegram's file_id
    private: bool = False  # holds a person's words: send by upload, then discard()

    def discard(self) -> None:
        """A private clip is removed once sent (shared clips stay cached)."""
        if self.private:
            self.path.unlink(missing_ok=True)


@dataclass
class SpeechStats:
    """Counters for the benchmark and the health page."""

    syntheses: Counter[str] = field(default_factory=Counter)  # per engine name
    hits: int = 0  # served from disk/memory without synthesis
    misses: int = 0  # started a synthesis job
    shared: int = 0  # joined a job another request had already started
    failures: Counter[str] = field(default_factory=Counter)  # per engine name
    unavailable: int = 0  # no engine produced audio: the bot sends text only

    @property
    def requests(self) -> int:
        return self.hits + self.misses + self.shared

    @property
    def hit_rate(self) -> float:
        """Share of requests served from a finished clip on disk/in memory."""
        return self.hits / self.requests if self.requests else 0.0

    def reset(self) -> None:
        self.syntheses.clear()
        self.failures.clear()
        self.hits = self.misses = self.shared = self.unavailable = 0


# Where a text is cut into sentences: after . ! ? or … and a space, and at a line break.
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s*\n\s*")


def sentences(text: str) -> list[str]:
    """The sentences of `text`, each spoken and kept as a clip of its own."""
    return [part for part in SENTENCE_END.split(text.strip()) if part] or [text]


def clip_key(engine: str, lang: str, speed: str, text: str) -> str:
    raw = "\x1f".join((engine, lang, speed, text))  # unit separator: fields can't blur
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# Memory for the sentences of read-backs: a few thousand short sentences.
PRIVATE_MEMORY_BYTES = 8 * 1024 * 1024


class MemoryClips:
    """Clips by key in memory, the least recently used dropped beyond `budget` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._clips: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        clip = self._clips.get(key)
        if clip is not None:
            self._clips.move_to_end(key)
        return clip

    def put(self, key: str, clip: bytes) -> None:
        if key in self._clips or len(clip) > self.budget:
            return
        self._clips[key] = clip
        self.size += len(clip)
        while self.size > self.budget:
            _key, dropped = self._clips.popitem(last=False)
            self.size -= len(dropped)


class SpeechCache:
    def __init__(
        self,
        cache_dir: Path,
        primary: Synthesizer,
        fallback: Synthesizer | None = None,
        breaker_seconds: float = 180,
        clock: Callable[[], float] = time.monotonic,
        hard_timeout: float = 15.0,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.primary = primary
        self.fallback = fallback
        self.breaker_seconds = breaker_seconds
        self.clock = clock
        # Last resort against an engine that ignores its own timeout; the worker thread
        # cannot be killed, but the conversation does not wait for it.
        self.hard_timeout = hard_timeout
        self.stats = SpeechStats()
        self._primary_down_until: float | None = None
        self._known: dict[str, CachedClip] = {}
        self._inflight: dict[tuple[str, bool], asyncio.Task[CachedClip | None]] = {}
        self._sentences_made: dict[str, asyncio.Task[CachedClip]] = {}
        # Sentences of read-backs (a person's words), in memory only and never on disk:
        # the list read back after every answer makes only its new sentence.
        self._private_sentences = MemoryClips(PRIVATE_MEMORY_BYTES)
        # Read-backs of a person's words are made here and removed once sent; what a
        # crash left behind is removed at start.
        self.private_dir = self.cache_dir / "private"
        shutil.rmtree(self.private_dir, ignore_errors=True)
        self.private_dir.mkdir(parents=True, exist_ok=True)

    # -- public API -------------------------------------------------------------

    def key_for(self, engine: Synthesizer, text: str, slow: bool = False) -> str:
        return clip_key(engine.name, engine.lang, engine.speed(slow), text)

    def primary_available(self) -> bool:
        """False while the breaker is open (primary failed less than breaker_seconds ago)."""
        until = self._primary_down_until
        return until is None or self.clock() >= until

    async def clip(self, text: str, slow: bool = False) -> CachedClip | None:
        """A voice clip for `text`, or None when no engine works (send text only)."""
        found = await self._lookup(self.primary, text, slow)
        if found is not None:
            self.stats.hits += 1
            return found
        if not self.primary_available():
            # Breaker open: a fallback clip on disk is as good as it gets for now.
            found = await self._lookup(self.fallback, text, slow)
            if found is not None:
                self.stats.hits += 1
                return found
        # One job per text: concurrent callers await the same task.
        task, new = _once(self._inflight, (text, slow), lambda: self._produce(text, slow))
        if new:
            self.stats.misses += 1
        else:
            self.stats.shared += 1
        # shield: one caller being cancelled must not cancel the others' job.
        return await asyncio.shield(task)

    async def private_clip(self, text: str, slow: bool = False,
                           offline_only: bool = False) -> CachedClip | None:
        """A clip for a text that holds a person's words (a read-back of answers). Its
        sentences already in the cache (the fixed words) are used as they are; the others
        are made into a private folder and never kept: the joined clip is private and the
        caller discards it once sent. `offline_only`: made by the fallback engine only,
        so the words never go to the primary (gTTS, an online service)."""
        engines: list[Synthesizer] = []
        if not offline_only and self.primary_available():
            engines.append(self.primary)
        if self.fallback is not None:
            engines.append(self.fallback)
        for engine in engines:
            clip = await self._private(engine, text, slow)
            if clip is not None:
                return clip
            if engine is self.primary:
                if self.primary_available():
                    log.warning("primary speech engine down; breaker open %ss",
                                self.breaker_seconds)
                self._primary_down_until = self.clock() + self.breaker_seconds
        self.stats.unavailable += 1
        return None

    async def _private(self, engine: Synthesizer, text: str, slow: bool
                       ) -> CachedClip | None:
        async def one(sentence: str) -> bytes:
            found = await self._lookup(engine, sentence, slow)
            if found is not None:
                self.stats.hits += 1
                return await asyncio.to_thread(found.path.read_bytes)
            key = self.key_for(engine, sentence, slow)
            held = self._private_sentences.get(key)
            if held is not None:  # the same answer read back again (the list after each answer)
                self.stats.hits += 1
                return held
            self.stats.misses += 1
            ogg = await asyncio.wait_for(asyncio.to_thread(
                self._make_private, engine, sentence, slow), timeout=self.hard_timeout)
            self._private_sentences.put(key, ogg)
            return ogg

        try:
            pieces = await asyncio.gather(*(one(part) for part in sentences(text)))
            path = self.private_dir / f"{secrets.token_hex(16)}.ogg"
            voice = await asyncio.to_thread(join_voice, list(pieces))
            await asyncio.to_thread(path.write_bytes, voice.ogg)
        except (SpeechError, ConversionError, TimeoutError, OSError) as exc:
            self.stats.failures[engine.name] += 1
            log.warning("speech engine %s failed on a read-back: %s", engine.name,
                        type(exc).__name__)  # the error may quote the words: not logged
            return None
        self.stats.syntheses[engine.name] += 1
        return CachedClip(path=path, duration=voice.duration, engine=engine.name,
                          key=path.stem, private=True)

    @staticmethod
    def _make_private(engine: Synthesizer, text: str, slow: bool) -> bytes:
        """Runs in a worker thread: a sentence with a person's words, in memory only."""
        audio, fmt = engine.synthesize(text, slow)
        return to_voice_ogg(audio, fmt).ogg

    async def warm(self, texts: Iterable[str], concurrency: int = 4, slow: bool = False) -> int:
        """Make sure every text has a clip; returns how many have one afterwards."""
        gate = asyncio.Semaphore(concurrency)

        async def one(text: str) -> bool:
            async with gate:
                return await self.clip(text, slow) is not None

        results = await asyncio.gather(*(one(t) for t in dict.fromkeys(texts)))
        return sum(results)

    # -- internals --------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.cache_dir / f"{key}.ogg"

    async def _lookup(self, engine: Synthesizer | None, text: str, slow: bool) -> CachedClip | None:
        if engine is None:
            return None
        key = self.key_for(engine, text, slow)
        known = self._known.get(key)
        if known is not None:
            return known
        path = self._path(key)
        if not path.exists():
            return None
        # A clip left by an earlier run: read its duration off the file, off the loop.
        try:
            duration, _mime = await asyncio.to_thread(probe_audio, path)
        except MediaError:
            log.warning("corrupt cached clip %s; will re-synthesise", path)
            path.unlink(missing_ok=True)
            return None
        clip = CachedClip(path=path, duration=duration, engine=engine.name, key=key)
        self._known[key] = clip
        return clip

    async def _produce(self, text: str, slow: bool) -> CachedClip | None:
        # A job for this text may have finished while this caller was probing the disk.
        done = self._known.get(self.key_for(self.primary, text, slow))
        if done is not None:
            return done
        if self.primary_available():
            clip = await self._synthesize(self.primary, text, slow)
            if clip is not None:
                self._primary_down_until = None
                self._drop_fallback(text, slow)
                return clip
            if self.primary_available():  # the first failure says it; the others are quiet
                log.warning("primary speech engine down; breaker open %ss",
                            self.breaker_seconds)
            self._primary_down_until = self.clock() + self.breaker_seconds
        if self.fallback is None:
            self.stats.unavailable += 1
            return None
        clip = await self._lookup(self.fallback, text, slow)
        if clip is None:
            clip = await self._synthesize(self.fallback, text, slow)
        if clip is None:
            self.stats.unavailable += 1
        return clip

    async def _synthesize(self, engine: Synthesizer, text: str, slow: bool) -> CachedClip | None:
        key = self.key_for(engine, text, slow)
        parts = sentences(text)
        try:
            if len(parts) == 1:
                clip = await self._made(engine, text, slow, key)
            else:  # each sentence is a clip of its own (and stays one), joined
                pieces = await asyncio.gather(*(self._sentence(engine, part, slow)
                                                for part in parts))
                clip = await asyncio.to_thread(self._join_file, engine, pieces, key)
        except (SpeechError, ConversionError, TimeoutError, OSError) as exc:
            self.stats.failures[engine.name] += 1
            # Jobs that were under way when the breaker opened fail too: one line is enough.
            quiet = engine is self.primary and not self.primary_available()
            (log.debug if quiet else log.warning)("speech engine %s failed: %s",
                                                  engine.name, exc)
            return None
        self.stats.syntheses[engine.name] += 1
        self._known[key] = clip
        return clip

    async def _sentence(self, engine: Synthesizer, sentence: str, slow: bool) -> CachedClip:
        """One sentence's clip: kept, or made now. A welcome that differs only in the name,
        or a read-back with one answer changed, makes only the new sentence."""
        found = await self._lookup(engine, sentence, slow)
        if found is not None:
            return found
        key = self.key_for(engine, sentence, slow)
        # Texts made at once share a sentence: it is made once.
        task, _new = _once(self._sentences_made, key,
                           lambda: self._made(engine, sentence, slow, key))
        clip = await asyncio.shield(task)
        self._known[key] = clip
        return clip

    async def _made(self, engine: Synthesizer, text: str, slow: bool, key: str) -> CachedClip:
        return await asyncio.wait_for(
            asyncio.to_thread(self._make_file, engine, text, slow, key),
            timeout=self.hard_timeout)

    def _make_file(self, engine: Synthesizer, text: str, slow: bool, key: str) -> CachedClip:
        """Runs in a worker thread: synthesis, conversion and the atomic write."""
        audio, fmt = engine.synthesize(text, slow)
        return self._write(to_voice_ogg(audio, fmt), engine, key)

    def _join_file(self, engine: Synthesizer, pieces: list[CachedClip], key: str
                   ) -> CachedClip:
        """Runs in a worker thread: the sentences' clips as one, written atomically."""
        return self._write(join_voice([p.path.read_bytes() for p in pieces]), engine, key)

    def _write(self, voice: VoiceClip, engine: Synthesizer, key: str) -> CachedClip:
        path = self._path(key)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(voice.ogg)
            os.replace(tmp, path)  # readers never see a half-written clip
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return CachedClip(path=path, duration=voice.duration, engine=engine.name, key=key)

    def _drop_fallback(self, text: str, slow: bool) -> None:
        """The primary clip now exists: the interim fallback clip is no longer wanted."""
        if self.fallback is None:
            return
        key = self.key_for(self.fallback, text, slow)
        self._known.pop(key, None)
        self._path(key).unlink(missing_ok=True)


K = TypeVar("K")
T = TypeVar("T")


def _once(jobs: dict[K, asyncio.Task[T]], key: K,
          start: Callable[[], Coroutine[Any, Any, T]]) -> tuple[asyncio.Task[T], bool]:
    """The job under way for `key`, or a new one (True) that leaves `jobs` when it ends."""
    task = jobs.get(key)
    if task is not None:
        return task, False
    task = jobs[key] = asyncio.create_task(start())
    task.add_done_callback(lambda _t: jobs.pop(key, None))
    return task, True
