"""Local Telegram Bot API server: the bot side over HTTP, the user side as a Python API.

Why: tests, the benchmark and the browser sandbox drive the real bot (python-telegram-bot
pointed at ``base_url``) without internet, against a peer that answers like Telegram does:
same envelopes, same error texts, real long polling, re-delivery of unconfirmed updates,
and webhook delivery (POST, retried until the bot answers 2xx).

This module holds BotApiServer: the aiohttp app, the method table, flood limits, the
observing and waiting helpers. The rest of the package, one job a module:
``core`` (state and shared plumbing), ``methods_updates``, ``methods_messages``,
``methods_files``, ``methods_bot`` (the Bot API methods, as mixins), ``webhook`` (POSTing
updates to a webhook), ``chats`` (the user side), ``formatting`` (parse_mode=HTML),
``markup`` (reply_markup), ``state``, ``limits``, ``errors``, ``values``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from localbotapi.chats import ChatHandle, GroupHandle, UserHandle
from localbotapi.core import Handler
from localbotapi.errors import ApiError, Imposed, bad, envelope_error
from localbotapi.formatting import EntityParseError, parse_html
from localbotapi.limits import RATE_LIMITED, Bucket, Limits
from localbotapi.methods_bot import BotMethods
from localbotapi.methods_files import FileMethods
from localbotapi.methods_messages import MessageMethods
from localbotapi.methods_updates import UpdateMethods
from localbotapi.state import BotMessage, CallbackAnswer, StoredFile
from localbotapi.values import Upload, json_copy

# The names tests, bench and the sandbox import from here (and localbotapi re-exports).
__all__ = [
    "ApiError", "BotApiServer", "BotMessage", "CallbackAnswer", "ChatHandle",
    "EntityParseError", "GroupHandle", "Limits", "StoredFile", "UserHandle", "parse_html",
]

_BOT_PATH = re.compile(r"^/bot([^/]+)/([A-Za-z_]+)/?$")
_FILE_PATH = re.compile(r"^/file/bot([^/]+)/(.+)$")
_CONTROL_PATH = re.compile(r"^/_user/(-?[0-9]+)/([a-z_]+)$")


class BotApiServer(UpdateMethods, MessageMethods, FileMethods, BotMethods):
    """Telegram Bot API emulator on 127.0.0.1 with a Python "user side" for tests.

    Waiting helpers are event-driven: every state change wakes waiters, so tests never sleep
    on wall-clock time (except ``wait_idle``'s documented quiet window).
    """

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
        self._start_webhook_delivery()  # a webhook set before a restart
        return self

    async def stop(self) -> None:
        self._closing = True
        self._bump()
        await self._stop_webhook_delivery()
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
        return self._push_update(json_copy(update), update.get("update_id"))

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

    def webhook_accepted(self, update_id: int) -> bool:
        """Whether the webhook answered a POST of update_id with HTTP 2xx."""
        return any(uid == update_id and status is not None and 200 <= status < 300
                   for uid, status in self.webhook_deliveries)

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
        errors.extend(Imposed(error_code, description, params) for _ in range(times))

    # -- waiting -------------------------------------------------------------------------

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
        """Return once the bot called getUpdates with an offset above update_id, or (webhook)
        once it accepted update_id and every earlier update."""
        await self.wait_for(
            lambda: self.confirmed_offset > update_id,
            timeout,
            lambda: f"update {update_id} not confirmed within {timeout}s "
            f"(highest offset {self.confirmed_offset})",
        )

    async def wait_for_webhook(self, update_id: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Return once the webhook accepted update_id (answered its POST with HTTP 2xx)."""
        await self.wait_for(
            lambda: self.webhook_accepted(update_id),
            timeout,
            lambda: f"update {update_id} not accepted by the webhook within {timeout}s "
            f"(attempts: {[s for u, s in self.webhook_deliveries if u == update_id]}, "
            f"last error: {self.webhook_last_error})",
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
        return envelope_error(ApiError(404, "Not Found"))

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
            return envelope_error(ApiError(401, "Unauthorized"))
        for stored in self.files.values():
            if stored.file_path == file_path:
                return web.Response(
                    body=stored.read_bytes(),
                    content_type=stored.mime_type or "application/octet-stream",
                )
        return envelope_error(ApiError(404, "Not Found"))

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, Upload]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, Upload] = {}
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except json.JSONDecodeError:
                    raise bad("can't parse JSON object") from None
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = Upload(
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
        if method != "getUpdates" and not isinstance(err, Imposed):
            self.bot_errors.append((method, err.code, err.description))
        return envelope_error(err)

    def _take_tokens(self, method: str, params: dict[str, Any]) -> None:
        """With limits on, take a token from the chat's and the global bucket for a call that
        sends or edits a message; without both, take none and refuse like Telegram."""
        limits = self.limits
        if limits is None or method not in RATE_LIMITED:
            return
        try:
            chat_id = int(str(params.get("chat_id")))
        except ValueError:
            return  # the method itself refuses it
        now = asyncio.get_running_loop().time()
        chat = self._chat_buckets.setdefault(
            chat_id,
            Bucket(limits.per_chat_burst, limits.per_chat_per_second, limits.per_chat_burst, now),
        )
        if self._global_bucket is None:
            self._global_bucket = Bucket(
                limits.global_burst, limits.global_per_second, limits.global_burst, now
            )
        wait = max(chat.wait(now), self._global_bucket.wait(now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self.too_many_requests += 1
            self.too_many_requests_by_chat[chat_id] = (
                self.too_many_requests_by_chat.get(chat_id, 0) + 1
            )
            raise Imposed(429, f"Too Many Requests: retry after {retry_after}",
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
