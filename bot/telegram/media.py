"""Pictos and speech as Telegram sends: each file is made once (on disk) and uploaded once
(its Telegram file_id is kept in the database and reused, also after a restart).

A file id never changes, so the ids in use are also kept in memory: a card or clip sent
before costs no SQL and no disk access, only the sendPhoto/sendVoice by id."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.dialogs import look, picto_mat
from bot.dialogs.client_prep import DOMAINS
from bot.dialogs.types import BoardRow
from bot.ops import metrics
from bot.service.looks import Looks, look_of
from bot.settings import Settings
from bot.state.store import Store
from bot.telegram.sender import Markup
from bot.telegram.split import speech_pieces
from pictos import PictoLibrary
from voice import EspeakSynthesizer, GttsSynthesizer
from voice import SpeechCache as ClipCache

log = logging.getLogger("gespreksmaatje.media")

FILE_IDS_KEPT = 4096  # file ids in memory (LRU); a forgotten one is asked of the database
Slot = tuple[str, str]  # (table, key)
Send = Callable[[Any], Awaitable[Any]]  # send this file id or these bytes: Telegram's answer


class TelegramMedia:
    """The `MediaSource` of the sender: picto cards and voice clips with cached file ids."""

    def __init__(self, store: Store, looks: Looks | None,
                 speech: ClipCache | None) -> None:
        self.store = store
        self.looks = looks or Looks(None)
        self.speech = speech
        self.readback_offline = False  # read-backs by the offline engine only (settings)
        self._file_ids: OrderedDict[Slot, str] = OrderedDict()  # least recently used first
        # Uploads under way: another chat that needs the same file waits for its file id.
        self._uploads: dict[Slot, asyncio.Future[str | None]] = {}

    @property
    def pictos(self) -> PictoLibrary | None:
        """The pictures of the look worn now (the organisation of the replies being sent;
        see `BotRunner.deliver`), else the deployment's."""
        return self.looks.pictos()

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
                         markup: Markup | None = None) -> bool:
        """The card of `key` with `caption` (HTML) and buttons; without a caption the card
        says its word. False when there is no card for `key`."""
        if self.pictos is None:
            return False
        pictos = self.pictos
        # The key says which file without drawing or reading it: that happens on upload.
        path: Callable[[], Path]
        if key == "domains":  # one sheet with the ten life domains
            cache_key = f"sheet-{pictos.sheet_file(list(DOMAINS)).stem}"
            path = partial(pictos.sheet, list(DOMAINS))
        elif pictos.has(key):
            cache_key = f"card-{pictos.card_id(key)}"
            path = partial(pictos.card, key)
        else:
            return False
        if caption is None:
            caption = pictos.word(key) if key != "domains" else None
            mode = None
        else:
            mode = ParseMode.HTML
        await self._send("picto", cache_key, lambda: path().read_bytes(), _sender(
            bot, "send_photo", chat_id, "photo", caption=caption, parse_mode=mode,
            reply_markup=markup))
        return True

    async def send_board(self, bot: Bot, chat_id: int, rows: tuple[BoardRow, ...],
                         caption: str, markup: Markup | None) -> bool:
        """A picture of the client's list (each part's picto with their words). Made
        anew each time (it holds the person's own words) and never cached on disk."""
        if self.pictos is None:
            return False
        pictos = self.pictos
        data = await asyncio.to_thread(
            pictos.board, [(r.picto, r.title, r.words) for r in rows])
        await _sender(bot, "send_photo", chat_id, "photo", caption=caption,
                      parse_mode=ParseMode.HTML, reply_markup=markup)(data)
        return True

    async def send_mat(self, bot: Bot, chat_id: int,
                       columns: tuple[tuple[str, tuple[str, ...]], ...], caption: str,
                       markup: Markup | None) -> bool:
        """The picture of a picto mat: our own pictos and words only, so the same mat is
        drawn once (kept in memory) and uploaded once (its file id kept)."""
        if self.pictos is None:
            return False
        # Which cards a client placed where is theirs: the picture is not kept on disk.
        key = "mat-" + hashlib.sha256(repr(columns).encode()).hexdigest()[:32]
        await self._send("picto", key, partial(self.pictos.mat, columns), _sender(
            bot, "send_photo", chat_id, "photo", caption=caption, parse_mode=ParseMode.HTML,
            reply_markup=markup))
        return True

    async def send_voice(self, bot: Bot, chat_id: int, text: str, slow: bool = False,
                         private: bool = False, offline: bool = False) -> None:
        """A long text goes out as a few short voice messages (a long list is not made
        into one clip of minutes while the person waits). All pieces are made at once and
        sent in order as they are ready: the chat's next update waits for the slowest
        piece, not for all of them one after the other."""
        if self.speech is None:
            return
        speech = self.speech
        # A read-back of a person's words (private) is made apart, uploaded without keeping
        # its file id (nor the hash of its text) and removed from disk once sent.
        # `offline`: the person's organisation keeps read-backs away from gTTS (the operator's
        # READBACK_OFFLINE does so for every organisation).
        offline = offline or self.readback_offline
        jobs = [asyncio.ensure_future(
            speech.private_clip(piece, slow=slow, offline_only=offline)
            if private else speech.clip(piece, slow=slow)) for piece in speech_pieces(text)]
        try:
            for job in jobs:
                clip = await job
                if clip is None:  # no engine works: text and pictos still went out
                    return
                duration = max(1, round(clip.duration))
                send = _sender(bot, "send_voice", chat_id, "voice", duration=duration)
                if clip.private:
                    try:
                        await send(await asyncio.to_thread(clip.path.read_bytes))
                    finally:
                        clip.discard()
                    continue
                await self._send("speech", clip.key, clip.path.read_bytes, send)
        finally:
            for job in jobs:  # a clip still being made stays in the cache for next time
                job.cancel()
                # job.exception(): seen, so no "exception was never retrieved"
                if job.done() and not job.cancelled() and job.exception() is None:
                    made = job.result()
                    if made is not None:
                        made.discard()  # a private clip not sent is not kept either

    async def _send(self, cache: str, key: str,
                    content: Callable[[], bytes], send: Send) -> None:
        """Send by file_id when Telegram has the file already, else upload and remember.
        The id comes from memory, else from the database (once per file and process);
        two chats asking for a new file at once upload it once (the second waits for the
        first's file id); a send by a known file_id never waits for another chat."""
        slot = (cache, key)
        refused: str | None = None  # an id Telegram no longer knows
        known = self._file_ids.get(slot)
        if known is None and slot not in self._uploads:
            known = await self.store.file_id(cache, key)
        while True:
            if known is not None and known != refused:
                if await self._by_id(slot, known, send):
                    return
                refused = known
            pending = self._uploads.get(slot)
            if pending is None:
                break
            known = await asyncio.shield(pending)  # another chat is uploading it right now
        await self._upload(cache, key, content, send)

    async def _upload(self, cache: str, key: str, content: Callable[[], bytes],
                      send: Send) -> None:
        slot = (cache, key)
        done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._uploads[slot] = done
        new_id = None
        try:
            data = await asyncio.to_thread(content)  # drawn or read off the loop
            new_id = _file_id(await send(data))
            metrics.media_sent(cache, by_file_id=False)
            if new_id:
                self._keep(slot, new_id)
                await self.store.remember_file_id(cache, key, new_id)  # written through
        finally:
            del self._uploads[slot]
            done.set_result(new_id)  # those waiting send by id, or upload themselves

    async def _by_id(self, slot: Slot, file_id: str, send: Send) -> bool:
        try:
            await send(file_id)
        except BadRequest as error:  # Telegram lost the file: upload again
            log.info("cached file id refused (%s); uploading again", error)
            self._file_ids.pop(slot, None)
            return False
        self._keep(slot, file_id)
        metrics.media_sent(slot[0], by_file_id=True)
        return True

    def _keep(self, slot: Slot, file_id: str) -> None:
        self._file_ids[slot] = file_id
        self._file_ids.move_to_end(slot)
        if len(self._file_ids) > FILE_IDS_KEPT:
            self._file_ids.popitem(last=False)


def _sender(bot: Bot, method: str, chat_id: int, field: str, **params: Any) -> Send:
    """Send a photo or a voice message, a file id Telegram has or bytes to upload, through
    python-telegram-bot's `do_api_request`: Telegram's answer stays the plain JSON it is
    (made into objects, the answers were a tenth of the bot's CPU under load; an upload's
    file id is read from the JSON, `_file_id`)."""
    given = {name: value for name, value in params.items() if value is not None}

    async def send(file: bytes | str) -> Any:
        value = file if isinstance(file, str) else InputFile(file)
        return await bot.do_api_request(method, api_kwargs={"chat_id": chat_id, field: value,
                                                            **given})

    return send


def _file_id(message: Any) -> str | None:
    """The file id in Telegram's answer to an upload (a message, as JSON)."""
    if not isinstance(message, dict):
        return None
    if message.get("voice"):
        return str(message["voice"]["file_id"])
    if message.get("photo"):
        return str(message["photo"][-1]["file_id"])
    return None


def build_media(settings: Settings, store: Store) -> TelegramMedia:
    """Pictos always (they are local); speech when enabled: gTTS, espeak-ng standing in.
    The deployment's pictures for choosing with pictures become its look here, once (an
    organisation's own are read with its look, `bot/service/looks.py`)."""
    cache_dir = settings.picto_cache_dir or settings.data_dir / "pictos"
    pictos = PictoLibrary.load(settings.picto_manifest, cache_dir,
                               questions=set(picto_mat.QUESTIONS))
    look.set_deployment(look_of(pictos))
    speech = None
    if settings.speech_enabled:
        fallback = EspeakSynthesizer()
        speech = ClipCache(
            settings.data_dir / "speech",
            GttsSynthesizer(tld=settings.gtts_tld, base_url=settings.gtts_base_url or None),
            fallback if fallback.available() else None,
        )
        metrics.watch_speech(speech.stats)
    media = TelegramMedia(store, Looks(pictos, cache_dir), speech)
    media.readback_offline = settings.readback_offline
    return media
