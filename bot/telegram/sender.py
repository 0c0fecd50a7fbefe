"""Send a person's replies. A reply with a picto is its card with the text as caption and
the buttons under it (the buttons stay in view on a phone), then the voice. Without a
card (none, or a text too long for a caption) the card goes first, then the text with the
buttons, then the voice. A picto or voice that fails never stops the text."""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any, Protocol

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.warnings import PTBUserWarning

from bot.dialogs.types import BoardRow, Reply
from bot.faults import checkpoint
from bot.telegram.split import CAPTION_LIMIT, split_html

log = logging.getLogger("gespreksmaatje.sender")

# Buttons under a message as Telegram's JSON ({"inline_keyboard": [[{"text", "callback_data"}]]}):
# every send goes through do_api_request, which takes it as it is.
Markup = dict[str, Any]
# Texts, pictures, voices and edits go through do_api_request on purpose (Telegram's answer
# is not made into objects; see media._sender): not its advice to use the typed method.
warnings.filterwarnings(
    "ignore", r"Please use 'Bot\.(send_(photo|voice|message)|edit_message_(text|caption)"
    r"|answer_callback_query)'", PTBUserWarning)


class MediaSource(Protocol):
    """Gives something Telegram can send (a cached file_id or a file to upload)."""

    def label(self, key: str) -> str: ...

    async def send_picto(self, bot: Bot, chat_id: int, key: str, caption: str | None = None,
                         markup: Markup | None = None) -> bool:
        """The card of `key` (False when there is none)."""
        ...

    async def send_board(self, bot: Bot, chat_id: int, rows: tuple[BoardRow, ...],
                         caption: str, markup: Markup | None) -> bool:
        """A picture of the list (False when pictures are off)."""
        ...

    async def send_mat(self, bot: Bot, chat_id: int,
                       columns: tuple[tuple[str, tuple[str, ...]], ...], caption: str,
                       markup: Markup | None) -> bool:
        """The picture of a picto mat (False when pictures are off)."""
        ...

    async def send_voice(self, bot: Bot, chat_id: int, text: str, slow: bool = False,
                         private: bool = False, offline: bool = False) -> None:
        ...


def with_emoji(label: str, emoji: str) -> str:
    """Put a picto's emoji in a button label; after a leading tick box, so the box stays
    first ("✅ 🐢 Rustig aan")."""
    if not emoji:
        return label
    for box in ("✅ ", "⬜ "):
        if label.startswith(box):
            return f"{box}{emoji} {label[len(box):]}"
    return f"{emoji} {label}"


def keyboard(reply: Reply, media: MediaSource | None) -> Markup | None:
    if not reply.buttons:
        return None
    rows = []
    for row in reply.buttons:
        buttons = []
        for button in row:
            label = button.label
            if media is not None and button.picto:
                label = with_emoji(label, media.label(button.picto))
            buttons.append({"text": label, "callback_data": button.data})
        rows.append(buttons)
    return {"inline_keyboard": rows}


def qr_png(link: str) -> bytes:
    """A QR code of an invite link, to show on a screen or print for the client."""
    import qrcode

    image = qrcode.make(link, box_size=10, border=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Sender:
    def __init__(self, bot: Bot, media: MediaSource | None = None) -> None:
        self.bot = bot
        self.media = media

    async def send(self, chat_id: int, replies: list[Reply],
                   pressed_message_id: int | None = None, speech: bool = True,
                   slow: bool = False, offline: bool = False) -> bool:
        """Send all replies in order. False if Telegram refused the chat (blocked).
        `speech`/`slow`: the person's choice in /instellingen; `offline`: read-backs by the
        offline engine only (their organisation's choice)."""
        for reply in replies:
            try:
                await self._send_one(chat_id, reply, pressed_message_id, speech, slow,
                                     offline)
                checkpoint("sent_one")
            except Forbidden:
                log.info("chat=%d blocked the bot; replies dropped", chat_id)
                return False
        return True

    async def _send_one(self, chat_id: int, reply: Reply, pressed: int | None, speech: bool,
                        slow: bool, offline: bool = False) -> None:
        markup = keyboard(reply, self.media)
        parts = split_html(reply.text) if reply.text else []
        if reply.edit and pressed is not None and len(parts) == 1 and await self._edit(
                chat_id, pressed, reply, markup):
            return
        if reply.document is not None:
            captions = split_html(reply.text, CAPTION_LIMIT) if reply.text else [""]
            await self.bot.send_document(chat_id, await reply.document.content(),
                                         filename=reply.document.filename,
                                         caption=captions[0], parse_mode=ParseMode.HTML)
            for rest in captions[1:]:
                await self.bot.send_message(chat_id, rest, parse_mode=ParseMode.HTML)
            return
        pictured = (self.media is not None and (reply.picto or reply.board or reply.mat)
                    and parts
                    and reply.media is None and reply.qr is None
                    and len(split_html(reply.text, CAPTION_LIMIT)) == 1)
        if pictured and await self._picture(chat_id, reply, markup):
            await self._speak(chat_id, reply, speech, slow, offline)
            return
        if self.media is not None and reply.picto:  # the card first: buttons stay last
            await self._quietly(self.media.send_picto(self.bot, chat_id, reply.picto))
        # A text longer than one message goes out in parts; the buttons sit on the last.
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            text = {"chat_id": chat_id, "text": part, "parse_mode": ParseMode.HTML}
            if last and markup is not None:
                text["reply_markup"] = markup
            # Telegram's answer is not read: no Message object made (see media._sender).
            await self.bot.do_api_request("send_message", api_kwargs=text)
        if reply.qr is not None:
            await self.bot.send_photo(chat_id, qr_png(reply.qr))
        if reply.media is not None:
            await self._send_media(chat_id, reply)
        await self._speak(chat_id, reply, speech, slow, offline)

    async def _picture(self, chat_id: int, reply: Reply,
                       markup: Markup | None) -> bool:
        """The card (or the list's picture) with the text and buttons. False: not sent."""
        assert self.media is not None
        try:
            if reply.board:
                return await self.media.send_board(self.bot, chat_id, reply.board,
                                                   reply.text, markup)
            if reply.mat:
                return await self.media.send_mat(self.bot, chat_id, reply.mat, reply.text,
                                                 markup)
            assert reply.picto is not None
            return await self.media.send_picto(self.bot, chat_id, reply.picto,
                                               reply.text, markup)
        except Forbidden:
            raise
        except Exception as error:  # noqa: BLE001 - no picture: the text goes out as text
            log.warning("picture not sent: %s", error)
            return False

    async def _speak(self, chat_id: int, reply: Reply, speech: bool, slow: bool,
                     offline: bool) -> None:
        if self.media is not None and reply.speak and speech:
            await self._quietly(self.media.send_voice(self.bot, chat_id, reply.speak, slow,
                                                      private=reply.readback,
                                                      offline=offline))

    async def _edit(self, chat_id: int, pressed: int, reply: Reply,
                    markup: Markup | None) -> bool:
        """Change the pressed message in place: its caption when it is a picture, else its
        text. False when neither works (then the reply goes out anew)."""
        pictured = self.media is not None and bool(reply.picto or reply.board or reply.mat)
        for field in ("caption", "text") if pictured else ("text", "caption"):
            edit = {"chat_id": chat_id, "message_id": pressed, field: reply.text,
                    "parse_mode": ParseMode.HTML}
            if markup is not None:
                edit["reply_markup"] = markup
            try:
                await self.bot.do_api_request(f"edit_message_{field}", api_kwargs=edit)
                return True
            except BadRequest as error:
                if "not modified" in str(error).lower():
                    return True
                log.info("edit failed (%s)", error)
        return False

    async def _send_media(self, chat_id: int, reply: Reply) -> None:
        assert reply.media is not None
        kind, file_id = reply.media.kind, reply.media.file_id
        senders: dict[str, Any] = {"voice": self.bot.send_voice, "photo": self.bot.send_photo,
                   "video": self.bot.send_video, "video_note": self.bot.send_video_note,
                   "audio": self.bot.send_audio}
        send = senders.get(kind)
        if send is not None:
            await self._quietly(send(chat_id, file_id))

    async def _quietly(self, sending: object) -> None:
        """A picto or voice that fails must not stop the conversation."""
        try:
            await sending  # type: ignore[misc]
        except Forbidden:
            raise
        except Exception as error:  # noqa: BLE001 - any media failure: the text went out
            log.warning("media not sent: %s", error)
