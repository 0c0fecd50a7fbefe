"""A seeded, bounded fuzzer: hostile and confused Telegram users against the real bot.

Shared by `tests/test_fuzz.py` (a short run that must come out clean) and `bench/fuzz.py`
(`--updates 10000`). The real bot (`BotRunner`, through `tests.harness.harness`) talks to the
local Bot API server; this module plays a small organisation on the user side of that server:

* an admin who is also a begeleider, a begeleider who is also a naaste, a naaste of two
  clients, a plain naaste, several invited clients, strangers without an invite, a group chat;
* every person acts with its own `random.Random` derived from the seed: texts (unicode,
  right-to-left, zero-width, emoji only, HTML and MarkdownV2 specials, 4,096 characters, a
  long text sent as two messages right after each other like Telegram splits it), every
  command the bot knows plus unknown ones and `/start <bad token>`, presses of real buttons on
  the newest messages, forged/stale/oversized callback data, stickers, photos, voice, video
  notes, documents, locations, contacts, polls, edits (also of commands), forwarded messages,
  reactions, presses on messages Telegram no longer shows, block/unblock, group messages;
* clients also walk the real preparation (real buttons, typed answers). Every text the bot
  acknowledged as an answer is remembered; at the end each must still be in the `answer`
  table, not removed, with exactly that text (or the text of the person's later edit), unless
  the client itself pressed something that may legitimately replace or remove it; the two
  halves of a long text that Telegram split must be one answer again (one item).

Every update is waited for (the runner's listeners, through `Harness.handled`) with a bounded
timeout; the whole run is bounded by an update count and a wall-clock limit. Per person the
actions are a pure function of the seed and of what the bot answered; between persons the
interleaving depends on timing, so two runs of one seed are alike, not identical.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import random
import re
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import select

from bot.dialogs import admin as admin_dialog
from bot.dialogs import begeleider as begeleider_dialog
from bot.dialogs import naaste as naaste_dialog
from bot.dialogs.client_prep import (
    BUTTON_TRIGGERS,
    CHAIR,
    DOMAINS,
    FLOW,
    HOW,
    SHARE_PARTS,
    TALKED,
)
from bot.dialogs.texts import all_texts, t
from bot.state.models import Admin, AgendaItem, Answer, Begeleider, Client, Inbox, Naaste, Person
from localbotapi import Limits
from localbotapi.server import BotApiServer, BotMessage, ChatHandle, GroupHandle, UserHandle
from localbotapi.server import parse_html as _parse_html
from tests.harness import Harness, harness

CALLBACK_IN_TIME = 10.0  # seconds: a press answered later than this counts as late
LINK = re.compile(r"https://t\.me/[\w]+\?start=([\w-]+)")
BIG = "99999999999999999999"  # > 2**63: no database integer holds it


# ------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class FuzzConfig:
    seed: int = 1
    updates: int = 500  # all updates sent, the set-up included
    max_seconds: float = 60.0  # wall clock for the whole run (set-up included)
    update_timeout: float = 20.0  # per update: how long to wait for the bot to handle it
    extra_clients: int = 0  # more invited clients (more chats at once) than the base six
    media: bool = True  # picto cards (and their PDFs) as in production; speech stays off
    limits: bool = False  # the server as strict as Telegram: flood limits (429), 15 s
    # callback window; the bot then paces its sends, so a run is much slower


# ------------------------------------------------------------------------------ the texts
def _plain(html_text: str) -> str:
    """What a person sees of one of the bot's HTML texts (the server's parse of it)."""
    try:
        return _parse_html(html_text)[0].strip()
    except ValueError:
        return html_text


# The bot's words for "I stored your text": (text key, line), for the keys this version has.
ACKS = tuple(_plain(t(key)).splitlines()[line] for key, line in (
    ("ack_text", 0), ("ack_changed", 0), ("ack_added_after_done", 0), ("kept_extra", 0),
    ("kept_forwarded", -1), ("resumed_kept", -1)) if key in all_texts())
ACK_EDITED = _plain(t("ack_edited"))
STILL_STOPPED = _plain(t("still_stopped")).splitlines()[0]
REFUSED = tuple(_plain(t(key)).splitlines()[0] for key in ("stale_button", "b_not_yours"))

DUTCH = ["Ik kan goed tekenen", "Mijn fiets maken", "Samen koken met mijn zus", "Thuis",
         "Rustig praten", "Ja", "nee", "Over mijn werk en mijn vrienden", "Harde muziek",
         "Leren fietsen", "Mijn moeder en de buurvrouw", "Op de boerderij werken",
         "Ik wil op mezelf wonen", "Geld", "Weet ik niet", "Lekker slapen"]
UNICODE = ["Zoë en Chloé gaan naar het café", "Ärger über Öl und Maß", "我想学习游泳",
           "Привет, как дела?", "Καλημέρα σας", "e\u0301e\u0301n ke\u0300er", "𝕳𝖊𝖑𝖑𝖔 𝔀𝓸𝓻𝓵𝓭",
           "ﬁets ligatuur", "ǅ ǈ ǋ", "İstanbul ıi", "ሰላም", "नमस्ते", "ＦＵＬＬ ｗｉｄｔｈ"]
RTL = ["أريد أن أعيش وحدي", "אני רוצה ללמוד לבשל", "مرحبا Sam, hoe gaat het?",
       "\u202eNiet omgekeerd\u202c lezen", "\u200fשלום\u200e ok", "﷽", "۱۲۳ ٤٥٦",
       "עברית English عربي mixed"]
ZERO_WIDTH = ["\u200b", "\u200b\u200c\u200d", "a\u200bb\u200cc\u200dd", "\ufeffstart",
              "\u2060\u2060", "\u200b/lijst", "x\u034fy", "\u180e"]
EMOJI = ["👍", "👍🎨", "🇳🇱🇲🇦", "👋🏽👋🏿", "1️⃣2️⃣#️⃣", "🧑‍🦽", "❤️‍🔥", "🏳️‍🌈",
         "👨‍👩‍👧‍👦", "😀" * 40, "🫠🫶"]
HTML = ["<b>&amp;</b><i>", "</b>", "<script>alert(1)</script>", "&lt;b&gt;",
        "a < b && c > d", '<a href="javascript:x">klik</a>', "&#0; &#x110000; &bogus;",
        "<tg-spoiler>geheim", '<pre><code class="language-">', "&", "<", "<<>>",
        "<b><i>x</b></i>", "&amp;amp;"]
MARKDOWN = ["_*[]()~`>#+-=|{}.!", "*vet* _schuin_ __onder__ ~door~ ||spoiler|| `code`",
            "```\npre\n```", "[link](http://example.com)", "\\_\\*\\", "**", "_"]
TRICKY = ["/", "/ lijst", " /start", "//stop", "%s %d %(name)s {0} {name} {{}}",
          "'; DROP TABLE answer; --", "null", "None", "0", "-1", BIG, "1e309", "NaN",
          "\ttab", "regel 1\nregel 2\r\nregel 3", "\u2028\u2029", "a" * 300, "\\", "\"'`",
          "..", "?", "!!!"]
FAMILIES = {"dutch": DUTCH, "unicode": UNICODE, "rtl": RTL, "zero_width": ZERO_WIDTH,
            "emoji": EMOJI, "html": HTML, "markdown": MARKDOWN, "tricky": TRICKY}
BMP = [p for family in FAMILIES.values() for p in family if all(ord(c) < 0x10000 for c in p)]


def hostile_text(rng: random.Random) -> str:
    """One message a confused or hostile person might type (never empty or blank)."""
    family = rng.choice(list(FAMILIES))
    if rng.random() < 0.5:
        text = rng.choice(FAMILIES[family])
    else:
        pieces = [rng.choice(rng.choice(list(FAMILIES.values())))
                  for _ in range(rng.randint(2, 4))]
        text = rng.choice([" ", "", "\n"]).join(pieces)
    return text if text.strip() else "…"


def long_text(rng: random.Random, length: int) -> str:
    """`length` characters (no characters outside the BMP: UTF-16 length == length)."""
    parts: list[str] = []
    size = 0
    while size < length:
        piece = rng.choice(BMP) + " "
        parts.append(piece)
        size += len(piece)
    text = "".join(parts)[:length]
    return text[:-1] + "." if text[-1].isspace() else text


def answer_text(rng: random.Random) -> str:
    """A text for a question: mostly a plain answer, sometimes a hostile one."""
    return rng.choice(DUTCH) if rng.random() < 0.55 else hostile_text(rng)


def person_text(rng: random.Random) -> str:
    """What a begeleider, naaste or admin might type: names, dates, places, topics."""
    now = datetime.now(UTC)
    options = [
        rng.choice(["Sam", "Noor", "Els", "Joost", "Mo", "Ωmega", "محمد", "<b>Bob</b>",
                    "{name}", "Fleur " + "x" * 150]),
        (now + timedelta(days=rng.randint(1, 90))).strftime("%d-%m-%Y 14:00"),
        (now + timedelta(days=rng.randint(1, 20))).strftime("%d-%m"),
        "01-01-2020 10:00", "01-01-0001 00:30", "31-12-9999 23:59", "31-02-2026 14:00",
        "29-02", "00-00-0000", "15/12/26", "99-99-9999 99:99", "dertien december",
        rng.choice(["Op kantoor", "Bij mij thuis", "Online (Teams)", "Zaal 3 & 4 <boven>"]),
        rng.choice(["Dagbesteding", "Vakantie samen", "Geld en schulden", "Wonen"]),
        hostile_text(rng),
    ]
    return rng.choice(options)


# ------------------------------------------------------------------------------ commands
CLIENT_COMMANDS = ("start", "verder", "lijst", "mijnlijst", "delen", "wie_keek",
                   "instellingen", "over", "stop", "rol")
KNOWN_COMMANDS = tuple(sorted({*CLIENT_COMMANDS, *begeleider_dialog.COMMANDS,
                               *naaste_dialog.COMMANDS, *admin_dialog.COMMANDS}))
HEAVY_COMMANDS = {"mijnlijst"}  # PDFs: a few, not hundreds
UNKNOWN_COMMANDS = ("/bestaatniet", "/START", "/Lijst", "/lijst@gespreksmaatje_bot",
                    "/lijst@anderebot", "/help", "/settings", "/cancel", "/x" + "y" * 60,
                    "/start@gespreksmaatje_bot", "/verder extra woorden", "/stop now",
                    "/rol client:1", "/_", "/123", "/лист", "/start\u200b")
BAD_TOKENS = ("not-a-token", "", "'; DROP TABLE invite; --", "x" * 200, "äöü", "a b c",
              "<b>", "../../etc/passwd", "0", "-1", BIG, "%s", "\u202etoken")

CLIENT_ACTIONS = tuple(BUTTON_TRIGGERS) + ("ps", "ag", "pl", "oq", "cq", "st")
ROLE_ACTIONS = tuple({*begeleider_dialog.BUTTONS, *naaste_dialog.BUTTONS,
                      *admin_dialog.BUTTONS})
ALL_ACTIONS = tuple(sorted({*CLIENT_ACTIONS, *ROLE_ACTIONS})) + ("zz", "", "ROL", "op ")
STEP_KEYS = tuple(step.key for step in FLOW.steps)
ARGS = ("", "-1", "0", BIG, "1.5", "1e3", " 1", "abc", "x" * 50, "😀", "%s",
        *STEP_KEYS, *DOMAINS, *CHAIR, *HOW, *SHARE_PARTS, *TALKED,
        *begeleider_dialog.RELATIONS, "speech", "slow", "reminders", "not_a_step")
# Accepted presses that may legitimately replace or remove earlier answers, by step.
CHOICE_STEPS = tuple(step.key for step in FLOW.steps if step.kind == "choice")


def changeable_steps(data: str) -> tuple[str, ...]:
    """Steps whose answers an accepted press of `data` may replace or remove ("*": any)."""
    parts = data.split(":", 2)
    if len(parts) < 2:
        return ()
    action, arg = parts[1], parts[2] if len(parts) == 3 else ""
    if action in {"rm", "ed"}:
        return ("agenda", "extra")  # the list of topics, or of "Ook gezegd"
    if action == "cg":
        return (arg or "*",)
    if action == "oq":
        return ("*",)
    if action == "ch":
        return CHOICE_STEPS
    if action == "tk":
        return ("talked",)
    return ()


# ------------------------------------------------------------------------------ results
@dataclass
class Problem:
    """One distinct failure: what went wrong, and the first action that caused it."""

    kind: str  # "update failed", "not handled", "bot API error", "answer", "unanswered"
    what: str
    action: str
    count: int = 1
    detail: str = ""


@dataclass
class FuzzReport:
    seed: int
    updates: int = 0
    setup_updates: int = 0
    seconds: float = 0.0
    random_seconds: float = 0.0
    failed_updates: int = 0  # ERROR records of logger "gespreksmaatje" (and children)
    failed_inbox: list[int] = field(default_factory=list)
    not_handled: list[int] = field(default_factory=list)
    bot_errors: list[tuple[str, int, str]] = field(default_factory=list)
    too_many_requests: int = 0
    callbacks: int = 0
    unanswered: list[int] = field(default_factory=list)
    late: int = 0
    delays: list[float] = field(default_factory=list)
    answers_checked: int = 0
    answers_changeable: int = 0
    answers_broken: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    actions: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

    @property
    def rate(self) -> float:
        random_updates = self.updates - self.setup_updates
        return random_updates / self.random_seconds if self.random_seconds else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.delays:
            return None
        ordered = sorted(self.delays)
        index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[index]

    def rows(self) -> list[tuple[str, str, str]]:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.0f} ms"

        answered = self.callbacks - len(self.unanswered)
        return [
            ("seed", str(self.seed), ""),
            ("updates sent (set-up)", f"{self.updates} ({self.setup_updates})", ""),
            ("wall time", f"{self.seconds:.1f} s", ""),
            ("updates/s (random phase)", f"{self.rate:.1f}", ""),
            ("failed updates (ERROR log records)", str(self.failed_updates), "0"),
            ("inbox rows marked failed", str(len(self.failed_inbox)), "0"),
            ("updates not handled in time", str(len(self.not_handled)), "0"),
            ("Bot API errors caused by the bot", str(len(self.bot_errors)), "0"),
            ("429 Too Many Requests", str(self.too_many_requests), "0"),
            ("callbacks pressed / answered", f"{self.callbacks} / {answered}", "all"),
            (f"callbacks answered late (> {CALLBACK_IN_TIME:.0f} s)", str(self.late), "0"),
            ("press → answer p50 / p99",
             f"{ms(self.percentile(0.5))} / {ms(self.percentile(0.99))}", ""),
            ("answers checked / changeable by the client",
             f"{self.answers_checked} / {self.answers_changeable}", ""),
            ("answers lost or altered", str(len(self.answers_broken)), "0"),
            ("peak RSS (server + bot + fuzzer)", f"{self.peak_rss_mb:.0f} MB", ""),
        ]

    def table(self) -> str:
        rows = [("figure", "this run", "goal"), *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = []
        for index, row in enumerate(rows):
            lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths,
                                                                        strict=True)) + " |")
            if index == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def failures_text(self, limit: int = 40) -> str:
        if not self.problems:
            return "no failures"
        lines = [f"{len(self.problems)} distinct failure(s), seed {self.seed}:"]
        for problem in self.problems[:limit]:
            lines.append(f"- [{problem.kind}] ×{problem.count} {problem.what}\n"
                         f"    first caused by: {problem.action}")
            if problem.detail:
                lines.append(f"    {problem.detail}")
        if len(self.problems) > limit:
            lines.append(f"- … {len(self.problems) - limit} more")
        return "\n".join(lines)

    @property
    def clean(self) -> bool:
        return not (self.failed_updates or self.failed_inbox or self.not_handled
                    or self.bot_errors or self.too_many_requests or self.unanswered
                    or self.late or self.answers_broken)


# ------------------------------------------------------------------------------ people
@dataclass
class Actor:
    name: str
    user: UserHandle
    kind: str  # "client", "begeleider", "naaste", "admin", "stranger" (the main role)
    rng: random.Random
    client_id: int | None = None
    text_mids: list[int] = field(default_factory=list)  # own text messages (for edits)
    media_mids: list[int] = field(default_factory=list)  # own photos (caption edits)
    blocked: bool = False
    order: int = 0  # per-person action counter (orders answers against later presses)
    trace: list[tuple[int, str]] = field(default_factory=list)  # (order, did → bot said)


@dataclass
class Remembered:
    """A text the bot acknowledged as a client's answer."""

    actor: str
    client_id: int
    message_id: int
    text: str
    order: int
    action: str
    asked: str = ""  # the bot's newest question when it was sent


WEIGHTS: dict[str, dict[str, float]] = {
    "client": {"walk": 40, "text": 8, "long": 2, "split": 2, "command": 8, "press": 8,
               "forged": 8, "media": 6, "edit": 5, "forward": 2, "block": 1.5, "group": 2,
               "reaction": 1, "inaccessible": 1},
    "role": {"walk": 38, "text": 8, "long": 1, "split": 1, "command": 12, "press": 10,
             "forged": 12, "media": 4, "edit": 5, "forward": 2, "block": 1.5, "group": 2,
             "reaction": 1, "inaccessible": 1},
    "stranger": {"text": 18, "long": 2, "split": 2, "command": 22, "forged": 14, "media": 10,
                 "edit": 8, "forward": 5, "block": 3, "group": 14, "reaction": 2,
                 "inaccessible": 2},
}


class _ErrorLog(logging.Handler):
    """Collects ERROR records of the bot's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


Push = Callable[[], Awaitable[int]]


class Fuzzer:
    def __init__(self, h: Harness, config: FuzzConfig) -> None:
        self.h = h
        self.server: BotApiServer = h.server
        self.config = config
        self.deadline = 0.0
        self.sent = 0
        self.actors: list[Actor] = []
        self.group: GroupHandle | None = None
        self.action_of: dict[int, str] = {}  # update id → "who: what"
        self.pushed_at: dict[int, float] = {}
        self.callback_ids: list[int] = []
        self.answered_at: dict[int, float] = {}
        self.api_errors: list[tuple[str, int, str, str]] = []  # + the action blamed
        self.trace_of: dict[str, str] = {}  # an error's blamed action → what led to it
        self.not_handled: list[int] = []
        self.remembered: list[Remembered] = []
        # (actor, client id, first and second message id, order, action, asked)
        self.splits: list[tuple[str, int, int, int, int, str, str]] = []
        self.changeable: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        self.tokens: list[str] = []
        self.pools: dict[str, list[int]] = {}
        self.pools_at = -1e9
        self.actions: Counter[str] = Counter()
        self.forward_mid = 10_000_000
        self.query_serial = 0
        self.jpeg = _jpeg()
        # One group action at a time: a message in the group and the bot's removal from it
        # racing each other would make a 403 that no bot can avoid.
        self.group_lock = asyncio.Lock()
        self.chat_of: dict[int, ChatHandle] = {}  # update id → the chat whose replies count
        self.last_in_chat: dict[str, int] = {}  # chat id → the newest update pushed there
        self.actor_of: dict[int, Actor] = {}
        self.count_at: dict[int, int] = {}  # update id → messages in that chat once handled
        self._watch_server()

    # ------------------------------------------------------------------ measuring
    def _watch_server(self) -> None:
        """Time every answerCallbackQuery and note every Bot API error (per method handler:
        the server's own `bot_errors`/`callback_delays`, when it has them, win)."""
        methods: dict[str, tuple[str, Any]] | None = getattr(self.server, "_methods", None)
        if not isinstance(methods, dict):
            return
        for key, entry in list(methods.items()):
            if not (isinstance(entry, tuple) and len(entry) == 2) or key == "getupdates":
                continue
            methods[key] = (entry[0], self._wrap(entry[0], entry[1]))

    def _wrap(self, name: str, handler: Any) -> Any:
        async def watched(params: dict[str, Any], files: dict[str, Any]) -> Any:
            try:
                result = await handler(params, files)
            except Exception as error:
                code = int(getattr(error, "code", 0) or 0)
                description = str(getattr(error, "description", error))
                sent = str(params.get("text") or params.get("caption") or "")[:60]
                blame = self._blame(params) + (f" (the bot was sending {sent!r})" if sent else "")
                self.api_errors.append((name, code, description, blame))
                self.trace_of.setdefault(blame, self._recent(params))
                raise
            if name == "answerCallbackQuery":
                answer = self.server.callback_answers.get(str(params.get("callback_query_id")))
                if answer is not None:
                    self.answered_at.setdefault(answer.update_id, time.perf_counter())
            return result

        return watched

    def _recent(self, params: dict[str, Any]) -> str:
        """The last actions of the person behind the newest update in that chat."""
        update_id = self.last_in_chat.get(str(params.get("chat_id", "")))
        actor = self.actor_of.get(update_id) if update_id is not None else None
        if actor is None:
            return ""
        lines = [line for _, line in actor.trace[-5:]]
        return f"{actor.name}'s last actions:\n      " + "\n      ".join(lines)

    def _blame(self, params: dict[str, Any]) -> str:
        """The action behind a failing call: the newest update pushed into that chat."""
        chat_id = str(params.get("chat_id", ""))
        update_id = self.last_in_chat.get(chat_id)
        if update_id is not None:
            return self.action_of.get(update_id, str(update_id))
        if "callback_query_id" in params:
            return f"answering callback {params['callback_query_id']}"
        return chat_id or "?"

    # ------------------------------------------------------------------ pushing updates
    def budget_left(self) -> bool:
        return self.sent < self.config.updates and time.perf_counter() < self.deadline

    def _pushed(self, update_id: int, who: str, what: str) -> None:
        self.sent += 1
        self.action_of[update_id] = f"{who}: {what}"
        self.pushed_at[update_id] = time.perf_counter()

    def on_handled(self, update_id: int) -> None:
        """The runner's listener: the bot is through this update and its replies are out."""
        chat = self.chat_of.get(update_id)
        if chat is not None:
            self.count_at[update_id] = len(chat.messages)

    async def do(self, actor: Actor, what: str, *pushes: Push,
                 chat: ChatHandle | None = None) -> list[BotMessage]:
        """Push the updates right after each other, wait until the bot handled each; return
        what the bot sent to `chat` (the actor's own chat by default) meanwhile."""
        parts = await self.do_each(actor, what, *pushes, chat=chat)
        return [message for part in parts for message in part]

    async def do_each(self, actor: Actor, what: str, *pushes: Push,
                      chat: ChatHandle | None = None) -> list[list[BotMessage]]:
        """Like `do`, with the bot's messages per update (a chat's updates are handled in
        order, so each update's replies are the messages between its neighbours')."""
        where = chat or actor.user
        before = len(where.messages)
        ids = []
        for push in pushes:
            update_id = await push()
            self._pushed(update_id, actor.name, what)
            self.chat_of[update_id] = where
            self.last_in_chat[str(where.chat_id)] = update_id
            self.actor_of[update_id] = actor
            ids.append(update_id)
        for update_id in ids:
            try:
                await self.h.handled(update_id, timeout=self.config.update_timeout)
            except TimeoutError:
                self.not_handled.append(update_id)
        parts: list[list[BotMessage]] = []
        start = before
        for update_id in ids:
            end = max(start, self.count_at.pop(update_id, len(where.messages)))
            parts.append(where.messages[start:end])
            start = end
            self.chat_of.pop(update_id, None)
        if parts and start < len(where.messages):  # sent after the last one was handled
            parts[-1] = parts[-1] + where.messages[start:]
        new = where.messages[before:]
        for message in new:
            self.tokens.extend(LINK.findall(message.content))
        said = " | ".join(m.content.replace("\n", " ")[:50] for m in new[:3])
        actor.trace.append((actor.order, f"#{actor.order} {what} → {said or '(nothing)'}"))
        return parts

    async def press(self, actor: Actor, what: str, push: Push, data: str,
                    chat: ChatHandle | None = None, times: int = 1) -> list[BotMessage]:
        """Press (`times` times right after each other); a press the bot took that may
        replace or remove answers marks them changeable from here on."""
        parts = await self.do_each(actor, what, *[push] * times, chat=chat)
        steps = changeable_steps(data)
        for out in parts:
            refused = any(m.content.startswith(REFUSED) for m in out)
            if actor.kind == "client" and steps and not refused:
                self.changeable.setdefault(actor.name, []).append((actor.order, steps))
        return [message for part in parts for message in part]

    def _callback_push(self, push: Push) -> Push:
        async def pushed() -> int:
            update_id = await push()
            self.callback_ids.append(update_id)
            return update_id

        return pushed

    # ------------------------------------------------------------------ the set-up
    async def _start(self, user: UserHandle, token: str) -> list[BotMessage]:
        before = len(user.messages)
        update_id = await user.send_command("/start", token)
        self._pushed(update_id, user.first_name, "/start <invite> (set-up)")
        await self.h.handled(update_id, timeout=self.config.update_timeout)
        return user.messages[before:]

    async def _say(self, user: UserHandle, text: str) -> list[BotMessage]:
        before = len(user.messages)
        update_id = await user.send_text(text)
        self._pushed(update_id, user.first_name, f"says {text!r} (set-up)")
        await self.h.handled(update_id, timeout=self.config.update_timeout)
        return user.messages[before:]

    async def _tap(self, user: UserHandle, label: str) -> list[BotMessage]:
        for message in reversed(user.messages):
            for row in message.buttons:
                for text, data in row:
                    if not message.deleted and data and (text == label
                                                         or text.endswith(" " + label)):
                        before = len(user.messages)
                        update_id = await user.press(message, data)
                        self.callback_ids.append(update_id)
                        self._pushed(update_id, user.first_name, f"taps {label!r} (set-up)")
                        await self.h.handled(update_id, timeout=self.config.update_timeout)
                        return user.messages[before:]
        raise AssertionError(f"set-up: no button {label!r}; {user.describe()}")

    @staticmethod
    def _token(messages: list[BotMessage]) -> str:
        for message in messages:
            match = LINK.search(message.content)
            if match:
                return match.group(1)
        raise AssertionError("set-up: no invite link in " + repr([m.content for m in messages]))

    async def _new_client(self, begeleider: UserHandle, name: str, user_id: int) -> UserHandle:
        await self._command_setup(begeleider, "/nieuwe_client")
        token = self._token(await self._say(begeleider, name))
        client = self.server.user(user_id, first_name=name.split()[0][:20] or "C")
        await self._start(client, token)
        return client

    async def _command_setup(self, user: UserHandle, command: str) -> None:
        before = len(user.messages)
        update_id = await user.send_command(command)
        self._pushed(update_id, user.first_name, f"{command} (set-up)")
        await self.h.handled(update_id, timeout=self.config.update_timeout)
        if len(user.messages) == before:
            raise AssertionError(f"set-up: no answer to {command}")

    async def _invite_naaste(self, begeleider: UserHandle, client: str, name: str,
                             relation: str, naaste: UserHandle) -> None:
        await self._command_setup(begeleider, "/clienten")
        await self._tap(begeleider, client)
        await self._tap(begeleider, "👪 Naaste uitnodigen")
        await self._say(begeleider, name)
        token = self._token(await self._tap(begeleider, relation))
        await self._start(naaste, token)

    async def setup(self) -> None:
        """The organisation, made the way people make it: links and buttons."""
        server = self.server
        fatima = server.user(500, first_name="Fatima")
        await self._start(fatima, await self.h.store.create_role_invite("admin", "Fatima", 30))
        await self._tap(fatima, "➕ Begeleider uitnodigen")
        bram = server.user(600, first_name="Bram")
        await self._start(bram, self._token(await self._say(fatima, "Bram")))
        await self._command_setup(fatima, "/beheer")
        await self._tap(fatima, "➕ Begeleider uitnodigen")  # Fatima is begeleider too
        await self._start(fatima, self._token(await self._say(fatima, "Fatima")))

        clients = [await self._new_client(bram, "Sam", 1001),
                   await self._new_client(bram, "Noor", 1002),
                   await self._new_client(bram, "Ali 👍 <b>&amp;", 1003),
                   await self._new_client(bram, "عائشة", 1004),
                   await self._new_client(fatima, "Kim \u202eoK", 1005)]
        for index in range(self.config.extra_clients):
            clients.append(await self._new_client(bram, f"Extra {index}", 1100 + index))
        lotte = await self.h.join(1006, "Lotte")  # an invite from the command line
        self.sent += 1
        clients.append(lotte)

        anja = server.user(2001, first_name="Anja")
        await self._invite_naaste(bram, "Sam", "Anja", "Ouder", anja)
        await self._invite_naaste(bram, "Noor", "Anja", "Vriend(in)", anja)  # two clients
        piet = server.user(2002, first_name="Piet {0} <i>")
        await self._invite_naaste(bram, "Noor", "Piet", "Mentor", piet)
        await self._invite_naaste(bram, "Sam", "Bram", "Vriend(in)", bram)  # begeleider too

        strangers = [server.user(3001, first_name="<i>Onbekend"),
                     server.user(3002, first_name="{name} %s \u200f")]
        self.group = server.group(-5001, "Familie <b>")
        update_id = await self.group.add_bot(strangers[0])
        self._pushed(update_id, "group", "the bot added to a group (set-up)")
        await self.h.handled(update_id, timeout=self.config.update_timeout)

        people = [(fatima, "admin"), (bram, "begeleider"), (anja, "naaste"), (piet, "naaste")]
        people += [(c, "client") for c in clients] + [(s, "stranger") for s in strangers]
        client_ids = {p.telegram_user_id: c.id for p, c in await self._client_rows()}
        for user, kind in people:
            name = f"{user.first_name}#{user.user_id}"
            actor = Actor(name, user, kind, random.Random(f"{self.config.seed}:{user.user_id}"),
                          client_id=client_ids.get(user.user_id))
            self.actors.append(actor)

    async def _client_rows(self) -> list[tuple[Person, Client]]:
        async with self.h.store.unit() as unit:
            rows = await unit.session.execute(
                select(Person, Client).join(Client, Client.person_id == Person.id))
            return [(row[0], row[1]) for row in rows]

    async def refresh_pools(self) -> None:
        """Ids of things that exist (other people's clients, items, naasten, …)."""
        if time.perf_counter() - self.pools_at < 2.0:
            return
        self.pools_at = time.perf_counter()
        async with self.h.store.unit() as unit:
            for key, column in (("client", Client.id), ("naaste", Naaste.id),
                                ("item", AgendaItem.id), ("begeleider", Begeleider.id),
                                ("admin", Admin.id), ("answer", Answer.id),
                                ("answer_item", Answer.item)):
                values = (await unit.session.execute(select(column).distinct())).scalars()
                self.pools[key] = sorted({int(v) for v in values if v is not None})

    # ------------------------------------------------------------------ the random phase
    async def run_actor(self, actor: Actor) -> None:
        idle = 0
        while self.budget_left():
            actor.order += 1
            sent = self.sent
            try:
                await self.step(actor)
            except AssertionError:  # the user side refused (no such message/button)
                self.actions["refused by the user side"] += 1
            idle = idle + 1 if self.sent == sent else 0
            if idle > 20:
                await asyncio.sleep(0.01)

    async def step(self, actor: Actor) -> None:
        if actor.blocked:
            await self._unblock(actor)
            return
        await self.refresh_pools()
        weights = WEIGHTS["client" if actor.kind == "client" else
                          "stranger" if actor.kind == "stranger" else "role"]
        kind = actor.rng.choices(list(weights), weights=list(weights.values()))[0]
        self.actions[kind] += 1
        await getattr(self, f"_{kind}")(actor)

    # --- texts
    async def _client_text(self, actor: Actor, what: str, texts: list[str]) -> None:
        """Texts from a client sent right after each other; remember the ones the bot took
        as an answer."""
        user = actor.user
        mids: list[int] = []

        def sender(text: str) -> Push:
            async def push() -> int:
                update_id = await user.send_text(text)
                mids.append(user.sent_message_ids[-1])
                return update_id
            return push

        asked = self._asked(user)
        parts = await self.do_each(actor, what, *(sender(text) for text in texts))
        actor.text_mids.extend(mids)
        if actor.client_id is None or len(mids) != len(texts):
            return
        stored = False
        if len(texts) == 2 and len(texts[0]) >= 4000:  # Telegram's split of one long text
            self.splits.append((actor.name, actor.client_id, mids[0], mids[1], actor.order,
                                what, asked))
        for index, (mid, text, out) in enumerate(zip(mids, texts, parts, strict=True)):
            # The rest of a split text is joined to the first part without a word.
            joined = index > 0 and stored and not out and len(texts[index - 1]) >= 4000
            stored = joined or any(ack in m.content for m in out for ack in ACKS)
            if stored:
                part = f" (part {index + 1} of {len(texts)})" if len(texts) > 1 else ""
                self.remembered.append(Remembered(actor.name, actor.client_id, mid, text,
                                                  actor.order, what + part, asked))

    @staticmethod
    def _asked(user: UserHandle) -> str:
        for message in reversed(user.messages):
            if message.kind == "text" and not message.deleted:
                return message.content.replace("\n", " ")[:70]
        return ""

    async def _text(self, actor: Actor) -> None:
        text = hostile_text(actor.rng)
        if actor.kind == "client":
            if actor.rng.random() < 0.15:  # three messages in a row, as fast as one can
                texts = [text, answer_text(actor.rng), hostile_text(actor.rng)]
                await self._client_text(actor, f"three texts at once {texts!r:.80}", texts)
                return
            await self._client_text(actor, f"text {text[:60]!r}", [text])
            return
        user = actor.user
        await self.do(actor, f"text {text[:60]!r}", lambda: user.send_text(text))
        actor.text_mids.append(user.sent_message_ids[-1])

    async def _long(self, actor: Actor) -> None:
        text = long_text(actor.rng, 4096)
        if actor.kind == "client":
            await self._client_text(actor, "a 4,096-character text", [text])
            return
        user = actor.user
        await self.do(actor, "a 4,096-character text", lambda: user.send_text(text))
        actor.text_mids.append(user.sent_message_ids[-1])

    async def _split(self, actor: Actor) -> None:
        rest = actor.rng.randint(1, 900)
        text = long_text(actor.rng, 4096 + rest)
        first, second = text[:4096], text[4096:]
        if not second.strip():
            second = "einde."
        what = f"a {4096 + rest}-character text as two messages (4,096 + {len(second)})"
        if actor.kind == "client":
            await self._client_text(actor, what, [first, second])
            return
        user = actor.user
        await self.do(actor, what, lambda: user.send_text(first),
                      lambda: user.send_text(second))

    # --- commands
    def _command_text(self, actor: Actor) -> str:
        rng = actor.rng
        roll = rng.random()
        if roll < 0.55:
            names = [c for c in KNOWN_COMMANDS if c not in HEAVY_COMMANDS or rng.random() < 0.1]
            if actor.kind == "client" and rng.random() < 0.5:
                names = [c for c in CLIENT_COMMANDS if c not in HEAVY_COMMANDS]
            name = rng.choice(names)
            if actor.kind == "client" and name == "stop" and rng.random() < 0.7:
                name = "verder"  # a stopped client answers nothing: stop now and then only
            return "/" + name
        if roll < 0.75:
            return rng.choice(UNKNOWN_COMMANDS)
        if roll < 0.9 or not self.tokens:
            return "/start " + rng.choice(BAD_TOKENS)
        return "/start " + rng.choice(self.tokens)  # someone else's (used) link

    async def _command(self, actor: Actor) -> None:
        text = self._command_text(actor)
        user = actor.user
        await self.do(actor, f"command {text[:70]!r}", lambda: user.send_text(text))
        actor.text_mids.append(user.sent_message_ids[-1])

    # --- buttons
    @staticmethod
    def _with_buttons(chat: ChatHandle, newest: int = 5) -> list[BotMessage]:
        found = [m for m in chat.messages if m.buttons and not m.deleted]
        return found[-newest:]

    @staticmethod
    def _datas(message: BotMessage) -> list[str]:
        return [data for row in message.buttons for _, data in row if data]

    def _seq(self, chat: ChatHandle) -> int:
        for message in reversed(self._with_buttons(chat, 1)):
            for data in self._datas(message):
                head = data.split(":", 1)[0]
                if head.isdigit():
                    return int(head)
        return 0

    async def _press_data(self, actor: Actor, message: BotMessage, data: str,
                          what: str, times: int = 1) -> list[BotMessage]:
        user = actor.user
        push = self._callback_push(lambda: user.press(message, data))
        return await self.press(actor, what, push, data, times=times)

    async def _press(self, actor: Actor) -> None:
        """A real button on one of the newest messages (not always the newest)."""
        messages = self._with_buttons(actor.user)
        if not messages:
            await self._command(actor)
            return
        message = actor.rng.choice(messages)
        data = actor.rng.choice(self._datas(message))
        if data.split(":")[1:2] == ["ex"] and actor.rng.random() < 0.8:
            return  # the PDF exports: now and then
        times = 2 if actor.rng.random() < 0.2 else 1  # an impatient double tap
        await self._press_data(actor, message, data, f"presses real button {data!r} on "
                               f"message {message.message_id}" + (" twice" * (times > 1)),
                               times=times)

    def _forged_data(self, actor: Actor) -> str:
        rng = actor.rng
        seq = self._seq(actor.user)
        pool = self.pools
        ids = [str(i) for key in ("client", "naaste", "item", "begeleider", "answer_item")
               for i in pool.get(key, [])[:50]]
        fixed = [f"{seq}:rol:client:" + BIG, "rol:client:" + BIG, "1:op:" + BIG, "0:pk:-1",
                 f"{seq}:pk:-1",
                 f"{seq}:op:-1", f"{seq}:op:abc", f"{seq}:rm:{BIG}", f"{seq}:ed:{BIG}",
                 f"{seq}:pl:{BIG}", f"{seq}:pk:{BIG}", f"{seq}:ch:{BIG}", "garbage", ":",
                 "::", str(seq), f"{seq}:", "x" * 65, "9" * 64, "9" * 65,
                 f"{seq}:nx:" + "x" * 64, "é" * 33, f"{seq}:ts:" + "😀" * 20, "rol:",
                 "rol:client", "rol:client:", f"{seq}:rol:naaste:-1", "1:rol:admin:0",
                 f"{seq}:rol:begeleider:" + BIG, f"{BIG}:nx", f"-1:{'nx'}", f"{seq}:st:speech",
                 f"{seq}:st:{BIG}", f"{seq}:tk:talked_yes", f"{seq}:cg:review"]
        roll = rng.random()
        if roll < 0.3:
            return rng.choice(fixed)
        if roll < 0.45:
            kind = rng.choice(["client", "naaste", "begeleider", "admin"])
            ref = rng.choice(pool.get(kind) or [1])
            return f"{seq}:rol:{kind}:{ref}"
        if roll < 0.6:  # another person's real button
            others = [a for a in self.actors if a is not actor and self._with_buttons(a.user)]
            if others:
                other = rng.choice(others)
                return rng.choice(self._datas(rng.choice(self._with_buttons(other.user))))
        seq_text = rng.choice([str(seq), str(seq), str(seq - 1), str(seq + 1), "0", "-1", BIG,
                               str(rng.randint(0, 1000))])
        action = rng.choice(ALL_ACTIONS)
        arg = rng.choice(ids or ["1"]) if rng.random() < 0.4 else rng.choice(ARGS)
        data = f"{seq_text}:{action}:{arg}" if arg or rng.random() < 0.5 else \
            f"{seq_text}:{action}"
        return data

    async def _forged(self, actor: Actor) -> None:
        """Forged data on a message with buttons in the own chat (Telegram only lets a
        person press buttons of messages they see: in a private chat, the bot's messages to
        them), now and then on a message in the group."""
        data = self._forged_data(actor)
        rng = actor.rng
        user = actor.user
        group = self.group
        if rng.random() < 0.1 and group is not None and group.messages:
            target: ChatHandle = group
            message = rng.choice(group.messages[-6:])
        else:
            target = user
            candidates = self._with_buttons(user, 6)
            if not candidates:
                await self._text(actor)
                return
            message = rng.choice(candidates)
        chat_id = target.chat_id

        async def push() -> int:
            return await user.press_data(message.message_id, data, chat_id=chat_id)

        where = "own message" if target is user else "a message in the group"
        await self.press(actor, f"presses forged data {data!r} on {where} "
                                f"{message.message_id}", self._callback_push(push), data,
                         chat=target)

    async def _inaccessible(self, actor: Actor) -> None:
        """A press on a message Telegram no longer shows (older than 48 h): the callback's
        message is an InaccessibleMessage (date 0)."""
        queries: dict[str, int] | None = getattr(self.server, "_callback_queries", None)
        user = actor.user
        if queries is None or not user.messages:
            await self._forged(actor)
            return
        candidates = self._with_buttons(user, 20)
        if not candidates:
            await self._forged(actor)
            return
        message = actor.rng.choice(candidates)
        datas = self._datas(message)
        data = actor.rng.choice(datas)
        self.query_serial += 1
        query_id = str(5_000_000_000_000 + self.query_serial)

        async def push() -> int:
            update_id = self.server.inject_update({"callback_query": {
                "id": query_id, "from": user.user_dict(),
                "message": {"chat": user.chat_dict(), "message_id": message.message_id,
                            "date": 0},
                "chat_instance": str(user.user_id * 31), "data": data}})
            queries[query_id] = update_id
            return update_id

        await self.press(actor, f"presses {data!r} on inaccessible message "
                                f"{message.message_id}", self._callback_push(push), data)

    # --- walking the real flows
    async def _walk(self, actor: Actor) -> None:
        if actor.kind == "client":
            await self._walk_client(actor)
        else:
            await self._walk_role(actor)

    async def _walk_client(self, actor: Actor) -> None:
        user, rng = actor.user, actor.rng
        last = user.messages[-1].content if user.messages else ""
        if STILL_STOPPED in last or not user.messages:
            await self.do(actor, "command '/verder' (walk)", lambda: user.send_command("/verder"))
            actor.text_mids.append(user.sent_message_ids[-1])
            return
        newest = self._with_buttons(user, 1)
        datas = self._datas(newest[0]) if newest else []
        actions = [(d.split(":")[1] if ":" in d else "", d) for d in datas]
        start = [d for a, d in actions if a == "go"]
        if newest and start:
            await self._press_data(actor, newest[0], start[0], "presses ➡️ Beginnen")
            return
        if not datas or rng.random() < 0.5:
            text = answer_text(rng)
            await self._client_text(actor, f"answers {text[:60]!r} (walk)", [text])
            return
        forward = [d for a, d in actions if a in {
            "nx", "sk", "ch", "tg", "cf", "dk", "mo", "pk", "ts", "sa", "ag", "tk"}]
        data = rng.choice(forward) if forward and rng.random() < 0.75 else rng.choice(datas)
        await self._press_data(actor, newest[0], data, f"presses {data!r} (walk)")

    async def _walk_role(self, actor: Actor) -> None:
        user, rng = actor.user, actor.rng
        newest = self._with_buttons(user, 1)
        if not newest:
            await self.do(actor, "command '/start' (walk)", lambda: user.send_command("/start"))
            actor.text_mids.append(user.sent_message_ids[-1])
            return
        datas = self._datas(newest[0])
        if rng.random() < 0.45:
            text = person_text(rng)
            await self.do(actor, f"types {text[:60]!r} (walk)", lambda: user.send_text(text))
            actor.text_mids.append(user.sent_message_ids[-1])
            return
        data = rng.choice(datas)
        if data.split(":")[1:2] == ["ex"] and rng.random() < 0.8:
            data = rng.choice(datas)
        if data.split(":")[1:2] == ["ex"] and rng.random() < 0.8:
            return
        await self._press_data(actor, newest[0], data, f"presses {data!r} (walk)")

    # --- media and other message kinds
    async def _media(self, actor: Actor) -> None:
        user, rng = actor.user, actor.rng
        kind = rng.choice(["sticker", "photo", "voice", "video_note", "video", "document",
                           "location", "contact", "poll", "animation"])
        caption = hostile_text(rng) if rng.random() < 0.3 else None
        pushes: dict[str, Push] = {
            "sticker": lambda: user.send_sticker(emoji=rng.choice(EMOJI)[:2]),
            "photo": lambda: user.send_photo(self.jpeg, caption=caption),
            "voice": lambda: user.send_voice(b"OggS" + rng.randbytes(rng.randint(50, 3000)),
                                             duration=rng.choice([0, 1, 7, 61, 3600])),
            "video_note": lambda: user.send_video_note(
                b"\x00\x00\x00\x18ftypmp42" + rng.randbytes(200), duration=rng.randint(0, 60)),
            "video": lambda: user.send_video(b"\x00\x00\x00\x18ftypmp42" + rng.randbytes(300),
                                             duration=rng.randint(0, 120), caption=caption),
            "document": lambda: user.send_document(
                b"%PDF-1.4 " + rng.randbytes(100),
                rng.choice(["plan.pdf", "../../etc/passwd", "x" * 200 + ".pdf", "تقرير.pdf",
                            "<b>.exe", "noext"]),
                rng.choice(["application/pdf", "application/octet-stream", "text/html"]),
                caption=caption),
            "location": lambda: user.send_location(rng.uniform(-90, 90), rng.uniform(-180, 180)),
            "contact": lambda: user.send_contact(rng.choice(["+31612345678", "112", "<b>"]),
                                                 rng.choice(["Anja", "", "محمد", "{name}"]) or
                                                 "x"),
            "poll": lambda: user.send_poll(hostile_text(rng)[:255],
                                           [hostile_text(rng)[:100], "nee"]),
            "animation": lambda: user.send_animation(),
        }
        await self.do(actor, f"sends a {kind}" + (f" with caption {caption[:40]!r}"
                                                   if caption else ""), pushes[kind])
        if kind == "photo":
            actor.media_mids.append(user.sent_message_ids[-1])

    async def _edit(self, actor: Actor) -> None:
        user, rng = actor.user, actor.rng
        if actor.media_mids and rng.random() < 0.25:
            await self._edit_caption(actor)
            return
        if not actor.text_mids:
            await self._text(actor)
            return
        mid = rng.choice(actor.text_mids[-12:])
        new = hostile_text(rng) if rng.random() < 0.6 else rng.choice(
            ["/lijst", "/start " + rng.choice(BAD_TOKENS), long_text(rng, 4096), "✏️ veranderd"])
        out = await self.do(actor, f"edits message {mid} into {new[:50]!r}",
                            lambda: user.edit(mid, new))
        if any(ACK_EDITED in m.content for m in out):
            for item in self.remembered:
                if item.actor == actor.name and item.message_id == mid:
                    item.text = new

    async def _edit_caption(self, actor: Actor) -> None:
        """A new caption on an earlier photo (the user side edits texts only: a raw
        update)."""
        user, rng = actor.user, actor.rng
        mid = rng.choice(actor.media_mids[-6:])
        caption = hostile_text(rng) if rng.random() < 0.8 else long_text(rng, 1024)
        now = int(time.time())
        message = {"message_id": mid, "from": user.user_dict(), "chat": user.chat_dict(),
                   "date": now - 5, "edit_date": now, "caption": caption,
                   "photo": [{"file_id": "AgACAgFUZZ", "file_unique_id": "AQADFUZZ",
                              "width": 8, "height": 8, "file_size": 632}]}
        await self.do(actor, f"edits the caption of photo {mid} into {caption[:40]!r}",
                      lambda: self._inject_raw({"edited_message": message}))

    async def _forward(self, actor: Actor) -> None:
        """A forwarded message (the user side has no call for it: a raw update)."""
        user, rng = actor.user, actor.rng
        self.forward_mid += 1
        mid = self.forward_mid
        now = int(time.time())
        origin = rng.choice([
            {"type": "user", "date": now - 3600,
             "sender_user": {"id": 42, "is_bot": False, "first_name": "Oma"}},
            {"type": "hidden_user", "date": now - 60, "sender_user_name": "Iemand <b>"},
            {"type": "channel", "date": now - 10, "message_id": 7,
             "chat": {"id": -1001234, "type": "channel", "title": "Nieuws"}},
            {"type": "user", "date": now, "sender_user": self.server.bot_user},
        ])
        body: dict[str, Any] = {"message_id": mid, "from": user.user_dict(),
                                "chat": user.chat_dict(), "date": now,
                                "forward_origin": origin}
        text = answer_text(rng)
        if rng.random() < 0.8:
            body["text"] = text
        else:
            body["contact"] = {"phone_number": "+31600000000", "first_name": "Oma"}
        user.started = True
        out = await self.do(actor, f"forwards {origin['type']} message "
                                   f"{body.get('text', '<contact>')[:40]!r}",
                            lambda: self._inject(body))
        if (actor.client_id is not None and "text" in body
                and any(ack in m.content for m in out for ack in ACKS)):
            self.remembered.append(Remembered(actor.name, actor.client_id, mid, text,
                                              actor.order, "forwarded text"))

    async def _inject(self, message: dict[str, Any]) -> int:
        return self.server.inject_update({"message": message})

    async def _reaction(self, actor: Actor) -> None:
        user = actor.user
        mid = user.messages[-1].message_id if user.messages else 1
        update = {"message_reaction": {
            "chat": user.chat_dict(), "message_id": mid, "user": user.user_dict(),
            "date": int(time.time()), "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}]}}
        await self.do(actor, f"reacts 👍 to message {mid}",
                      lambda: self._inject_raw(update))

    async def _inject_raw(self, update: dict[str, Any]) -> int:
        return self.server.inject_update(update)

    async def _block(self, actor: Actor) -> None:
        user = actor.user
        await self.do(actor, "blocks the bot", user.block_bot)
        actor.blocked = True
        if actor.rng.random() < 0.5:
            await self._unblock(actor)

    async def _unblock(self, actor: Actor) -> None:
        await self.do(actor, "unblocks the bot", actor.user.unblock_bot)
        actor.blocked = False

    async def _group(self, actor: Actor) -> None:
        async with self.group_lock:
            await self._group_action(actor)

    async def _group_action(self, actor: Actor) -> None:
        group, user, rng = self.group, actor.user, actor.rng
        if group is None:
            return
        if group.bot_status != "member":
            await self.do(actor, "adds the bot to the group",
                          lambda: self._group_member(group, user, "member"), chat=group)
            return
        roll = rng.random()
        if roll < 0.07:
            await self.do(actor, "removes the bot from the group",
                          lambda: self._group_member(group, user, "kicked"), chat=group)
            return
        text = rng.choice([hostile_text(rng), self._command_text(actor), "/start",
                           "/start@gespreksmaatje_bot"])
        await self.do(actor, f"group message {text[:50]!r}",
                      lambda: group.send_text(user, text), chat=group)

    async def _group_member(self, group: GroupHandle, user: UserHandle, status: str) -> int:
        """The bot added to or removed from the group. Not `GroupHandle.add_bot/remove_bot`:
        their "kicked" member lacks `until_date`, which Telegram always sends and
        python-telegram-bot requires (without it the whole getUpdates batch fails to parse
        and the bot stalls)."""
        bot = self.server.bot_user

        def member(state: str) -> dict[str, Any]:
            extra = {"until_date": 0} if state == "kicked" else {}
            return {"user": bot, "status": state, **extra}

        update_id = self.server.inject_update({"my_chat_member": {
            "chat": group.chat_dict(), "from": user.user_dict(), "date": int(time.time()),
            "old_chat_member": member(group.bot_status), "new_chat_member": member(status)}})
        group.bot_status = status
        return update_id

    # ------------------------------------------------------------------ the end
    async def check_answers(self, report: FuzzReport) -> None:
        async with self.h.store.unit() as unit:
            rows = list((await unit.session.execute(select(Answer))).scalars())
        self.check_splits(report, rows)
        by_message: dict[tuple[int, int], list[Answer]] = {}
        for row in rows:
            if row.message_id is not None:
                by_message.setdefault((row.client_id, int(row.message_id)), []).append(row)
        for item in self.remembered:
            found = by_message.get((item.client_id, item.message_id), [])
            steps = {row.step for row in found}
            later = [s for order, changed in self.changeable.get(item.actor, [])
                     if order > item.order for s in changed]
            if "*" in later or steps & set(later):
                report.answers_changeable += 1
                continue
            report.answers_checked += 1
            live = [row for row in found if row.removed_at is None]
            if len(live) == 1 and live[0].text == item.text:
                continue
            if not found:
                same = [r for r in rows if r.client_id == item.client_id and r.text == item.text]
                where = "; ".join(f"a row with this text has message id {r.message_id}, step "
                                  f"{r.step}, item {r.item}, part {r.part}"
                                  f"{', removed' if r.removed_at else ''}" for r in same[:3])
                what = ("acknowledged, but no answer row has its message id"
                        + (f" ({where})" if where else " (and no row has its text)"))
            elif not live:
                what = f"removed (step {found[0].step}, item {found[0].item})"
            elif len(live) > 1:
                what = f"{len(live)} live rows for one message"
            else:
                what = (f"text altered (step {live[0].step}): stored {live[0].text[:60]!r}, "
                        f"sent {item.text[:60]!r}")
            trace = next((a.trace for a in self.actors if a.name == item.actor), [])
            after = "\n      ".join(line for order, line in trace
                                    if item.order <= order <= item.order + 8)
            report.answers_broken.append(f"{item.actor} message {item.message_id}: {what}")
            self._problem(report, "answer", what.split(" (")[0].split(":")[0],
                          f"{item.actor}: {item.action}, after the bot said {item.asked!r}; "
                          f"{what}", detail=f"that person's next actions:\n      {after}")

    def check_splits(self, report: FuzzReport, rows: list[Answer]) -> None:
        """A long text that Telegram split in two is one answer again (one item)."""
        live = {(r.client_id, int(r.message_id)): r for r in rows
                if r.message_id is not None and r.removed_at is None}
        for name, client_id, first, second, order, what, asked in self.splits:
            one, two = live.get((client_id, first)), live.get((client_id, second))
            if one is None or two is None:
                continue  # not stored, or changed since: the answer check speaks for it
            if any(o > order for o, _ in self.changeable.get(name, [])):
                continue
            if (one.step, one.item) != (two.step, two.item):
                report.answers_broken.append(f"{name} messages {first}+{second}: split text "
                                             f"stored as two items")
                self._problem(report, "answer", "a long text Telegram split in two is "
                              "stored as two items, not joined",
                              f"{name}: {what}, after the bot said {asked!r}; stored as "
                              f"{one.step} item {one.item} and {two.step} item {two.item}")

    def _problem(self, report: FuzzReport, kind: str, what: str, action: str,
                 detail: str = "") -> None:
        for problem in report.problems:
            if problem.kind == kind and problem.what == what:
                problem.count += 1
                return
        report.problems.append(Problem(kind, what, action, detail=detail))

    def errors_from_log(self, report: FuzzReport,
                        records: list[logging.LogRecord]) -> set[int]:
        """Count and describe the ERROR records; return the update ids they name."""
        logged: set[int] = set()
        for record in records:
            update_id = None
            match = re.match(r"update=(\d+)", record.getMessage())
            if match:
                update_id = int(match.group(1))
                logged.add(update_id)
            action = self.action_of.get(update_id or -1, f"update {update_id}")
            report.failed_updates += 1
            self._problem(report, "update failed", _describe(record), action)
        return logged


def _describe(record: logging.LogRecord) -> str:
    """Exception type + message + where in our code it was raised."""
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if "/bot/" in f.filename or "/localbotapi/" in f.filename]
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} " \
                f"({frames[-1].name})" if frames else ""
        message = re.sub(r"\s+", " ", str(error))[:300]
        return f"{type(error).__name__}: {message}{where}"
    return f"{record.name}: {record.getMessage()[:300]}"


async def _sample_rss(peak: list[float], stop: asyncio.Event) -> None:
    process = psutil.Process()
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    if callable(value):
        value = value()
    return list(value) if isinstance(value, list | tuple | set | dict) else []


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if callable(value):
        value = value()
    if isinstance(value, int):
        return value
    return len(value) if isinstance(value, list | tuple | set | dict) else None


async def run_fuzz(db_url: str, tmp: Path, config: FuzzConfig) -> FuzzReport:
    """Run one seeded fuzz run against a fresh bot and database; never raises for what the
    bot does wrong (that is in the report)."""
    report = FuzzReport(seed=config.seed)
    errors = _ErrorLog()
    bot_log = logging.getLogger("gespreksmaatje")
    bot_log.addHandler(errors)
    peak = [0.0]
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(peak, stop_sampling))
    started = time.perf_counter()
    try:
        async with harness(db_url, tmp, limits=Limits() if config.limits else None) as h:
            runner = await h.start_bot(with_media=config.media)
            fuzzer = Fuzzer(h, config)
            runner.listeners.append(fuzzer.on_handled)
            fuzzer.deadline = started + config.max_seconds
            await fuzzer.setup()
            report.setup_updates = fuzzer.sent
            random_start = time.perf_counter()
            await asyncio.gather(*(fuzzer.run_actor(actor) for actor in fuzzer.actors))
            report.random_seconds = time.perf_counter() - random_start
            await _collect(fuzzer, h, report)
            errors.flush()
        report.seconds = time.perf_counter() - started
        logged = fuzzer.errors_from_log(report, errors.records)
        for update_id in report.failed_inbox:
            if update_id not in logged:
                fuzzer._problem(report, "update failed", "inbox row marked failed",
                                fuzzer.action_of.get(update_id, str(update_id)))
    finally:
        bot_log.removeHandler(errors)
        stop_sampling.set()
        await sampler
    report.peak_rss_mb = peak[0] / 2**20
    return report


async def _collect(fuzzer: Fuzzer, h: Harness, report: FuzzReport) -> None:
    """Every figure, while the bot and the database are still there."""
    server = h.server
    report.updates = fuzzer.sent
    report.actions = fuzzer.actions
    report.not_handled = sorted(fuzzer.not_handled)
    for update_id in report.not_handled:
        fuzzer._problem(report, "not handled",
                        f"not handled within {fuzzer.config.update_timeout:.0f} s",
                        fuzzer.action_of.get(update_id, str(update_id)))
    async with h.store.unit() as unit:
        report.failed_inbox = sorted(int(i) for i in (await unit.session.execute(
            select(Inbox.update_id).where(Inbox.state == "failed"))).scalars())

    theirs = getattr(server, "bot_errors", None)
    mine = [(m, c, d) for m, c, d, _ in fuzzer.api_errors]
    listed = _listify(theirs) if theirs is not None else [e for e in mine if e[1] != 429]
    report.bot_errors = [(str(e[0]), int(e[1]), str(e[2])) for e in listed]
    blamed: dict[tuple[str, int, str], str] = {}
    for method, code, description, who in fuzzer.api_errors:
        blamed.setdefault((method, code, description), who)
    for method, code, description in report.bot_errors:
        who = blamed.get((method, code, description), "?")
        fuzzer._problem(report, "bot API error", f"{method} → {code} {description}", who,
                        detail=fuzzer.trace_of.get(who, ""))
    too_many = _count(getattr(server, "too_many_requests", None))
    report.too_many_requests = too_many if too_many is not None else sum(
        1 for e in mine if e[1] == 429)

    by_chat = getattr(server, "too_many_requests_by_chat", None)
    if report.too_many_requests and isinstance(by_chat, dict):
        names = {str(a.user.chat_id): a.name for a in fuzzer.actors}
        worst = sorted(by_chat.items(), key=lambda item: -item[1])[:5]
        fuzzer._problem(report, "429", "429 Too Many Requests (the bot outran the limits)",
                        ", ".join(f"{names.get(str(chat), chat)} ×{count}"
                                  for chat, count in worst))
        report.problems[-1].count = report.too_many_requests
    report.callbacks = len(fuzzer.callback_ids)
    unanswered = getattr(server, "unanswered_callbacks", None)
    if callable(unanswered):
        report.unanswered = sorted(int(u) for u in unanswered())
    else:
        report.unanswered = [u for u in fuzzer.callback_ids
                             if server.callback_answer_for(u) is None]
    for update_id in report.unanswered:
        fuzzer._problem(report, "unanswered", "button press never answered",
                        fuzzer.action_of.get(update_id, str(update_id)))
    delays = getattr(server, "callback_delays", None)
    if callable(delays):
        report.delays = [float(d) for d in delays()]
    else:
        report.delays = [fuzzer.answered_at[u] - fuzzer.pushed_at[u]
                         for u in fuzzer.callback_ids if u in fuzzer.answered_at]
    report.late = sum(1 for d in report.delays if d > CALLBACK_IN_TIME)
    for update_id in fuzzer.callback_ids:  # which ones: by this side's clock (from the push)
        delay = fuzzer.answered_at.get(update_id, 0.0) - fuzzer.pushed_at.get(update_id, 0.0)
        if delay > CALLBACK_IN_TIME:
            fuzzer._problem(report, "late", f"press answered more than "
                            f"{CALLBACK_IN_TIME:.0f} s after it was sent",
                            f"{fuzzer.action_of.get(update_id, update_id)} ({delay:.1f} s)")
    await fuzzer.check_answers(report)
