"""Local Telegram Bot API server: the bot side over HTTP, the user side as a Python API.

Why: tests, the benchmark and the browser sandbox drive the real bot (python-telegram-bot
pointed at ``base_url``) without internet, against a peer that answers like Telegram does:
same envelopes, same error texts, real long polling, re-delivery of unconfirmed updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import json
import math
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

# ---------------------------------------------------------------------------------------------
# parse_mode=HTML, mirroring tdlib's tag set and error messages
# ---------------------------------------------------------------------------------------------

_TAGS = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{1,8});")


class EntityParseError(ValueError):
    """Markup that Telegram would refuse with "can't parse entities"."""


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(match: re.Match[str]) -> str | None:
    body = match.group(1)
    if body.startswith("#x"):
        code = int(body[2:], 16)
    elif body.startswith("#"):
        code = int(body[1:])
    else:
        return _NAMED.get(body)
    if code <= 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) or raise EntityParseError like Telegram does."""
    out: list[str] = []
    pos16 = 0
    stack: list[tuple[str, dict[str, str], int]] = []
    entities: list[dict[str, Any]] = []
    attrs: dict[str, str]
    n = len(text)
    i = 0

    def boff(k: int) -> int:
        return len(text[:k].encode("utf-8"))

    def emit(s: str) -> None:
        nonlocal pos16
        out.append(s)
        pos16 += utf16_len(s)

    def skip_spaces(k: int) -> int:
        while k < n and text[k].isspace():
            k += 1
        return k

    while i < n:
        c = text[i]
        if c == "&":
            m = _ENTITY_RE.match(text, i)
            decoded = _decode_entity(m) if m else None
            if m and decoded is not None:
                emit(decoded)
                i = m.end()
            else:
                emit("&")
                i += 1
            continue
        if c != "<":
            emit(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            close = text.find(">", i)
            if close == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {boff(begin)}")
            name = text[i + 1 : close].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {boff(begin)}")
            tag, attrs, start = stack.pop()
            if name != tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {boff(begin)}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            _close_entity(tag, attrs, start, pos16, stack, entities)
            i = close + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
        name = text[i:j].lower()
        if name not in _TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {boff(begin)}')
        attrs = {}
        i = j
        while True:
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
            if text[i] == ">":
                i += 1
                break
            k = i
            while k < n and (text[k].isalnum() or text[k] in "-_"):
                k += 1
            if k == i:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {boff(i)}'
                )
            attr = text[i:k].lower()
            i = skip_spaces(k)
            if name == "blockquote" and attr == "expandable" and (i >= n or text[i] != "="):
                attrs[attr] = ""
                continue
            if i >= n or text[i] != "=":
                raise EntityParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {boff(i)}"
                )
            i = skip_spaces(i + 1)
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
            if text[i] in "\"'":
                end = text.find(text[i], i + 1)
                if end == -1:
                    raise EntityParseError(
                        f"Unclosed end of attribute value at byte offset {boff(i)}"
                    )
                attrs[attr] = html.unescape(text[i + 1 : end])
                i = end + 1
            else:
                k = i
                while k < n and not text[k].isspace() and text[k] != ">":
                    k += 1
                attrs[attr] = html.unescape(text[i:k])
                i = k
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {boff(begin)}'
            )
        stack.append((name, attrs, pos16))
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_entity(
    tag: str,
    attrs: dict[str, str],
    start: int,
    end: int,
    stack: list[tuple[str, dict[str, str], int]],
    entities: list[dict[str, Any]],
) -> None:
    kind = _TAGS[tag]
    if tag == "code" and stack and stack[-1][0] == "pre":
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            stack[-1][1]["_language"] = lang[len("language-") :]
            return
    if end <= start:
        return
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": end - start}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return
        if href.startswith("tg://user?id="):
            entity = {**entity, "type": "text_mention", "user": {"id": int(href[13:] or 0)}}
        else:
            entity["url"] = href
    elif tag == "pre" and attrs.get("_language"):
        entity["language"] = attrs["_language"]
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    entities.append(entity)


# ---------------------------------------------------------------------------------------------
# State objects
# ---------------------------------------------------------------------------------------------

_UPDATE_TYPES_OFF_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
_CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}
_FILE_DIRS = {
    "photo": ("photos", ".jpg"),
    "voice": ("voice", ".oga"),
    "audio": ("music", ".mp3"),
    "document": ("documents", ""),
    "video": ("videos", ".mp4"),
    "video_note": ("video_notes", ".mp4"),
    "sticker": ("stickers", ".webp"),
    "animation": ("animations", ".mp4"),
}
# Which stored file kinds may be re-sent by file_id through which send method.
_COMPATIBLE = {
    "photo": {"photo"},
    "voice": {"voice", "audio"},
    "audio": {"audio", "document"},
    "document": {"document", "audio", "video", "animation", "voice"},
    "video": {"video", "document", "animation"},
    "video_note": {"video_note"},
    "sticker": {"sticker"},
    "animation": {"animation", "document", "video"},
}
# The methods that put (or change) a message in a chat: with limits on, each call takes a
# token from the chat's bucket and one from the global bucket (sendChatAction does not).
_RATE_LIMITED = {
    "sendMessage", "sendPhoto", "sendVoice", "sendAudio", "sendDocument", "sendVideo",
    "sendVideoNote", "sendSticker", "sendAnimation", "sendLocation", "editMessageText",
    "editMessageCaption", "editMessageReplyMarkup",
}
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error, rendered as Telegram's {"ok": false, ...} envelope."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class _Imposed(ApiError):
    """An error the server imposes (a ``fail_next`` failure, a flood limit), not a mistake
    of the bot: it is not logged in ``bot_errors``."""


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class Limits:
    """Telegram's flood limits and callback timeout, for a server as strict as Telegram.

    Every message sent or edited in a chat takes a token from that chat's bucket
    (``per_chat_burst`` tokens, refilled at ``per_chat_per_second``) and one from the global
    bucket (``global_burst`` tokens, refilled at ``global_per_second``); without both, the
    call gets 429 with ``retry_after``. answerCallbackQuery more than ``callback_window``
    seconds after the query was handed to the bot gets "query is too old".
    """

    per_chat_burst: int = 3
    per_chat_per_second: float = 1.0
    global_per_second: float = 30.0
    global_burst: int = 30
    callback_window: float = 15.0

    def __post_init__(self) -> None:
        if min(self.per_chat_burst, self.global_burst) < 1:
            raise ValueError("a burst must be at least 1")
        if min(self.per_chat_per_second, self.global_per_second) <= 0:
            raise ValueError("a rate must be positive")


@dataclass
class _Bucket:
    """A token bucket: at most `capacity` tokens, refilled at `rate` tokens per second."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def wait(self, now: float) -> float:
        """Refill up to `now`; return the seconds until a whole token is there (0: now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return max(0.0, (1 - self.tokens) / self.rate)


@dataclass
class StoredFile:
    """A file known to the server: uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    kind: str
    path: Path
    file_path: str
    file_size: int
    mime_type: str | None = None
    file_name: str | None = None
    uploaded_by_bot: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def as_object(self) -> dict[str, Any]:
        """The Telegram object (Voice, Document, PhotoSize, ...) describing this file."""
        obj: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        obj.update(self.meta)
        if self.file_name and self.kind in {"document", "audio", "video", "animation"}:
            obj["file_name"] = self.file_name
        if self.mime_type and self.kind not in {"photo", "sticker", "video_note"}:
            obj["mime_type"] = self.mime_type
        obj["file_size"] = self.file_size
        return obj


@dataclass
class BotMessage:
    """What the user sees of one message the bot sent (current state plus history)."""

    message_id: int
    chat_id: int
    kind: str
    text: str | None = None
    caption: str | None = None
    file_id: str | None = None
    buttons: list[list[tuple[str, str | None]]] = field(default_factory=list)
    keyboard: list[list[str]] | None = None
    remove_keyboard: bool = False
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    edited: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """Text of a text message, caption of a media message ('' if none)."""
        return self.text if self.text is not None else (self.caption or "")

    def button_texts(self) -> list[str]:
        return [text for row in self.buttons for text, _ in row]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallbackAnswer:
    """The bot's answerCallbackQuery for one button press."""

    query_id: str
    update_id: int
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int


@dataclass
class _Upload:
    filename: str | None
    content_type: str | None
    data: bytes


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _bad(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise _bad(f"invalid {name} specified") from None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1"}


def _as_json(value: Any, error: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise _bad(error) from None
    return value


def _now() -> int:
    return int(time.time())


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


# ---------------------------------------------------------------------------------------------
# Chats (user side handles)
# ---------------------------------------------------------------------------------------------


class ChatHandle:
    """A chat as the people in it see it: the bot's messages and how to wait for them."""

    chat_type = "private"

    def __init__(self, server: BotApiServer, chat_id: int) -> None:
        self.server = server
        self.chat_id = chat_id
        self.messages: list[BotMessage] = []
        self.chat_actions: list[str] = []
        self.reply_keyboard: list[list[str]] | None = None
        self._next_message_id = 1
        self._user_messages: dict[int, dict[str, Any]] = {}

    def chat_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def full_info(self) -> dict[str, Any]:
        return {
            **self.chat_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _allocate_id(self) -> int:
        mid = self._next_message_id
        self._next_message_id += 1
        return mid

    @property
    def texts(self) -> list[str]:
        """Text or caption of every bot message, in order (deleted ones included)."""
        return [m.content for m in self.messages]

    @property
    def visible(self) -> list[BotMessage]:
        return [m for m in self.messages if not m.deleted]

    @property
    def last(self) -> BotMessage:
        if not self.messages:
            raise AssertionError(f"the bot sent nothing to chat {self.chat_id}")
        return self.messages[-1]

    def message(self, message_id: int) -> BotMessage:
        for m in self.messages:
            if m.message_id == message_id:
                return m
        raise AssertionError(f"chat {self.chat_id} has no bot message {message_id}")

    def describe(self) -> str:
        lines = [f"{len(self.messages)} bot message(s) in chat {self.chat_id}:"]
        for m in self.messages:
            flags = (" [edited]" if m.edited else "") + (" [deleted]" if m.deleted else "")
            extra = f" buttons={m.button_texts()}" if m.buttons else ""
            lines.append(f"  #{m.message_id} {m.kind}{flags}: {m.content!r}{extra}")
        return "\n".join(lines)

    async def wait_for_messages(self, n: int, timeout: float = 10) -> list[BotMessage]:  # noqa: ASYNC109
        """Return once the bot has sent at least n messages to this chat (event-driven)."""
        await self.server.wait_for(
            lambda: len(self.messages) >= n,
            timeout,
            lambda: f"expected at least {n} bot message(s) within {timeout}s; "
            + self.describe(),
        )
        return self.messages


class UserHandle(ChatHandle):
    """A Telegram user in a private chat with the bot (chat id == user id)."""

    def __init__(
        self,
        server: BotApiServer,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        super().__init__(server, user_id)
        self.user_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.blocked = False
        self.started = False
        self.sent_message_ids: list[int] = []
        self.callback_update_ids: list[int] = []

    def user_dict(self) -> dict[str, Any]:
        return _compact(
            {
                "id": self.user_id,
                "is_bot": False,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "username": self.username,
                "language_code": self.language_code,
            }
        )

    def chat_dict(self) -> dict[str, Any]:
        return _compact(
            {
                "id": self.user_id,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "username": self.username,
                "type": "private",
            }
        )

    # -- sending -------------------------------------------------------------------------

    def _check_can_send(self) -> None:
        if self.blocked:
            raise AssertionError(
                f"user {self.user_id} blocked the bot; call unblock_bot() before sending"
            )

    def _message_update(
        self, content: dict[str, Any], chat: ChatHandle | None = None
    ) -> int:
        self._check_can_send()
        target = chat or self
        mid = target._allocate_id()
        msg = {
            "message_id": mid,
            "from": self.user_dict(),
            "chat": target.chat_dict(),
            "date": _now(),
            **content,
        }
        target._user_messages[mid] = msg
        if target is self:
            self.sent_message_ids.append(mid)
        self.started = True
        return self.server._push_update({"message": msg})

    async def send_text(self, text: str) -> int:
        """A text message; a leading "/command" gets a bot_command entity like Telegram."""
        return self._message_update(_text_content(text))

    async def send_command(self, command: str, *args: str) -> int:
        command = command if command.startswith("/") else "/" + command
        return await self.send_text(" ".join([command, *args]))

    async def press_keyboard(self, text: str) -> int:
        """Tap a reply-keyboard button: Telegram sends its text as a normal message."""
        options = [b for row in self.reply_keyboard or [] for b in row]
        if text not in options:
            raise AssertionError(f"no reply keyboard button {text!r}; keyboard: {options}")
        return await self.send_text(text)

    def _file_content(
        self, kind: str, data: bytes, *, caption: str | None = None, **meta: Any
    ) -> dict[str, Any]:
        mime = meta.pop("mime_type", None)
        name = meta.pop("file_name", None)
        stored = self.server._store_file(kind, data, mime_type=mime, file_name=name, meta=meta)
        content: dict[str, Any]
        if kind == "photo":
            content = {"photo": self.server._photo_sizes(stored)}
        elif kind == "animation":
            obj = stored.as_object()
            content = {"animation": obj, "document": obj}
        else:
            content = {kind: stored.as_object()}
        if caption:
            content["caption"] = caption
        return content

    async def send_voice(self, ogg_bytes: bytes, duration: int = 1) -> int:
        return self._message_update(
            self._file_content("voice", ogg_bytes, duration=duration, mime_type="audio/ogg")
        )

    async def send_video_note(self, mp4_bytes: bytes, duration: int = 1, length: int = 240) -> int:
        return self._message_update(
            self._file_content("video_note", mp4_bytes, duration=duration, length=length)
        )

    async def send_photo(self, jpeg_bytes: bytes, caption: str | None = None) -> int:
        return self._message_update(self._file_content("photo", jpeg_bytes, caption=caption))

    async def send_video(
        self, mp4_bytes: bytes, duration: int = 1, caption: str | None = None,
        width: int = 640, height: int = 360,
    ) -> int:
        return self._message_update(
            self._file_content(
                "video", mp4_bytes, caption=caption, duration=duration, width=width,
                height=height, mime_type="video/mp4",
            )
        )

    async def send_document(
        self, data: bytes, filename: str = "document.bin",
        mime: str = "application/octet-stream", caption: str | None = None,
    ) -> int:
        return self._message_update(
            self._file_content(
                "document", data, caption=caption, file_name=filename, mime_type=mime
            )
        )

    async def send_sticker(self, webp_bytes: bytes = b"RIFF\x00\x00\x00\x00WEBPVP8 ",
                           emoji: str = "👍") -> int:
        return self._message_update(
            self._file_content(
                "sticker", webp_bytes, type="regular", width=512, height=512,
                is_animated=False, is_video=False, emoji=emoji, set_name="TestStickers",
            )
        )

    async def send_animation(self, mp4_bytes: bytes = b"\x00\x00\x00\x18ftypmp42",
                             duration: int = 1) -> int:
        return self._message_update(
            self._file_content(
                "animation", mp4_bytes, duration=duration, width=320, height=240,
                mime_type="video/mp4", file_name="animation.gif.mp4",
            )
        )

    async def send_location(self, latitude: float, longitude: float) -> int:
        return self._message_update({"location": {"latitude": latitude, "longitude": longitude}})

    async def send_contact(
        self, phone_number: str, first_name: str, last_name: str | None = None,
        user_id: int | None = None,
    ) -> int:
        contact = _compact(
            {"phone_number": phone_number, "first_name": first_name,
             "last_name": last_name, "user_id": user_id}
        )
        return self._message_update({"contact": contact})

    async def send_poll(
        self, question: str, options: list[str], *, is_anonymous: bool = True,
        allows_multiple_answers: bool = False,
    ) -> int:
        poll = {
            "id": str(self.server._next_serial()),
            "question": question,
            "options": [
                {"text": o, "voter_count": 0, "persistent_id": str(i)}
                for i, o in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": is_anonymous,
            "type": "regular",
            "allows_multiple_answers": allows_multiple_answers,
            "allows_revoting": False,
            "members_only": False,
        }
        return self._message_update({"poll": poll})

    async def edit(self, message_id: int, new_text: str) -> int:
        """Edit one of this user's own text messages → edited_message update."""
        self._check_can_send()
        msg = self._user_messages.get(message_id)
        if msg is None or "text" not in msg:
            raise AssertionError(f"user {self.user_id} sent no text message {message_id}")
        msg = {**msg, **_text_content(new_text), "edit_date": _now()}
        if "entities" not in _text_content(new_text):
            msg.pop("entities", None)
        self._user_messages[message_id] = msg
        return self.server._push_update({"edited_message": msg})

    # -- buttons -------------------------------------------------------------------------

    async def press(self, message: BotMessage | int, button: str) -> int:
        """Tap an inline button (matched by its text, else by its callback_data)."""
        msg = message if isinstance(message, BotMessage) else self.message(message)
        msg = self.server._chats[msg.chat_id].message(msg.message_id)
        if msg.deleted:
            raise AssertionError(f"message {msg.message_id} was deleted; its buttons are gone")
        found: str | None = None
        for row in msg.buttons:
            for text, data in row:
                if button in (text, data) and found is None:
                    if data is None:
                        raise AssertionError(f"button {text!r} has no callback_data")
                    found = data
        if found is None:
            raise AssertionError(
                f"message {msg.message_id} has no button {button!r}; buttons: {msg.buttons}"
            )
        return self._callback_update(msg, found)

    async def press_data(self, message_id: int, data: str, chat_id: int | None = None) -> int:
        """Send a callback_query with arbitrary (possibly forged) data."""
        chat = self.server._chats[chat_id if chat_id is not None else self.chat_id]
        return self._callback_update(chat.message(message_id), data)

    def _callback_update(self, msg: BotMessage, data: str) -> int:
        self._check_can_send()
        self.started = True
        query_id = str(4_000_000_000_000 + self.server._next_serial())
        update = {
            "callback_query": {
                "id": query_id,
                "from": self.user_dict(),
                "message": _copy(msg.raw),
                "chat_instance": str(-(abs(msg.chat_id) * 7919 + self.user_id)),
                "data": data,
            }
        }
        update_id = self.server._push_update(update)
        self.server._callback_queries[query_id] = update_id
        self.callback_update_ids.append(update_id)
        return update_id

    async def wait_for_callback_answer(
        self, update_id: int, timeout: float = 10  # noqa: ASYNC109
    ) -> CallbackAnswer:
        return await self.server.wait_for_callback_answer(update_id, timeout)

    # -- membership ----------------------------------------------------------------------

    def _member_update(self, old: str, new: str) -> int:
        bot = self.server.bot_user
        return self.server._push_update(
            {
                "my_chat_member": {
                    "chat": self.chat_dict(),
                    "from": self.user_dict(),
                    "date": _now(),
                    "old_chat_member": {"user": bot, "status": old}
                    | ({"until_date": 0} if old == "kicked" else {}),
                    "new_chat_member": {"user": bot, "status": new}
                    | ({"until_date": 0} if new == "kicked" else {}),
                }
            }
        )

    async def block_bot(self) -> int:
        self.blocked = True
        return self._member_update("member", "kicked")

    async def unblock_bot(self) -> int:
        self.blocked = False
        return self._member_update("kicked", "member")


class GroupHandle(ChatHandle):
    """A basic group chat with the bot (bot gets every message: privacy mode off)."""

    chat_type = "group"

    def __init__(self, server: BotApiServer, chat_id: int, title: str) -> None:
        super().__init__(server, chat_id)
        self.title = title
        self.bot_status = "left"

    def chat_dict(self) -> dict[str, Any]:
        return {"id": self.chat_id, "title": self.title, "type": "group",
                "all_members_are_administrators": True}

    def _member_update(self, by_user: UserHandle, old: str, new: str) -> int:
        bot = self.server.bot_user
        self.bot_status = new
        return self.server._push_update(
            {
                "my_chat_member": {
                    "chat": self.chat_dict(),
                    "from": by_user.user_dict(),
                    "date": _now(),
                    # A "kicked" member carries until_date, as Telegram sends it.
                    "old_chat_member": {"user": bot, "status": old}
                    | ({"until_date": 0} if old == "kicked" else {}),
                    "new_chat_member": {"user": bot, "status": new}
                    | ({"until_date": 0} if new == "kicked" else {}),
                }
            }
        )

    async def add_bot(self, by_user: UserHandle) -> int:
        return self._member_update(by_user, self.bot_status, "member")

    async def remove_bot(self, by_user: UserHandle) -> int:
        return self._member_update(by_user, self.bot_status, "kicked")

    async def send_text(self, user: UserHandle, text: str) -> int:
        if self.bot_status != "member":
            raise AssertionError(f"the bot is not a member of group {self.chat_id}")
        return user._message_update(_text_content(text), chat=self)


def _text_content(text: str) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split()[0] if text.split() else text
        content["entities"] = [
            {"offset": 0, "length": utf16_len(command), "type": "bot_command"}
        ]
    return content


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

Handler = Callable[[dict[str, Any], dict[str, _Upload]], Awaitable[Any]]
_BOT_PATH = re.compile(r"^/bot([^/]+)/([A-Za-z_]+)/?$")
_FILE_PATH = re.compile(r"^/file/bot([^/]+)/(.+)$")
_CONTROL_PATH = re.compile(r"^/_user/(-?[0-9]+)/([a-z_]+)$")


class BotApiServer:
    """Telegram Bot API emulator on 127.0.0.1 with a Python "user side" for tests.

    Waiting helpers are event-driven: every state change wakes waiters, so tests never sleep
    on wall-clock time (except ``wait_idle``'s documented quiet window).
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        port: int = 0,
        files_dir: Path | None = None,
        bot_username: str = "gespreksmaatje_bot",
        bot_first_name: str = "Gespreksmaatje",
        host: str = "127.0.0.1",
        control_api: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.token = token
        self.control_api = control_api
        self.host = host
        self.port = port
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        digits = token.split(":", 1)[0]
        self.bot_id = int(digits) if digits.isdigit() else 1
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._files_dir = files_dir
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._serial = 0

        self._chats: dict[int, ChatHandle] = {}
        self._pending: list[dict[str, Any]] = []
        self._next_update_id = 100_000_001
        self.delivery_counts: dict[int, int] = {}
        self.confirmed_offset = 0
        self.all_updates: list[dict[str, Any]] = []
        self._allowed_updates: set[str] | None = None
        self._poll_generation = 0
        self.webhook_url = ""

        self.files: dict[str, StoredFile] = {}
        self.uploads: list[StoredFile] = []
        self._photo_groups: dict[str, list[dict[str, Any]]] = {}
        self._file_counter = 0

        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._inflight = 0
        self._last_activity = 0.0
        self._failures: dict[str, list[ApiError]] = {}
        self._callback_queries: dict[str, int] = {}
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.commands: list[dict[str, Any]] = []
        # Strict Telegram (off while limits is None): flood limits, callback timeout.
        self.limits = limits
        self._chat_buckets: dict[int, _Bucket] = {}
        self._global_bucket: _Bucket | None = None
        self.too_many_requests = 0
        self.too_many_requests_by_chat: dict[int, int] = {}
        self._callback_handed: dict[int, float] = {}  # update_id -> first getUpdates return
        self._callback_delays: dict[int, float] = {}  # update_id -> seconds until answered
        # Every error the bot got, except flood 429s, fail_next failures and getUpdates.
        self.bot_errors: list[tuple[str, int, str]] = []
        self._subscribers: list[asyncio.Queue[dict[str, Any]]] = []
        self._methods: dict[str, tuple[str, Handler]] = {}
        self._register_methods()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> BotApiServer:
        if self._files_dir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="localbotapi-")
            self._files_dir = Path(self._tmpdir.name)
        self._files_dir.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._closing = False
        return self

    async def stop(self) -> None:
        self._closing = True
        self._bump()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
            self._files_dir = None

    async def __aenter__(self) -> BotApiServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Pass as python-telegram-bot's ``base_url``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def file_url(self) -> str:
        """Pass as python-telegram-bot's ``base_file_url``."""
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def files_dir(self) -> Path:
        if self._files_dir is None:
            raise RuntimeError("server not started")
        return self._files_dir

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # -- user side -----------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Sam",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "nl",
    ) -> UserHandle:
        """Get or create a user; the bot may message them only after they contacted it."""
        existing = self._chats.get(user_id)
        if isinstance(existing, UserHandle):
            return existing
        handle = UserHandle(self, user_id, first_name, last_name, username, language_code)
        self._chats[user_id] = handle
        return handle

    def group(self, chat_id: int, title: str = "Groep") -> GroupHandle:
        existing = self._chats.get(chat_id)
        if isinstance(existing, GroupHandle):
            return existing
        handle = GroupHandle(self, chat_id, title)
        self._chats[chat_id] = handle
        return handle

    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update; keeps its update_id if given (e.g. to re-send an old one)."""
        return self._push_update(_copy(update), update.get("update_id"))

    def _push_update(self, body: dict[str, Any], update_id: int | None = None) -> int:
        if update_id is None:
            update_id = self._next_update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        update = {"update_id": update_id, **{k: v for k, v in body.items() if k != "update_id"}}
        self._pending.append(update)
        self._pending.sort(key=lambda u: u["update_id"])
        self.all_updates.append(update)
        self._emit({"type": "update", "update": _copy(update)})
        self._bump()
        return update_id

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    # -- observing -----------------------------------------------------------------------

    def call_count(self, method: str) -> int:
        name = self._canonical(method)
        return sum(1 for m, _ in self.calls if m == name)

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        name = self._canonical(method)
        return [p for m, p in self.calls if m == name]

    def upload_count(self) -> int:
        return len(self.uploads)

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].read_bytes()

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._pending)

    def callback_answer_for(self, update_id: int) -> CallbackAnswer | None:
        for answer in self.callback_answers.values():
            if answer.update_id == update_id:
                return answer
        return None

    def callback_delays(self) -> list[float]:
        """Seconds from handing each answered callback query to the bot to its answer."""
        return list(self._callback_delays.values())

    def unanswered_callbacks(self) -> list[int]:
        """Update ids of callback queries handed to the bot but never answered."""
        answered = {a.update_id for a in self.callback_answers.values()}
        return sorted(uid for uid in self._callback_handed if uid not in answered)

    def set_limits(self, limits: Limits | None) -> None:
        """Switch Telegram's limits on (with full buckets) or off (None)."""
        self.limits = limits
        self._chat_buckets.clear()
        self._global_bucket = None

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """Live events for a UI: message, edit, delete, callback_answer, chat_action, update."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def _emit(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    def fail_next(
        self,
        method: str,
        times: int = 1,
        error_code: int = 500,
        description: str = "Internal Server Error",
        retry_after: int | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail (e.g. 429 with retry_after, 500)."""
        params = {"retry_after": retry_after} if retry_after is not None else None
        if error_code == 429 and description == "Internal Server Error":
            description = f"Too Many Requests: retry after {retry_after or 1}"
        errors = self._failures.setdefault(self._canonical(method), [])
        errors.extend(_Imposed(error_code, description, params) for _ in range(times))

    # -- waiting -------------------------------------------------------------------------

    def _bump(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(seconds, 0))

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10,  # noqa: ASYNC109 - part of the documented test API
        describe: Callable[[], str] | str = "condition",
    ) -> None:
        """Wait until predicate() holds, re-checking on every server state change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                text = describe() if callable(describe) else f"timed out waiting for {describe}"
                raise AssertionError(text)
            await self._wait_change(remaining)

    async def wait_until_confirmed(self, update_id: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Return once the bot called getUpdates with an offset above update_id."""
        await self.wait_for(
            lambda: self.confirmed_offset > update_id,
            timeout,
            lambda: f"update {update_id} not confirmed within {timeout}s "
            f"(highest offset {self.confirmed_offset})",
        )

    async def wait_for_callback_answer(
        self, update_id: int, timeout: float = 10  # noqa: ASYNC109
    ) -> CallbackAnswer:
        await self.wait_for(
            lambda: self.callback_answer_for(update_id) is not None,
            timeout,
            f"answerCallbackQuery for update {update_id}",
        )
        answer = self.callback_answer_for(update_id)
        assert answer is not None
        return answer

    async def wait_idle(self, quiet: float = 0.2, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Return when every update is confirmed and no bot call (other than a waiting
        getUpdates) came in for `quiet` seconds. The quiet window is the only real-time wait:
        confirmation alone cannot tell whether the bot's handler has finished."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = loop.time()
            busy = bool(self._pending) or self._inflight > 0
            quiet_for = now - self._last_activity
            if not busy and quiet_for >= quiet:
                return
            if now >= deadline:
                pending = [u["update_id"] for u in self._pending]
                raise AssertionError(
                    f"bot not idle within {timeout}s: pending={pending} inflight={self._inflight}"
                )
            wait = deadline - now if busy else min(quiet - quiet_for, deadline - now)
            await self._wait_change(wait)

    # -- files ---------------------------------------------------------------------------

    def _store_file(
        self,
        kind: str,
        data: bytes,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        meta: dict[str, Any] | None = None,
        uploaded_by_bot: bool = False,
    ) -> StoredFile:
        self._file_counter += 1
        folder, ext = _FILE_DIRS.get(kind, ("documents", ""))
        if not ext and file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1][:8]
        rel = f"{folder}/file_{self._file_counter}{ext}"
        path = self.files_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        prefix = {"photo": "AgAC", "voice": "AwAC", "document": "BQAC", "video": "BAAC"}
        stored = StoredFile(
            file_id=prefix.get(kind, "CAAC") + "Ag" + secrets.token_urlsafe(40),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            kind=kind,
            path=path,
            file_path=rel,
            file_size=len(data),
            mime_type=mime_type,
            file_name=file_name,
            uploaded_by_bot=uploaded_by_bot,
            meta=dict(meta or {}),
        )
        self.files[stored.file_id] = stored
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        """PhotoSize array: a 90px thumbnail (if Pillow can read it) plus the original."""
        width = height = 0
        sizes: list[dict[str, Any]] = []
        try:
            from PIL import Image

            with Image.open(io.BytesIO(stored.read_bytes())) as img:
                width, height = img.size
                if max(width, height) > 90:
                    thumb = img.convert("RGB")
                    thumb.thumbnail((90, 90))
                    buf = io.BytesIO()
                    thumb.save(buf, "JPEG")
                    small = self._store_file(
                        "photo", buf.getvalue(), meta={"width": thumb.width,
                                                       "height": thumb.height}
                    )
                    sizes.append(small.as_object())
        except Exception:  # not an image Pillow knows: Telegram would still accept it
            pass
        stored.meta.update({"width": width, "height": height})
        sizes.append(stored.as_object())
        for size in sizes:
            self._photo_groups[size["file_id"]] = sizes
        return sizes

    # -- HTTP ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        m = _BOT_PATH.match(request.path)
        if m:
            return await self._handle_method(request, m.group(1), m.group(2))
        m = _FILE_PATH.match(request.path)
        if m and request.method in ("GET", "HEAD"):
            return self._handle_file(m.group(1), m.group(2))
        m = _CONTROL_PATH.match(request.path)
        if m and self.control_api:
            return await self._handle_control(request, int(m.group(1)), m.group(2))
        return _envelope_error(ApiError(404, "Not Found"))

    async def _handle_control(
        self, request: web.Request, user_id: int, action: str
    ) -> web.StreamResponse:
        """Tiny JSON user side for standalone runs (``--control``): curl can play the user."""
        body: dict[str, Any] = {}
        if request.method == "POST" and request.body_exists:
            body = await request.json()
        user = self.user(user_id, first_name=str(body.get("first_name", "Sam")))
        try:
            if action == "messages":
                return web.json_response([m.to_dict() for m in user.messages])
            if action == "send_text":
                return web.json_response({"update_id": await user.send_text(body["text"])})
            if action == "press":
                uid = await user.press(int(body["message_id"]), str(body["button"]))
                return web.json_response({"update_id": uid})
        except (AssertionError, KeyError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"error": f"unknown action {action}"}, status=404)

    def _handle_file(self, token: str, file_path: str) -> web.StreamResponse:
        if token != self.token:
            return _envelope_error(ApiError(401, "Unauthorized"))
        for stored in self.files.values():
            if stored.file_path == file_path:
                return web.Response(
                    body=stored.read_bytes(),
                    content_type=stored.mime_type or "application/octet-stream",
                )
        return _envelope_error(ApiError(404, "Not Found"))

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, _Upload]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, _Upload] = {}
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except json.JSONDecodeError:
                    raise _bad("can't parse JSON object") from None
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = _Upload(
                            value.filename, value.content_type, value.file.read()
                        )
                    else:
                        params[key] = value if isinstance(value, str) else value.decode()
        return params, files

    async def _handle_method(
        self, request: web.Request, token: str, method: str
    ) -> web.StreamResponse:
        entry = self._methods.get(method.lower())
        name = entry[0] if entry else method
        if token != self.token:
            return self._error_response(name, ApiError(401, "Unauthorized"))
        try:
            params, files = await self._read_params(request)
        except ApiError as err:
            return self._error_response(name, err)
        logged = dict(params)
        for key, upload in files.items():
            logged[key] = f"<upload {upload.filename} {len(upload.data)} bytes>"
        self.calls.append((name, logged))
        is_poll = name == "getUpdates"
        if not is_poll:
            self._inflight += 1
            self._last_activity = asyncio.get_running_loop().time()
        self._bump()
        try:
            if entry is None:
                raise ApiError(404, "Not Found")
            failures = self._failures.get(name)
            if failures:
                raise failures.pop(0)
            self._take_tokens(name, params)
            result = await entry[1](params, files)
        except ApiError as err:
            return self._error_response(name, err)
        finally:
            if not is_poll:
                self._inflight -= 1
                self._last_activity = asyncio.get_running_loop().time()
            self._bump()
        return web.json_response({"ok": True, "result": result})

    def _error_response(self, method: str, err: ApiError) -> web.Response:
        """The error envelope; a mistake of the bot is also logged in ``bot_errors``."""
        if method != "getUpdates" and not isinstance(err, _Imposed):
            self.bot_errors.append((method, err.code, err.description))
        return _envelope_error(err)

    def _take_tokens(self, method: str, params: dict[str, Any]) -> None:
        """With limits on, take a token from the chat's and the global bucket for a call that
        sends or edits a message; without both, take none and refuse like Telegram."""
        limits = self.limits
        if limits is None or method not in _RATE_LIMITED:
            return
        try:
            chat_id = int(str(params.get("chat_id")))
        except ValueError:
            return  # the method itself refuses it
        now = asyncio.get_running_loop().time()
        chat = self._chat_buckets.setdefault(
            chat_id,
            _Bucket(limits.per_chat_burst, limits.per_chat_per_second, limits.per_chat_burst, now),
        )
        if self._global_bucket is None:
            self._global_bucket = _Bucket(
                limits.global_burst, limits.global_per_second, limits.global_burst, now
            )
        wait = max(chat.wait(now), self._global_bucket.wait(now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self.too_many_requests += 1
            self.too_many_requests_by_chat[chat_id] = (
                self.too_many_requests_by_chat.get(chat_id, 0) + 1
            )
            raise _Imposed(429, f"Too Many Requests: retry after {retry_after}",
                           {"retry_after": retry_after})
        chat.tokens -= 1
        self._global_bucket.tokens -= 1

    def _canonical(self, method: str) -> str:
        entry = self._methods.get(method.lower())
        return entry[0] if entry else method

    def _register_methods(self) -> None:
        table: dict[str, Handler] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._true,
            "setMyDescription": self._true,
            "setMyShortDescription": self._true,
            "setMyName": self._true,
            "setMessageReaction": self._true,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._media("photo"),
            "sendVoice": self._media("voice"),
            "sendAudio": self._media("audio"),
            "sendDocument": self._media("document"),
            "sendVideo": self._media("video"),
            "sendVideoNote": self._media("video_note"),
            "sendSticker": self._media("sticker"),
            "sendAnimation": self._media("animation"),
            "sendLocation": self._send_location,
            "editMessageText": self._edit_text,
            "editMessageCaption": self._edit_caption,
            "editMessageReplyMarkup": self._edit_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "getChat": self._get_chat,
        }
        self._methods = {name.lower(): (name, fn) for name, fn in table.items()}

    # -- simple methods ------------------------------------------------------------------

    async def _true(self, params: dict[str, Any], files: dict[str, _Upload]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, _Upload]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        return True

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, _Upload]) -> bool:
        self.webhook_url = ""
        if _as_bool(params.get("drop_pending_updates", False)) and self._pending:
            self.confirmed_offset = max(self.confirmed_offset, self._pending[-1]["update_id"] + 1)
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._pending)}

    async def _set_my_commands(self, params: dict[str, Any], files: dict[str, _Upload]) -> bool:
        commands = _as_json(params.get("commands", "[]"), "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        self.commands = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        return self.commands

    async def _delete_my_commands(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        self.commands = []
        return True

    # -- getUpdates ----------------------------------------------------------------------

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = -offset
            dropped = self._pending[:-keep] if keep < len(self._pending) else []
            self._pending = self._pending[len(dropped):]
            if dropped:
                self.confirmed_offset = max(self.confirmed_offset, dropped[-1]["update_id"] + 1)
            return
        self._pending = [u for u in self._pending if u["update_id"] >= offset]
        self.confirmed_offset = max(self.confirmed_offset, offset)

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        def allowed(update: dict[str, Any]) -> bool:
            kinds = set(update) - {"update_id"}
            if self._allowed_updates is None:
                return not kinds <= _UPDATE_TYPES_OFF_BY_DEFAULT
            return bool(kinds & self._allowed_updates)

        self._pending = [u for u in self._pending if allowed(u)]
        return [_copy(u) for u in self._pending[:limit]]

    async def _get_updates(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                           "use deleteWebhook to delete the webhook first")
        limit = min(max(_as_int(params.get("limit", 100), "limit"), 1), 100)
        timeout = max(float(params.get("timeout", 0) or 0), 0.0)
        if "allowed_updates" in params:
            kinds = _as_json(params["allowed_updates"], "can't parse allowed_updates")
            self._allowed_updates = set(kinds) if kinds else None
        if params.get("offset") not in (None, ""):
            self._confirm(_as_int(params["offset"], "offset"))
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._deliverable(limit)
            if batch or self._closing or loop.time() >= deadline:
                break
            await self._wait_change(deadline - loop.time())
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                               "sure that only one bot instance is running")
        for update in batch:
            uid = update["update_id"]
            self.delivery_counts[uid] = self.delivery_counts.get(uid, 0) + 1
            if "callback_query" in update:
                self._callback_handed.setdefault(uid, loop.time())
        if batch:
            self._last_activity = loop.time()
        return batch

    # -- sending -------------------------------------------------------------------------

    def _chat_for_bot(self, params: dict[str, Any]) -> ChatHandle:
        raw = params.get("chat_id")
        if raw in (None, ""):
            raise _bad("chat_id is empty")
        try:
            chat_id = int(str(raw))
        except ValueError:
            raise _bad("chat not found") from None
        chat = self._chats.get(chat_id)
        if chat is None:
            raise _bad("chat not found")
        if isinstance(chat, UserHandle):
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif isinstance(chat, GroupHandle) and chat.bot_status != "member":
            if chat.bot_status == "kicked":
                raise ApiError(403, "Forbidden: bot was kicked from the group chat")
            raise ApiError(403, "Forbidden: bot is not a member of the group chat")
        return chat

    def _format(
        self, text: str, params: dict[str, Any], key: str, entities_key: str
    ) -> tuple[str, list[dict[str, Any]] | None]:
        mode = str(params.get("parse_mode") or "")
        entities: list[dict[str, Any]] | None = None
        if mode.lower() == "html":
            try:
                text, entities = parse_html(text)
            except EntityParseError as err:
                raise _bad(f"can't parse entities: {err}") from None
        elif mode and mode.lower() not in ("markdown", "markdownv2"):
            raise _bad(f"unsupported parse_mode {mode}")
        elif params.get(entities_key):
            entities = _as_json(params[entities_key], f"can't parse {entities_key} JSON object")
        stripped = text.strip()
        if entities and stripped != text:
            shift = utf16_len(text) - utf16_len(text.lstrip())
            limit = utf16_len(stripped)
            fixed = []
            for e in entities:
                start = max(e["offset"] - shift, 0)
                end = min(e["offset"] + e["length"] - shift, limit)
                if end > start:
                    fixed.append({**e, "offset": start, "length": end - start})
            entities = fixed
        return stripped, entities or None

    def _parse_markup(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[list[tuple[str, str | None]]], list[list[str]] | None,
               bool]:
        raw = params.get("reply_markup")
        if raw in (None, ""):
            return None, [], None, False
        markup = _as_json(raw, "can't parse reply keyboard markup JSON object")
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an "
                           "Array of Arrays")
            buttons: list[list[tuple[str, str | None]]] = []
            for row in rows:
                out_row: list[tuple[str, str | None]] = []
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise _bad("can't parse inline keyboard button: Field \"text\" must be "
                                   "of type String")
                    data = button.get("callback_data")
                    if data is not None:
                        size = len(str(data).encode("utf-8"))
                        if size < 1 or size > 64:
                            raise _bad("BUTTON_DATA_INVALID")
                    elif not any(k in button for k in ("url", "web_app", "login_url", "pay",
                                                       "switch_inline_query", "copy_text",
                                                       "switch_inline_query_current_chat",
                                                       "switch_inline_query_chosen_chat",
                                                       "callback_game")):
                        raise _bad("can't parse inline keyboard button: Text buttons are "
                                   "unallowed in the inline keyboard")
                    url = button.get("url")
                    if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                        raise _bad(f"inline keyboard button URL '{url}' is invalid: "
                                   "Wrong HTTP URL")
                    out_row.append((button["text"], None if data is None else str(data)))
                buttons.append(out_row)
            return markup, buttons, None, False
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list):
                raise _bad("can't parse reply keyboard markup JSON object")
            keyboard = [
                [b if isinstance(b, str) else str(b.get("text", "")) for b in row]
                for row in rows
            ]
            return markup, [], keyboard, False
        if markup.get("remove_keyboard"):
            return markup, [], None, True
        return markup, [], None, False

    def _record_bot_message(
        self,
        chat: ChatHandle,
        kind: str,
        content: dict[str, Any],
        params: dict[str, Any],
    ) -> dict[str, Any]:
        markup, buttons, keyboard, remove = self._parse_markup(params)
        mid = chat._allocate_id()
        raw: dict[str, Any] = {
            "message_id": mid,
            "from": self.bot_user,
            "chat": chat.chat_dict(),
            "date": _now(),
            **content,
        }
        reply_to = self._reply_target(chat, params)
        if reply_to is not None:
            raw["reply_to_message"] = reply_to
        if buttons:
            raw["reply_markup"] = markup
        if keyboard is not None:
            chat.reply_keyboard = keyboard
        elif remove:
            chat.reply_keyboard = None
        file_obj = content.get(kind)
        file_id = None
        if isinstance(file_obj, list) and file_obj:
            file_id = file_obj[-1]["file_id"]
        elif isinstance(file_obj, dict):
            file_id = file_obj.get("file_id")
        msg = BotMessage(
            message_id=mid,
            chat_id=chat.chat_id,
            kind=kind,
            text=content.get("text"),
            caption=content.get("caption"),
            file_id=file_id,
            buttons=buttons,
            keyboard=keyboard,
            remove_keyboard=remove,
            reply_markup=markup,
            parse_mode=params.get("parse_mode"),
            raw=raw,
        )
        chat.messages.append(msg)
        self._emit({"type": "message", "chat_id": chat.chat_id, "message": msg.to_dict()})
        return _copy(raw)

    def _reply_target(self, chat: ChatHandle, params: dict[str, Any]) -> dict[str, Any] | None:
        reply_id: int | None = None
        allow_missing = _as_bool(params.get("allow_sending_without_reply", False))
        if params.get("reply_parameters"):
            rp = _as_json(params["reply_parameters"], "can't parse reply parameters JSON object")
            if isinstance(rp, dict) and "message_id" in rp:
                reply_id = _as_int(rp["message_id"], "message_id")
                allow_missing = allow_missing or _as_bool(
                    rp.get("allow_sending_without_reply", False)
                )
        elif params.get("reply_to_message_id"):
            reply_id = _as_int(params["reply_to_message_id"], "reply_to_message_id")
        if reply_id is None:
            return None
        if reply_id in chat._user_messages:
            return _copy(chat._user_messages[reply_id])
        for m in chat.messages:
            if m.message_id == reply_id and not m.deleted:
                return _copy(m.raw)
        if allow_missing:
            return None
        raise _bad("message to be replied not found")

    async def _send_message(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat = self._chat_for_bot(params)
        text, entities = self._format(str(params.get("text", "")), params, "text", "entities")
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > 4096:
            raise _bad("message is too long")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._record_bot_message(chat, "text", content, params)

    async def _send_location(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat = self._chat_for_bot(params)
        try:
            loc = {"latitude": float(params["latitude"]), "longitude": float(params["longitude"])}
        except (KeyError, ValueError):
            raise _bad("wrong latitude or longitude specified") from None
        return self._record_bot_message(chat, "location", {"location": loc}, params)

    def _media(self, kind: str) -> Handler:
        async def handler(params: dict[str, Any], files: dict[str, _Upload]) -> Any:
            return await self._send_media(kind, params, files)

        return handler

    def _resolve_file(
        self, kind: str, params: dict[str, Any], files: dict[str, _Upload]
    ) -> tuple[StoredFile, bool]:
        """The file being sent: a fresh upload (True) or a known file_id (False)."""
        upload = files.get(kind)
        value = params.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://"):])
            if upload is None:
                raise _bad(f"file must be non-empty (attach {value} not found)")
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            mime = upload.content_type
            if kind == "voice":
                mime = "audio/ogg"
            meta: dict[str, Any] = {}
            for key in ("duration", "width", "height", "length", "title", "performer"):
                if params.get(key) not in (None, ""):
                    val = params[key]
                    meta[key] = str(val) if key in ("title", "performer") else _as_int(val, key)
            if kind in ("voice", "audio", "video", "video_note", "animation"):
                meta.setdefault("duration", 0)
            if kind in ("video", "animation"):
                meta.setdefault("width", 0)
                meta.setdefault("height", 0)
            if kind == "video_note":
                meta.setdefault("length", 240)
            if kind == "sticker":
                meta.update({"type": "regular", "width": 512, "height": 512,
                             "is_animated": False, "is_video": False})
            stored = self._store_file(
                kind, upload.data, mime_type=mime, file_name=upload.filename,
                meta=meta, uploaded_by_bot=True,
            )
            self.uploads.append(stored)
            return stored, True
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            raise _bad("failed to get HTTP URL content")
        stored_file = self.files.get(value)
        if stored_file is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        if kind not in _COMPATIBLE.get(stored_file.kind, {stored_file.kind}):
            raise _bad(f"can't use file of type {stored_file.kind.title()} as "
                       f"{kind.title()}")
        return stored_file, False

    async def _send_media(
        self, kind: str, params: dict[str, Any], files: dict[str, _Upload]
    ) -> Any:
        chat = self._chat_for_bot(params)
        stored, fresh = self._resolve_file(kind, params, files)
        content: dict[str, Any]
        if kind == "photo":
            if fresh:
                sizes = self._photo_sizes(stored)
            else:
                sizes = self._photo_groups.get(stored.file_id, [stored.as_object()])
            content = {"photo": _copy(sizes)}
        elif kind == "animation":
            obj = {**stored.as_object(), "file_name": stored.file_name or "animation.mp4"}
            content = {"animation": obj, "document": obj}
        else:
            obj = stored.as_object()
            if kind == "document" and "file_name" not in obj:
                obj["file_name"] = stored.file_name or stored.path.name
            content = {kind: obj}
        if kind != "sticker" and params.get("caption"):
            caption, entities = self._format(
                str(params["caption"]), params, "caption", "caption_entities"
            )
            if utf16_len(caption) > 1024:
                raise _bad("message caption is too long")
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return self._record_bot_message(chat, kind, content, params)

    # -- editing -------------------------------------------------------------------------

    def _find_for_edit(self, params: dict[str, Any], missing: str) -> tuple[ChatHandle, BotMessage]:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._chat_for_bot(params)
        if params.get("message_id") in (None, ""):
            raise _bad("message identifier is not specified")
        mid = _as_int(params["message_id"], "message_id")
        for m in chat.messages:
            if m.message_id == mid and not m.deleted:
                return chat, m
        if mid in chat._user_messages and missing == "message to edit not found":
            raise _bad("message can't be edited")
        raise _bad(missing)

    def _apply_edit(
        self, chat: ChatHandle, msg: BotMessage, params: dict[str, Any],
        changes: dict[str, Any], drop: tuple[str, ...],
    ) -> dict[str, Any]:
        markup, buttons, _, _ = self._parse_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        skip = {*drop, "reply_markup", "edit_date"}
        new_raw = {k: v for k, v in msg.raw.items() if k not in skip}
        new_raw.update(changes)
        if buttons:
            new_raw["reply_markup"] = markup
        old_cmp = {k: v for k, v in msg.raw.items() if k != "edit_date"}
        if new_raw == old_cmp:
            raise _bad(_NOT_MODIFIED[len("Bad Request: "):])
        msg.history.append(
            {"text": msg.text, "caption": msg.caption, "buttons": _copy(msg.buttons)}
        )
        new_raw["edit_date"] = _now()
        msg.raw = new_raw
        msg.text = new_raw.get("text")
        msg.caption = new_raw.get("caption")
        msg.buttons = buttons
        msg.reply_markup = markup if buttons else None
        msg.edited = True
        self._emit({"type": "edit", "chat_id": chat.chat_id, "message": msg.to_dict()})
        return _copy(new_raw)

    async def _edit_text(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat, msg = self._find_for_edit(params, "message to edit not found")
        if msg.text is None:
            raise _bad("there is no text in the message to edit")
        text, entities = self._format(str(params.get("text", "")), params, "text", "entities")
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > 4096:
            raise _bad("MESSAGE_TOO_LONG")
        changes: dict[str, Any] = {"text": text}
        if entities:
            changes["entities"] = entities
        return self._apply_edit(chat, msg, params, changes, ("text", "entities"))

    async def _edit_caption(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat, msg = self._find_for_edit(params, "message to edit not found")
        if msg.text is not None:
            raise _bad("there is no caption in the message to edit")
        caption, entities = self._format(
            str(params.get("caption", "")), params, "caption", "caption_entities"
        )
        if utf16_len(caption) > 1024:
            raise _bad("message caption is too long")
        changes: dict[str, Any] = {}
        if caption:
            changes["caption"] = caption
        if entities:
            changes["caption_entities"] = entities
        return self._apply_edit(chat, msg, params, changes, ("caption", "caption_entities"))

    async def _edit_markup(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat, msg = self._find_for_edit(params, "message to edit not found")
        return self._apply_edit(chat, msg, params, {}, ())

    async def _delete_message(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat = self._chat_for_bot(params)
        mid = _as_int(params.get("message_id", ""), "message_id")
        if not self._delete_one(chat, mid):
            raise _bad("message to delete not found")
        return True

    async def _delete_messages(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat = self._chat_for_bot(params)
        ids = _as_json(params.get("message_ids", "[]"), "can't parse message_ids")
        for mid in ids or []:
            self._delete_one(chat, _as_int(mid, "message_ids"))
        return True

    def _delete_one(self, chat: ChatHandle, mid: int) -> bool:
        for m in chat.messages:
            if m.message_id == mid and not m.deleted:
                m.deleted = True
                self._emit({"type": "delete", "chat_id": chat.chat_id, "message": m.to_dict()})
                return True
        if mid in chat._user_messages:
            del chat._user_messages[mid]
            self._emit({"type": "delete", "chat_id": chat.chat_id,
                        "message": {"message_id": mid, "chat_id": chat.chat_id}})
            return True
        return False

    # -- misc ----------------------------------------------------------------------------

    async def _answer_callback(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        query_id = str(params.get("callback_query_id", ""))
        update_id = self._callback_queries.get(query_id)
        if update_id is None or query_id in self.callback_answers:
            raise _bad(_QUERY_TOO_OLD)
        now = asyncio.get_running_loop().time()
        handed = self._callback_handed.get(update_id)
        window = self.limits.callback_window if self.limits is not None else None
        if handed is not None and window is not None and now - handed > window:
            raise _bad(_QUERY_TOO_OLD)
        answer = CallbackAnswer(
            query_id=query_id,
            update_id=update_id,
            text=params.get("text") or None,
            show_alert=_as_bool(params.get("show_alert", False)),
            url=params.get("url") or None,
            cache_time=_as_int(params.get("cache_time", 0), "cache_time"),
        )
        self.callback_answers[query_id] = answer
        if handed is not None:
            self._callback_delays[update_id] = now - handed
        self._emit({"type": "callback_answer", "chat_id": None, "update_id": update_id,
                    "message": asdict(answer)})
        return True

    async def _send_chat_action(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        chat = self._chat_for_bot(params)
        action = str(params.get("action", ""))
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        chat.chat_actions.append(action)
        self._emit({"type": "chat_action", "chat_id": chat.chat_id,
                    "message": {"action": action}})
        return True

    async def _get_file(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": stored.file_size, "file_path": stored.file_path}

    async def _get_chat(self, params: dict[str, Any], files: dict[str, _Upload]) -> Any:
        raw = params.get("chat_id")
        try:
            chat = self._chats[int(str(raw))]
        except (KeyError, ValueError):
            raise _bad("chat not found") from None
        return chat.full_info()


def _envelope_error(err: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
    if err.parameters:
        body["parameters"] = err.parameters
    return web.json_response(body, status=err.code)
