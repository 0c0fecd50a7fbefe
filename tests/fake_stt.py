"""A stand-in for an OpenAI-compatible speech-to-text server (`POST
/v1/audio/transcriptions`), on localhost, in the test's event loop.

mode: "ok" (the canned text for the audio it got, else `text`), "error" (HTTP 500), "hang"
(no answer until released or the client gives up), "empty" (a text of only spaces)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeStt:
    text: str = "Ik wil graag op mezelf wonen"
    canned: dict[bytes, str] = field(default_factory=dict)  # audio bytes -> what was said
    mode: str = "ok"
    delay: float = 0.0  # seconds the engine "thinks" (the benchmark's slow engine)
    calls: list[dict[str, str]] = field(default_factory=list)  # the form fields (no audio)
    audio: list[bytes] = field(default_factory=list)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> FakeStt:
        app = web.Application()
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        data = upload.file.read() if isinstance(upload, web.FileField) else b""
        self.audio.append(data)
        self.calls.append({k: str(v) for k, v in form.items() if k != "file"}
                          | {"authorization": request.headers.get("Authorization", "")})
        if self.mode == "error":
            return web.json_response({"error": "overloaded"}, status=500)
        if self.mode == "hang":
            await self._release.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "empty":
            return web.json_response({"text": "   "})
        return web.json_response({"text": self.canned.get(data, self.text)})
