"""bot/telegram/transport.py: python-telegram-bot's requests over aiohttp. The end-to-end
tests send everything through it; these pin what they cannot easily provoke: a Bot API
that does not answer in time, one that cannot be reached, and an upload's form."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.telegram.transport import AiohttpRequest

TOKEN = "123:abc"


@contextlib.asynccontextmanager
async def api(handler: web.Handler) -> AsyncIterator[str]:
    """A tiny Bot API on 127.0.0.1 answering every method with `handler`."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        await runner.cleanup()


ME = {"id": 1, "is_bot": True, "first_name": "b", "username": "b_bot"}


def _message(chat_id: int, **extra: object) -> dict[str, object]:
    return {"message_id": 7, "date": 0, "chat": {"id": chat_id, "type": "private"}, **extra}


async def test_a_text_and_an_upload_arrive_as_telegram_reads_them() -> None:
    seen: list[tuple[str, dict[str, str], bytes | None]] = []

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("getMe"):
            return web.json_response({"ok": True, "result": ME})
        if request.content_type == "application/json":  # no file: the parameters as JSON
            data, fields = None, {k: str(v) for k, v in (await request.json()).items()}
        else:  # a file goes along: multipart form data
            form = await request.post()
            upload = form.get("voice")
            data = upload.file.read() if isinstance(upload, web.FileField) else None
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        seen.append((request.path.rsplit("/", 1)[-1], fields, data))
        extra = {"voice": {"file_id": "F1", "file_unique_id": "U1", "duration": 1}} if data \
            else {"text": fields.get("text", "")}
        return web.json_response({"ok": True, "result": _message(5, **extra)})

    request = AiohttpRequest(connection_pool_size=4)
    async with api(handler) as base_url, Bot(TOKEN, base_url=base_url, request=request) as bot:
        sent = await bot.send_message(5, "Hoi Sam")
        voice = await bot.send_voice(5, b"OggS fake clip", duration=1)
    assert sent.text == "Hoi Sam" and voice.voice is not None and voice.voice.file_id == "F1"
    methods = [m for m, _f, _d in seen]
    assert methods == ["sendMessage", "sendVoice"]
    assert seen[0][1]["text"] == "Hoi Sam" and seen[0][1]["chat_id"] == "5"
    assert seen[1][2] == b"OggS fake clip" and seen[1][1]["duration"] == "1"


async def test_a_bot_api_that_does_not_answer_times_out() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("getMe"):
            return web.json_response({"ok": True, "result": ME})
        await release.wait()
        return web.json_response({"ok": True, "result": True})

    async with api(handler) as base_url, Bot(TOKEN, base_url=base_url,
                                             request=AiohttpRequest(4)) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(5, "Hoi", read_timeout=0.2)
        release.set()


async def test_an_unreachable_bot_api_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="aiohttp"):
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()


async def test_an_unstarted_transport_says_so() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest(1).do_request("http://127.0.0.1:1/", "POST")
