"""Voice answers written out by a speech-to-text server (issue 19): the widely used
OpenAI-compatible `POST /v1/audio/transcriptions` (whisper.cpp's server, faster-whisper
servers, vLLM, hosted services). Off unless `TRANSCRIBE_URL` is set.

Runs after the answer is committed and the replies are out, in a task of its own, so a slow
or hanging engine delays nobody. Whatever goes wrong (down, slow, an error, an empty or
unusable text), the voice answer stays as it is, the client hears nothing, and the operator
gets one log line per outage (not one per message)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp

log = logging.getLogger("gespreksmaatje.transcribe")

PATH = "/v1/audio/transcriptions"
LONGEST = 2000  # characters; more than anyone says in one voice answer: the engine ran off
FILENAMES = {"voice": ("voice.ogg", "audio/ogg"), "audio": ("audio.mp3", "audio/mpeg"),
             "video_note": ("video.mp4", "video/mp4")}


@dataclass(frozen=True)
class Engine:
    url: str  # the server ("http://stt:8080") or the whole endpoint
    model: str = "whisper-1"
    key: str = ""
    timeout: float = 60.0
    language: str = "nl"

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/audio/transcriptions") else url + PATH


class Transcriber:
    """One engine, one HTTP session (made on first use, closed with `close`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session: aiohttp.ClientSession | None = None
        self._down = False  # an outage is logged once, and its end once

    async def text(self, data: bytes, kind: str) -> str | None:
        """What the engine heard, or None (nothing usable; the reason logged once)."""
        try:
            words = await self._ask(data, kind)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self._trouble(f"{type(error).__name__}: {error}".split("\n")[0][:200])
            return None
        if self._down:
            self._down = False
            log.info("speech-to-text engine answers again")
        words = " ".join(words.split())
        if not words or len(words) > LONGEST or not any(c.isalnum() for c in words):
            return None  # silence, noise or a run-away: nothing to ask the client about
        return words

    async def _ask(self, data: bytes, kind: str) -> str:
        filename, mime = FILENAMES.get(kind, ("voice.ogg", "audio/ogg"))
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=mime)
        form.add_field("model", self.engine.model)
        form.add_field("language", self.engine.language)
        form.add_field("response_format", "json")
        headers = {"Authorization": f"Bearer {self.engine.key}"} if self.engine.key else {}
        session = self._session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.engine.timeout))
        self._session = session
        async with session.post(self.engine.endpoint, data=form, headers=headers) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body = await response.json(content_type=None)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ValueError("no text in the answer")
        return str(body["text"])

    def _trouble(self, reason: str) -> None:
        if not self._down:
            self._down = True
            log.warning("speech-to-text engine unusable (%s): voice answers are kept "
                        "without a transcript until it answers again", reason)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
