"""The sandbox's page API, end to end: the real bot behind a local Bot API server, driven
through the same HTTP API and Server-Sent Events the browser page uses."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.settings import Settings, load_settings
from bot.state.models import (
    Admin,
    Begeleider,
    Client,
    Meeting,
    Naaste,
    Organisation,
    Person,
    utcnow,
)
from sandbox import SandboxHandle, run_sandbox, start_sandbox
from sandbox.app import sandbox_settings
from sandbox.demo import CLIENT, MENTOR, MOTHER

Item = dict[str, Any]


def make_settings(tmp: Path, db: bool = True) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp / 'sandbox-test.db'}" if db else ""
    return load_settings(database_url=url, data_dir=tmp / "data", speech_enabled=False,
                         _env_file=None)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[SandboxHandle]:
    handle = await start_sandbox(make_settings(tmp_path), port=0, with_media=False)
    try:
        yield handle
    finally:
        await handle.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Stream:
    """The page's event stream for one persona, read the way EventSource does."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.items: dict[int, Item] = {}

    async def next(self, timeout: float = 10) -> tuple[str, Item]:  # noqa: ASYNC109
        event, data = "message", ""
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                raise AssertionError("the event stream ended")
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and data:
                return event, json.loads(data)

    async def until(self, check: Callable[[dict[int, Item]], bool],
                    timeout: float = 10) -> dict[int, Item]:  # noqa: ASYNC109
        """Apply events like the page does until `check(chat)` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check(self.items):
            event, data = await self.next(max(deadline - loop.time(), 0.01))
            if event == "snapshot":
                self.items = {m["id"]: m for m in data["messages"]}
            elif event in ("message", "edit"):
                self.items[data["id"]] = data
            elif event == "delete":
                self.items.pop(data["id"], None)
        return self.items


async def open_stream(http: aiohttp.ClientSession, handle: SandboxHandle,
                      persona: str = "client") -> Stream:
    response = await http.get(f"{handle.url}/api/chat/{persona}/events",
                              timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return Stream(response)


def texts(chat: dict[int, Item]) -> str:
    return "\n".join(m.get("text") or m.get("caption") or "" for m in chat.values())


def has(text: str) -> Callable[[dict[int, Item]], bool]:
    return lambda chat: text in texts(chat)


def button(chat: dict[int, Item], label: str) -> tuple[int, str]:
    for message in reversed(list(chat.values())):
        for row in message["buttons"]:
            for b in row:
                if b["text"] == label:
                    return message["id"], b["data"]
    raise AssertionError(f"no button {label!r}")


async def post(http: aiohttp.ClientSession, handle: SandboxHandle, path: str,
               **payload: Any) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{handle.url}/api/chat/{path}", json=payload) as response:
        return response.status, await response.json()


async def welcome(http: aiohttp.ClientSession, handle: SandboxHandle) -> Stream:
    stream = await open_stream(http, handle)
    status, body = await post(http, handle, "client/open")
    assert status == 200 and body["ok"], body
    await stream.until(lambda chat: any(m["buttons"] for m in chat.values()))
    return stream


async def test_page_and_static_files_are_served(sandbox: SandboxHandle,
                                                http: aiohttp.ClientSession) -> None:
    async with http.get(sandbox.url) as response:
        assert response.status == 200
        assert "Gespreksmaatje" in await response.text()
    for name in ("chat.js", "chat.css"):
        async with http.get(f"{sandbox.url}/static/{name}") as response:
            assert response.status == 200
    for font in ("openmoji.woff2", "atkinson-regular.ttf"):
        async with http.get(f"{sandbox.url}/fonts/{font}") as response:
            assert response.status == 200, font
    async with http.get(f"{sandbox.url}/fonts/..%2Fsecret") as response:
        assert response.status == 404
    async with http.get(f"{sandbox.url}/api/personas") as response:
        keys = [p["key"] for p in (await response.json())["result"]]
    assert keys == ["client", "begeleider", "naaste", "mentor"]


async def test_first_open_gives_the_client_the_welcome(sandbox: SandboxHandle,
                                                       http: aiohttp.ClientSession) -> None:
    stream = await welcome(http, sandbox)
    chat = stream.items
    assert "Hoi Sam" in texts(chat)
    mine = [m for m in chat.values() if m["from"] == "me"]
    assert len(mine) == 1 and mine[0]["text"].startswith("/start ")
    button(chat, "➡️ Beginnen")
    # A second open (another tab, a reload) does not start the chat again.
    await post(http, sandbox, "client/open")
    assert sandbox.server.user(CLIENT.user_id).sent_message_ids == [mine[0]["id"]]


async def test_beginnen_then_an_answer_streams_live(sandbox: SandboxHandle,
                                                    http: aiohttp.ClientSession) -> None:
    stream = await welcome(http, sandbox)
    message_id, data = button(stream.items, "➡️ Beginnen")
    status, body = await post(http, sandbox, "client/press", message_id=message_id, data=data)
    assert status == 200, body
    await stream.until(has("Waar ben jij goed in?"))
    status, _ = await post(http, sandbox, "client/text", text="Ik kan goed tekenen")
    assert status == 200
    chat = await stream.until(has("Nog iets? Of tik op Verder."))
    assert any(m["from"] == "me" and m["text"] == "Ik kan goed tekenen" for m in chat.values())
    ids = list(chat)
    assert ids == sorted(ids)


async def test_history_after_reconnect(sandbox: SandboxHandle,
                                       http: aiohttp.ClientSession) -> None:
    stream = await welcome(http, sandbox)
    message_id, data = button(stream.items, "➡️ Beginnen")
    await post(http, sandbox, "client/press", message_id=message_id, data=data)
    before = await stream.until(has("Waar ben jij goed in?"))
    stream.response.close()
    async with http.get(f"{sandbox.url}/api/chat/client/history") as response:
        history = (await response.json())["result"]["messages"]
    assert [m["id"] for m in history] == sorted(before)
    again = await open_stream(http, sandbox)
    event, snapshot = await again.next()
    assert event == "snapshot"
    assert [m["id"] for m in snapshot["messages"]] == sorted(before)
    assert "Waar ben jij goed in?" in json.dumps(snapshot, ensure_ascii=False)
    again.response.close()


async def test_forged_and_stale_input_gets_a_clear_error(sandbox: SandboxHandle,
                                                         http: aiohttp.ClientSession) -> None:
    stream = await welcome(http, sandbox)
    message_id, _ = button(stream.items, "➡️ Beginnen")
    status, body = await post(http, sandbox, "client/press", message_id=message_id,
                              data="forged")
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")
    status, body = await post(http, sandbox, "client/press", message_id=9999, data="x")
    assert status == 400 and body["message"]
    status, body = await post(http, sandbox, "client/text", text="   ")
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, body = await post(http, sandbox, "nobody/text", text="hoi")
    assert status == 404 and not body["ok"]
    async with http.post(f"{sandbox.url}/api/chat/client/text", data=b"{nope") as response:
        assert response.status == 400
        assert (await response.json())["ok"] is False


async def test_oversized_upload_gets_a_clear_error(sandbox: SandboxHandle,
                                                   http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("kind", "document")
    form.add_field("file", b"\0" * (20 * 1024 * 1024 + 1), filename="groot.pdf",
                   content_type="application/pdf")
    async with http.post(f"{sandbox.url}/api/chat/client/upload", data=form) as response:
        body = await response.json()
    assert response.status == 413
    assert body["ok"] is False and body["description"] == "Request Entity Too Large"
    assert "20 MB" in body["message"]
    assert sandbox.server.user(CLIENT.user_id).sent_message_ids == []


async def upload(http: aiohttp.ClientSession, handle: SandboxHandle, kind: str, data: bytes,
                 filename: str, mime: str) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("kind", kind)
    form.add_field("file", data, filename=filename, content_type=mime)
    async with http.post(f"{handle.url}/api/chat/client/upload", data=form) as response:
        return response.status, await response.json()


def webm_opus(seconds: float = 1.0) -> bytes:
    """What Chromium's MediaRecorder makes: Opus in a WebM container."""
    import math
    import struct

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000, layout="mono")
        total = int(48000 * seconds)
        for start in range(0, total, 960):
            tone = [int(8000 * math.sin(2 * math.pi * 440 * (start + i) / 48000))
                    for i in range(960)]
            frame = av.AudioFrame(format="s16", layout="mono", samples=960)
            frame.planes[0].update(struct.pack(f"<{len(tone)}h", *tone))
            frame.sample_rate = 48000
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


async def test_uploads_become_telegram_messages(sandbox: SandboxHandle,
                                                http: aiohttp.ClientSession) -> None:
    from PIL import Image

    await welcome(http, sandbox)
    png = io.BytesIO()
    Image.new("RGB", (300, 200), "teal").save(png, "PNG")
    status, body = await upload(http, sandbox, "photo", png.getvalue(), "foto.png", "image/png")
    assert status == 200, body
    status, body = await upload(http, sandbox, "voice", webm_opus(), "spraak.webm",
                                "audio/webm")
    assert status == 200, body
    status, body = await upload(http, sandbox, "document", b"%PDF-1.4 demo", "plan.pdf",
                                "application/pdf")
    assert status == 200, body
    raws = list(sandbox.server.user(CLIENT.user_id)._user_messages.values())
    assert [k for raw in raws for k in ("photo", "voice", "document") if k in raw] == [
        "photo", "voice", "document"]
    voice = next(raw["voice"] for raw in raws if "voice" in raw)
    ogg = sandbox.server.file_bytes(voice["file_id"])
    assert ogg.startswith(b"OggS") and b"OpusHead" in ogg[:200]
    assert voice["duration"] >= 1 and voice["mime_type"] == "audio/ogg"
    async with http.get(f"{sandbox.url}/api/chat/client/file/{voice['file_id']}") as response:
        assert response.status == 200 and response.content_type == "audio/ogg"
    async with http.get(f"{sandbox.url}/api/chat/naaste/file/{voice['file_id']}") as response:
        assert response.status == 404  # another person's file


async def test_wrong_file_types_are_refused(sandbox: SandboxHandle,
                                            http: aiohttp.ClientSession) -> None:
    status, body = await upload(http, sandbox, "photo", b"not an image", "x.jpg", "image/jpeg")
    assert (status, body["description"]) == (400, "Bad Request: IMAGE_PROCESS_FAILED")
    status, body = await upload(http, sandbox, "voice", b"no sound here", "x.mp3", "audio/mpeg")
    assert status == 400 and "geluid" in body["message"]
    status, body = await upload(http, sandbox, "sticker", b"x", "x.webp", "image/webp")
    assert status == 400
    status, body = await upload(http, sandbox, "document", b"", "leeg.txt", "text/plain")
    assert (status, body["description"]) == (400, "Bad Request: file must be non-empty")


async def test_a_flood_of_clicks_gets_retry_after(sandbox: SandboxHandle,
                                                  http: aiohttp.ClientSession) -> None:
    results = [await post(http, sandbox, "naaste/text", text=f"hoi {i}") for i in range(20)]
    refused = [body for status, body in results if status == 429]
    assert refused, [status for status, _ in results]
    assert refused[0]["parameters"]["retry_after"] >= 1
    assert refused[0]["description"].startswith("Too Many Requests: retry after")


async def test_long_text_is_split_like_telegram(sandbox: SandboxHandle,
                                                http: aiohttp.ClientSession) -> None:
    text = ("woord " * 1500).strip()  # about 9000 characters
    status, body = await post(http, sandbox, "mentor/text", text=text)
    assert status == 200 and len(body["result"]["update_ids"]) == 3
    status, body = await post(http, sandbox, "mentor/text", text="x" * 40000)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")


async def test_demo_seeds_a_linked_organisation(tmp_path: Path,
                                                http: aiohttp.ClientSession) -> None:
    handle = await start_sandbox(make_settings(tmp_path), port=0, demo=True,
                                 with_media=False)
    try:
        async with handle.store.unit() as unit:
            def rows(model: Any) -> Any:
                return unit.session.execute(select(model))
            orgs = list((await rows(Organisation)).scalars())
            people = {p.telegram_user_id: p for p in (await rows(Person)).scalars()}
            client = (await rows(Client)).scalar_one()
            naasten = list((await rows(Naaste)).scalars())
            meeting = (await rows(Meeting)).scalar_one()
            assert (await rows(Admin)).scalar_one().organisation_id == orgs[0].id
            coach = (await rows(Begeleider)).scalar_one()
        assert [o.name for o in orgs] == ["Zorggroep De Linde (demo)"]
        assert client.person_id == people[CLIENT.user_id].id
        assert client.begeleider_id == coach.id
        assert {(n.name, n.relation, n.person_id) for n in naasten} == {
            ("Anja", "moeder", people[MOTHER.user_id].id),
            ("Pieter", "mentor", people[MENTOR.user_id].id)}
        assert meeting.starts_at is not None
        ahead = meeting.starts_at - utcnow()
        assert timedelta(days=20) < ahead < timedelta(days=22)
        stream = await welcome(http, handle)
        assert "Hoi Sam" in texts(stream.items)
        assert "Je gesprek is op" in texts(stream.items)
        mine = [m["text"] for m in stream.items.values() if m["from"] == "me"]
        assert mine == ["/start"]  # already linked: no start token needed
        stream.response.close()
    finally:
        await handle.stop()
    # A second start on the same database finds the demo and does not duplicate it.
    again = await start_sandbox(make_settings(tmp_path), port=0, demo=True,
                                with_media=False)
    try:
        async with again.store.unit() as unit:
            assert len(list((await unit.session.execute(select(Client))).scalars())) == 1
    finally:
        await again.stop()


def test_sandbox_uses_its_own_database_file(tmp_path: Path) -> None:
    settings = sandbox_settings(make_settings(tmp_path, db=False))
    assert settings.db_url.endswith("/data/sandbox.db")
    assert "gespreksmaatje.db" not in settings.db_url


async def test_run_sandbox_prints_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sandbox(make_settings(tmp_path), 0, False, stop))
    out = ""
    for _ in range(200):
        out += capsys.readouterr().out
        if out or task.done():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 20)
    assert out.startswith("Sandbox: open http://127.0.0.1:")
    assert out.endswith(" in your browser (Ctrl+C stops it).\n")
    assert out.count("\n") == 1
