"""The user side: chats as the people in them see them, and users and groups that act."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localbotapi.formatting import utf16_len
from localbotapi.state import BotMessage, CallbackAnswer
from localbotapi.values import compact, json_copy, unix_now

if TYPE_CHECKING:
    from localbotapi.server import BotApiServer


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

    def _bot_status_update(self, by_user: UserHandle, old: str, new: str) -> int:
        """Queue the my_chat_member update of `by_user` changing the bot's status here."""
        bot = self.server.bot_user
        return self.server._push_update(
            {
                "my_chat_member": {
                    "chat": self.chat_dict(),
                    "from": by_user.user_dict(),
                    "date": unix_now(),
                    # A "kicked" member carries until_date, as Telegram sends it.
                    "old_chat_member": {"user": bot, "status": old}
                    | ({"until_date": 0} if old == "kicked" else {}),
                    "new_chat_member": {"user": bot, "status": new}
                    | ({"until_date": 0} if new == "kicked" else {}),
                }
            }
        )

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
        return compact(
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
        return compact(
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
            "date": unix_now(),
            **content,
        }
        target._user_messages[mid] = msg
        if target is self:
            self.sent_message_ids.append(mid)
        self.started = True
        return self.server._push_update({"message": msg})

    async def send_text(self, text: str) -> int:
        """A text message; a leading "/command" gets a bot_command entity like Telegram."""
        return self._message_update(text_content(text))

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
        contact = compact(
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
        msg = {**msg, **text_content(new_text), "edit_date": unix_now()}
        if "entities" not in text_content(new_text):
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
                "message": json_copy(msg.raw),
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
        return self._bot_status_update(self, old, new)

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
        self.bot_status = new
        return self._bot_status_update(by_user, old, new)

    async def add_bot(self, by_user: UserHandle) -> int:
        return self._member_update(by_user, self.bot_status, "member")

    async def remove_bot(self, by_user: UserHandle) -> int:
        return self._member_update(by_user, self.bot_status, "kicked")

    async def send_text(self, user: UserHandle, text: str) -> int:
        if self.bot_status != "member":
            raise AssertionError(f"the bot is not a member of group {self.chat_id}")
        return user._message_update(text_content(text), chat=self)


def text_content(text: str) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split()[0] if text.split() else text
        content["entities"] = [
            {"offset": 0, "length": utf16_len(command), "type": "bot_command"}
        ]
    return content
