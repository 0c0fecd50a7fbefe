"""The server's state and the plumbing every Bot API method builds on: the update queue,
change notification and events, the chat a call addresses, recording a message the bot sent."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from localbotapi.chats import ChatHandle, GroupHandle, UserHandle
from localbotapi.errors import ApiError, bad
from localbotapi.limits import Bucket, Limits
from localbotapi.markup import parse_markup
from localbotapi.state import BotMessage, CallbackAnswer, StoredFile
from localbotapi.values import Upload, as_bool, as_int, as_json, json_copy, unix_now

_UPDATE_TYPES_OFF_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}

Handler = Callable[[dict[str, Any], dict[str, Upload]], Awaitable[Any]]


class ServerCore:
    """State of a BotApiServer; the Bot API methods live in the mixins built on it."""

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
        webhook_timeout: float = 10.0,
        webhook_retry_first: float = 0.1,
        webhook_retry_max: float = 2.0,
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
        # Webhook (setWebhook): where and how updates are POSTed, and what happened.
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_max_connections = 40
        self.webhook_timeout = webhook_timeout  # seconds for one POST, answer included
        self.webhook_retry_first = webhook_retry_first  # backoff after a failed POST ...
        self.webhook_retry_max = webhook_retry_max  # ... doubling up to this
        self.webhook_last_error: tuple[int, str] | None = None  # (unix date, message)
        self.webhook_deliveries: list[tuple[int, int | None]] = []  # (update_id, status)
        self._hook_session: aiohttp.ClientSession | None = None
        self._hook_loop: asyncio.Task[None] | None = None
        self._hook_busy: dict[int | None, asyncio.Task[None]] = {}  # chat -> its delivery

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
        self._chat_buckets: dict[int, Bucket] = {}
        self._global_bucket: Bucket | None = None
        self.too_many_requests = 0
        self.too_many_requests_by_chat: dict[int, int] = {}
        self._callback_handed: dict[int, float] = {}  # update_id -> first getUpdates return
        self._callback_delays: dict[int, float] = {}  # update_id -> seconds until answered
        # Every error the bot got, except flood 429s, fail_next failures and getUpdates.
        self.bot_errors: list[tuple[str, int, str]] = []
        self._subscribers: list[asyncio.Queue[dict[str, Any]]] = []
        self._methods: dict[str, tuple[str, Handler]] = {}
        self._register_methods()

    def _register_methods(self) -> None:
        """Fill ``self._methods`` (lower-case name -> (name, handler)): the server's job."""
        raise NotImplementedError

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

    def _push_update(self, body: dict[str, Any], update_id: int | None = None) -> int:
        if update_id is None:
            update_id = self._next_update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        update = {"update_id": update_id, **{k: v for k, v in body.items() if k != "update_id"}}
        self._pending.append(update)
        self._pending.sort(key=lambda u: u["update_id"])
        self.all_updates.append(update)
        self._emit({"type": "update", "update": json_copy(update)})
        self._bump()
        return update_id

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        """The first `limit` pending updates the bot wants, as copies."""
        self._drop_unwanted()
        return [json_copy(u) for u in self._pending[:limit]]

    def _drop_unwanted(self) -> None:
        """Drop the pending updates allowed_updates excludes, as Telegram does."""
        def allowed(update: dict[str, Any]) -> bool:
            kinds = set(update) - {"update_id"}
            if self._allowed_updates is None:
                return not kinds <= _UPDATE_TYPES_OFF_BY_DEFAULT
            return bool(kinds & self._allowed_updates)

        self._pending = [u for u in self._pending if allowed(u)]

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _emit(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    def _bump(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(seconds, 0))

    def _chat_for_bot(self, params: dict[str, Any]) -> ChatHandle:
        raw = params.get("chat_id")
        if raw in (None, ""):
            raise bad("chat_id is empty")
        try:
            chat_id = int(str(raw))
        except ValueError:
            raise bad("chat not found") from None
        chat = self._chats.get(chat_id)
        if chat is None:
            raise bad("chat not found")
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

    def _record_bot_message(
        self,
        chat: ChatHandle,
        kind: str,
        content: dict[str, Any],
        params: dict[str, Any],
    ) -> dict[str, Any]:
        markup, buttons, keyboard, remove = parse_markup(params)
        mid = chat._allocate_id()
        raw: dict[str, Any] = {
            "message_id": mid,
            "from": self.bot_user,
            "chat": chat.chat_dict(),
            "date": unix_now(),
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
        return json_copy(raw)

    def _reply_target(self, chat: ChatHandle, params: dict[str, Any]) -> dict[str, Any] | None:
        reply_id: int | None = None
        allow_missing = as_bool(params.get("allow_sending_without_reply", False))
        if params.get("reply_parameters"):
            rp = as_json(params["reply_parameters"], "can't parse reply parameters JSON object")
            if isinstance(rp, dict) and "message_id" in rp:
                reply_id = as_int(rp["message_id"], "message_id")
                allow_missing = allow_missing or as_bool(
                    rp.get("allow_sending_without_reply", False)
                )
        elif params.get("reply_to_message_id"):
            reply_id = as_int(params["reply_to_message_id"], "reply_to_message_id")
        if reply_id is None:
            return None
        if reply_id in chat._user_messages:
            return json_copy(chat._user_messages[reply_id])
        for m in chat.messages:
            if m.message_id == reply_id and not m.deleted:
                return json_copy(m.raw)
        if allow_missing:
            return None
        raise bad("message to be replied not found")
