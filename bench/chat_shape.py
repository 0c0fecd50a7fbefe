"""What a client's chat costs in messages and Bot API calls: one whole preparation (the walk
of docs/transcript.md) against the local Bot API server, with speech on (a fake gTTS on
localhost) and off, and a bare PTB echo bot in the same run as the yardstick.

Printed: messages per question (min–max over the questions), messages when the list opens
(/lijst and the review), the follow-up after an answer, and Bot API calls per client update
(sends, edits and answers to presses; not getUpdates/getFile). Then the picto mat: two
clients each place the nine pictures of "a good day"; per picture the Bot API calls of the
second client (whose cards and voice clips Telegram has already: sent by file_id).

Run: ``.venv/bin/python bench/chat_shape.py``
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.echo_run import run_echo  # noqa: E402
from localbotapi.server import BotMessage, UserHandle  # noqa: E402
from tests.fake_gtts import FakeGtts  # noqa: E402
from tests.harness import Harness, harness  # noqa: E402

NOT_REPLIES = {"getUpdates", "getMe", "getFile", "setMyCommands", "deleteWebhook",
               "getWebhookInfo", "close", "logOut"}


@dataclass
class Shape:
    question: list[int] = field(default_factory=list)  # messages of an update that asks anew
    follow_up: list[int] = field(default_factory=list)  # messages after an answer
    review: list[int] = field(default_factory=list)
    updates: int = 0
    calls: int = 0

    def span(self, values: list[int]) -> str:
        return f"{min(values)}–{max(values)}" if values else "-"


class Walk:
    def __init__(self, h: Harness, user: UserHandle, shape: Shape) -> None:
        self.h, self.user, self.shape = h, user, shape

    async def _count(self, action: object, kind: str = "") -> list[BotMessage]:
        before = self._calls()
        out = await self.h.act(self.user, action)
        self.shape.updates += 1
        self.shape.calls += self._calls() - before
        asks = any(m.kind == "photo" and m.buttons for m in out)
        if kind == "review":
            self.shape.review.append(len(out))
        elif kind == "answer" and not asks:
            self.shape.follow_up.append(len(out))
        elif asks:
            self.shape.question.append(len(out))
        return out

    def _calls(self) -> int:
        return sum(1 for name, _ in self.h.server.calls if name not in NOT_REPLIES)

    async def say(self, text: str) -> None:
        await self._count(self.user.send_text(text), "answer")

    async def tap(self, label: str, kind: str = "") -> None:
        message = next(m for m in reversed(self.user.messages) if any(
            t == label or t.endswith(" " + label) for t in m.button_texts()))
        full = next(t for t in message.button_texts() if t == label or t.endswith(" " + label))
        await self._count(self.user.press(message, full), kind)

    async def command(self, command: str, kind: str = "") -> None:
        await self._count(self.user.send_command(command), kind)


@contextlib.asynccontextmanager
async def running_bot(speech: bool) -> AsyncIterator[Harness]:
    """The real bot on a fresh SQLite database, speaking through a fake gTTS (or not)."""
    fake = FakeGtts().start()
    try:
        with tempfile.TemporaryDirectory(prefix="shape-") as folder:
            async with harness(f"sqlite+aiosqlite:///{folder}/bench.db", Path(folder)) as h:
                h.settings = h.settings.model_copy(update={"speech_enabled": speech,
                                                           "gtts_base_url": fake.url})
                await h.start_bot()
                yield h
    finally:
        fake.stop()


async def preparation(speech: bool) -> Shape:
    shape = Shape()
    async with running_bot(speech) as h:
        token = await h.enrol("Sam")
        user = h.server.user(1001, first_name="Sam")
        walk = Walk(h, user, shape)
        await walk._count(user.send_command("/start", token))
        await walk.tap("➡️ Beginnen")
        for answer in ["Tekenen", "Koken"]:
            await walk.say(answer)
        await walk.tap("➡️ Verder")
        await walk.say("Dat ik help")
        await walk.tap("➡️ Verder")
        await walk.say("Op mezelf wonen")
        await walk.tap("➕ Ja, nog iets")
        await walk.tap("💡 Help me kiezen")
        await walk.tap("Geld en rechten")
        await walk.say("Zelf betalen")
        await walk.tap("➡️ Nee, verder")
        for answer in ["Uitslapen", "", "Rust", "Lawaai", "Mijn kat", "Een tuin", "",
                       "Op de groep", "Mama"]:
            if answer:
                await walk.say(answer)
                await walk.tap("➡️ Verder")
            else:
                await walk.tap("🤷 Weet ik nog niet")
        await walk.tap("Samen met iemand")
        await walk.tap("Met een pauze")
        await walk.tap("👍 Klaar")
        await walk.tap("➡️ Verder", "review")
        await walk.command("/lijst", "review")
        await walk.tap("👍 Ja, het klopt")
    return shape


@dataclass
class MatShape:
    sends: list[int] = field(default_factory=list)  # sendPhoto/sendVoice/… per picture
    calls: list[int] = field(default_factory=list)  # … and the press's answer
    uploads: int = 0  # files uploaded by the second client (not by file_id)


async def mat_shape() -> MatShape:
    shape = MatShape()
    async with running_bot(speech=True) as h:
        for number, name in enumerate(("Sam", "Lotte")):
            user = await h.join(1001 + number, name)
            await h.tap(user, "➡️ Beginnen")
            await h.tap(user, "🤷 Weet ik nog niet")  # good at
            await h.tap(user, "🤷 Weet ik nog niet")  # appreciated
            await h.tap(user, "🤷 Weet ik nog niet")  # agenda: the help first
            await h.tap(user, "🤷 Weet ik nog niet")  # agenda: skipped
            await h.tap(user, "🖼️ Kiezen met plaatjes")
            for place in ["🙂 Fijn", "🤔 Weet ik niet", "🙁 Niet fijn"] * 3:
                before = list(h.server.calls)
                await h.tap(user, place)
                made = [(n, p) for n, p in h.server.calls[len(before):]
                        if n not in NOT_REPLIES]
                if number == 1:  # the second client: everything known already
                    shape.calls.append(len(made))
                    shape.sends.append(sum(n != "answerCallbackQuery" for n, _ in made))
                    shape.uploads += sum(str(p.get("photo", p.get("voice", ""))
                                             ).startswith("<upload") for _n, p in made)
    return shape


async def main() -> None:
    spoken = await preparation(speech=True)
    silent = await preparation(speech=False)
    echo = await run_echo(users=1, per_user=40)
    echo_calls = (echo.replies + echo.updates // 2) / echo.updates  # every other: a press
    print("one whole preparation (1 client, SQLite); the echo bot: 40 updates in the same run")
    print(f"{'':34} {'speech on':>10} {'speech off':>11} {'echo bot':>9}")
    print(f"{'messages per question':34} {spoken.span(spoken.question):>10} "
          f"{silent.span(silent.question):>11} {'1':>9}")
    print(f"{'messages after an answer':34} {spoken.span(spoken.follow_up):>10} "
          f"{silent.span(silent.follow_up):>11} {'1':>9}")
    print(f"{'messages for the list (review)':34} {spoken.span(spoken.review):>10} "
          f"{silent.span(silent.review):>11} {'-':>9}")
    print(f"{'Bot API calls per client update':34} {spoken.calls / spoken.updates:>10.2f} "
          f"{silent.calls / silent.updates:>11.2f} {echo_calls:>9.2f}")
    print(f"{'client updates':34} {spoken.updates:>10} {silent.updates:>11} "
          f"{echo.updates:>9}")
    mat = await mat_shape()
    print("\nthe picto mat, speech on: per picture placed by a second client (9 pictures; the "
          "last press shows the whole mat)")
    print(f"{'Bot API sends per picture':34} {min(mat.sends[:-1])}–{max(mat.sends[:-1])} "
          f"(the mat: {mat.sends[-1]})")
    print(f"{'… with the answer to the press':34} {min(mat.calls[:-1])}–{max(mat.calls[:-1])} "
          f"(the mat: {mat.calls[-1]})")
    print(f"{'files uploaded (not by file_id)':34} {mat.uploads}")


if __name__ == "__main__":
    asyncio.run(main())
