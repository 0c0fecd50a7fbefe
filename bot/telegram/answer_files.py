"""Keep the files of answers (voice messages, video notes, photos, videos) on disk.

Runs after the commit and the replies: the answer itself (with Telegram's file id) is
already stored, so a failed download loses nothing; it marks the answer "not_kept" so the
begeleider still knows something was said, and tells the client kindly."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from telegram import Bot
from telegram.error import TelegramError

from bot.dialogs.texts import t
from bot.dialogs.types import Reply
from bot.state import crypto
from bot.state.store import Store
from voice import MediaError, probe_audio

log = logging.getLogger("gespreksmaatje.files")

LIMIT = 20 * 1024 * 1024  # the Bot API's download limit
EXTENSIONS = {"voice": ".ogg", "audio": ".audio", "video_note": ".mp4", "video": ".mp4",
              "photo": ".jpg"}


class AnswerFiles:
    def __init__(self, bot: Bot, store: Store, folder: Path,
                 kept: Callable[[int, str, bytes], None] | None = None) -> None:
        self.bot = bot
        self.store = store
        self.folder = folder
        self.kept = kept  # told of each file kept (answer id, kind, bytes): transcription

    async def keep(self, update_id: int | None = None) -> list[tuple[int, Reply]]:
        """Download the files of this update's answers (all pending ones when None);
        returns (chat id, reply) for each file that could not be kept."""
        ids = await self.store.files_to_keep(update_id)
        notes = []
        for answer_id in ids:
            note = await self._keep_one(answer_id)
            if note is not None:
                notes.append(note)
        return notes

    async def _keep_one(self, answer_id: int) -> tuple[int, Reply] | None:
        file_id, kind, client_id, chat_id = await self.store.answer_file(answer_id)
        try:
            data = await self._download(file_id)
        except (TelegramError, OSError) as error:
            log.warning("answer=%d file not kept: %s", answer_id, error)
            await self.store.mark_file(answer_id, state="not_kept")
            return (chat_id, Reply(t("voice_not_kept"))) if chat_id else None
        path = self.folder / str(client_id) / f"{answer_id}{EXTENSIONS.get(kind, '.bin')}"
        await asyncio.to_thread(_write, path, data)
        duration = None
        if kind in {"voice", "audio", "video_note", "video"}:
            try:
                duration, _mime = await asyncio.to_thread(probe_audio, data)
            except MediaError:
                duration = None
        await self.store.mark_file(answer_id, state="kept", path=str(path), size=len(data),
                         checksum=hashlib.sha256(data).hexdigest(), duration=duration)
        if self.kept is not None:
            self.kept(answer_id, kind, data)
        return None

    async def _download(self, file_id: str) -> bytes:
        telegram_file = await self.bot.get_file(file_id)
        if telegram_file.file_size and telegram_file.file_size > LIMIT:
            raise OSError(f"{telegram_file.file_size} bytes is over the 20 MB download limit")
        return bytes(await telegram_file.download_as_bytearray())


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(crypto.ring().encrypt_bytes(data))  # encrypted at rest
    partial.replace(path)  # never a half-written file under the real name
