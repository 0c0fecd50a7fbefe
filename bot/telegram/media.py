"""Pictos and speech as Telegram sends: each file is made once (on disk) and uploaded once
(its Telegram file_id is kept in the database and reused, also after a restart)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.dialogs.client_prep import DOMAINS
from bot.dialogs.types import BoardRow
from bot.settings import Settings
from bot.state.models import PictoCache, SpeechCache
from bot.state.store import Store
from bot.telegram.split import speech_pieces
from pictos import PictoLibrary
from voice import EspeakSynthesizer, GttsSynthesizer
from voice import SpeechCache as ClipCache

log = logging.getLogger("gespreksmaatje.media")


class TelegramMedia:
    """The `MediaSource` of the sender: picto cards and voice clips with cached file ids."""

    def __init__(self, store: Store, pictos: PictoLibrary | None,
                 speech: ClipCache | None) -> None:
        self.store = store
        self.pictos = pictos
        self.speech = speech
        self._file_ids: dict[tuple[str, str], str] = {}  # (table, key) → file_id
        self._uploading: dict[tuple[str, str], asyncio.Lock] = {}

    async def warm(self, texts: list[str]) -> None:
        """Fill the caches in the background at start-up (start-up does not wait)."""
        if self.pictos is not None:
            count = await asyncio.to_thread(self.pictos.warm)
            log.info("picto cards ready: %d", count)
        if self.speech is not None:
            count = await self.speech.warm(texts, concurrency=4)
            log.info("voice clips ready: %d", count)

    def label(self, key: str) -> str:
        if self.pictos is None or not self.pictos.has(key):
            return ""
        return self.pictos.emoji(key)

    async def send_picto(self, bot: Bot, chat_id: int, key: str, caption: str | None = None,
                         markup: InlineKeyboardMarkup | None = None) -> bool:
        """The card of `key` with `caption` (HTML) and buttons; without a caption the card
        says its word. False when there is no card for `key`."""
        if self.pictos is None:
            return False
        pictos = self.pictos
        if key == "domains":  # one sheet with the ten life domains
            path = await asyncio.to_thread(pictos.sheet, list(DOMAINS))
            cache_key = f"sheet-{path.stem}"
        elif pictos.has(key):
            cache_key = f"card-{pictos.card_id(key)}"
            path = await asyncio.to_thread(pictos.card, key)
        else:
            return False
        if caption is None:
            caption = pictos.word(key) if key != "domains" else None
            mode = None
        else:
            mode = ParseMode.HTML
        await self._send(PictoCache, cache_key, path, lambda file: bot.send_photo(
            chat_id, file, caption=caption, parse_mode=mode, reply_markup=markup))
        return True

    async def send_board(self, bot: Bot, chat_id: int, rows: tuple[BoardRow, ...],
                         caption: str, markup: InlineKeyboardMarkup | None) -> bool:
        """A picture of the client's list (each part's picto with their words). Made
        anew each time (it holds the person's own words) and never cached on disk."""
        if self.pictos is None:
            return False
        pictos = self.pictos
        data = await asyncio.to_thread(
            pictos.board, [(r.picto, r.title, r.words) for r in rows])
        await bot.send_photo(chat_id, data, caption=caption, parse_mode=ParseMode.HTML,
                             reply_markup=markup)
        return True

    async def send_voice(self, bot: Bot, chat_id: int, text: str, slow: bool = False) -> None:
        """A long text goes out as a few short voice messages (a long list is not made
        into one clip of minutes while the person waits)."""
        if self.speech is None:
            return
        for piece in speech_pieces(text):
            clip = await self.speech.clip(piece, slow=slow)
            if clip is None:  # no engine works: text and pictos still went out
                return
            duration = max(1, round(clip.duration))
            await self._send(SpeechCache, clip.key, clip.path,
                             lambda file, d=duration: bot.send_voice(chat_id, file, duration=d))

    async def _send(self, table: type[PictoCache] | type[SpeechCache], key: str, path: Path,
                    send: object) -> None:
        """Send by file_id when Telegram has the file already, else upload and remember.
        Only an upload takes the file's lock (two chats asking for a new file at once
        upload it once); a send by file_id never waits for another chat."""
        slot = (table.__tablename__, key)
        known = self._file_ids.get(slot) or await self.store.file_id(table, key)
        if known is not None and await self._by_id(slot, known, send):
            return
        async with self._uploading.setdefault(slot, asyncio.Lock()):
            file_id = self._file_ids.get(slot)
            if file_id not in {None, known} and await self._by_id(slot, file_id, send):
                return  # another chat uploaded it while this one waited
            data = await asyncio.to_thread(path.read_bytes)
            message: Message = await send(data)  # type: ignore[operator]
            new_id = _file_id(message)
            if new_id:
                self._file_ids[slot] = new_id
                await self.store.remember_file_id(table, key, new_id)

    async def _by_id(self, slot: tuple[str, str], file_id: str | None, send: object) -> bool:
        assert file_id is not None
        try:
            await send(file_id)  # type: ignore[operator]
        except BadRequest as error:  # Telegram lost the file: upload again
            log.info("cached file id refused (%s); uploading again", error)
            return False
        self._file_ids[slot] = file_id
        return True


def _file_id(message: Message) -> str | None:
    if message.voice is not None:
        return message.voice.file_id
    if message.photo:
        return message.photo[-1].file_id
    return None


def build_media(settings: Settings, store: Store) -> TelegramMedia:
    """Pictos always (they are local); speech when enabled: gTTS, espeak-ng standing in."""
    pictos = PictoLibrary.load(settings.picto_manifest,
                               settings.picto_cache_dir or settings.data_dir / "pictos")
    speech = None
    if settings.speech_enabled:
        fallback = EspeakSynthesizer()
        speech = ClipCache(
            settings.data_dir / "speech",
            GttsSynthesizer(tld=settings.gtts_tld, base_url=settings.gtts_base_url or None),
            fallback if fallback.available() else None,
        )
    return TelegramMedia(store, pictos, speech)
