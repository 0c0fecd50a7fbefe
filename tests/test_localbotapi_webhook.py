"""The local Bot API server delivers updates to a webhook like Telegram: POSTed as JSON with
the secret header, kept and retried until the webhook answers 2xx, one chat's updates in
order, different chats side by side. The webhook here is a tiny aiohttp receiver whose
answer each test controls; waiting is on conditions, never on the clock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import Conflict

from localbotapi import BotApiServer

TOKEN = "123456:TEST"
SECRET = "s3cret_token-1"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class Post:
    update_id: int
    body: dict[str, Any]
    headers: dict[str, str]
    status: int | None = None  # None: the server gave up before the answer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Receiver:
    """A webhook on 127.0.0.1: records every POST, answers with ``answer(body)``; while
    ``hold`` is an unset event it keeps the POST waiting (to make the server time out)."""

    port: int = field(default_factory=free_port)
    posts: list[Post] = field(default_factory=list)
    answer: Callable[[dict[str, Any]], int] = lambda body: 200
    hold: asyncio.Event | None = None
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        post = Post(body["update_id"], body, dict(request.headers))
        self.posts.append(post)
        self._changed.set()
        if self.hold is not None and not self.hold.is_set():
            await self.hold.wait()
            return web.Response(status=200)  # too late: the server gave up on this one
        post.status = self.answer(body)
        return web.Response(status=post.status)

    async def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait (5 s at most) until predicate() holds, re-checking on every POST."""
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), 5)
        except TimeoutError:
            raise AssertionError(f"the webhook never saw {what}") from None

    def accepted(self) -> list[int]:
        """update_ids answered 2xx, in the order they came."""
        return [p.update_id for p in self.posts if p.status is not None and p.status < 300]

    def attempts(self, update_id: int) -> list[int | None]:
        return [p.status for p in self.posts if p.update_id == update_id]


def chat_of(body: dict[str, Any]) -> int:
    return int(body["message"]["chat"]["id"])


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(token=TOKEN, webhook_retry_first=0.02,
                            webhook_retry_max=0.1) as srv:
        yield srv


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.file_url) as b:
        yield b


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = await Receiver().start()
    yield hook
    await hook.stop()


async def all_accepted(server: BotApiServer, *update_ids: int) -> None:
    for update_id in update_ids:
        await server.wait_for_webhook(update_id, timeout=5)


async def test_updates_arrive_in_order_with_the_secret(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    user = server.user(1)
    early = [await user.send_text(t) for t in ("een", "twee", "drie")]
    assert await bot.set_webhook(receiver.url, secret_token=SECRET)
    late = await user.send_text("vier")
    await all_accepted(server, *early, late)
    assert receiver.accepted() == [*early, late]
    assert [p.body["message"]["text"] for p in receiver.posts] == ["een", "twee", "drie", "vier"]
    for post in receiver.posts:
        assert post.headers[SECRET_HEADER] == SECRET
        assert post.headers["Content-Type"] == "application/json"
    assert server.webhook_deliveries == [(uid, 200) for uid in [*early, late]]
    assert server.pending_updates == []
    assert server.confirmed_offset == late + 1
    await server.wait_until_confirmed(late, timeout=1)
    assert all(server.delivery_counts[uid] == 1 for uid in [*early, late])
    info = await bot.get_webhook_info()
    assert info.url == receiver.url and info.pending_update_count == 0
    assert info.max_connections == 40 and info.last_error_date is None
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_no_secret_header_without_a_secret(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url)
    update_id = await server.user(1).send_text("hoi")
    await all_accepted(server, update_id)
    (post,) = receiver.posts
    assert SECRET_HEADER not in post.headers
    assert post.body == server.all_updates[0]


async def test_a_refused_update_is_kept_retried_and_accepted_once(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    failing = True
    receiver.answer = lambda body: 500 if failing else 200
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    user = server.user(1)
    first, second = await user.send_text("een"), await user.send_text("twee")
    await receiver.wait_for(lambda: len(receiver.attempts(first)) >= 3, "three attempts")
    assert receiver.attempts(second) == [], "a later update of the chat went first"
    assert [u["update_id"] for u in server.pending_updates] == [first, second]
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 2
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None
    failing = False
    await all_accepted(server, first, second)
    assert receiver.accepted() == [first, second]
    statuses = receiver.attempts(first)
    assert statuses[-1] == 200 and set(statuses[:-1]) == {500}
    assert receiver.attempts(second) == [200]
    assert max(i for i, p in enumerate(receiver.posts) if p.update_id == first) < min(
        i for i, p in enumerate(receiver.posts) if p.update_id == second)
    third = await user.send_text("drie")  # once it is through, nothing before it comes again
    await all_accepted(server, third)
    assert receiver.accepted() == [first, second, third]
    assert receiver.attempts(second) == [200] and receiver.attempts(third) == [200]
    assert server.pending_updates == []


async def test_a_closed_webhook_loses_nothing(server: BotApiServer, bot: Bot) -> None:
    hook = Receiver()  # not listening yet
    await bot.set_webhook(hook.url)
    update_id = await server.user(1).send_text("hallo?")
    await server.wait_for(
        lambda: server.webhook_deliveries.count((update_id, None)) >= 2, 5, "two refusals")
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Connection refused"
    assert info.pending_update_count == 1
    await hook.start()
    try:
        await all_accepted(server, update_id)
    finally:
        await hook.stop()
    assert receiver_ids(hook) == [update_id]
    assert server.pending_updates == []


def receiver_ids(hook: Receiver) -> list[int]:
    return [p.update_id for p in hook.posts]


async def test_a_slow_webhook_times_out_and_is_retried(receiver: Receiver) -> None:
    async with BotApiServer(token=TOKEN, webhook_timeout=0.2,
                            webhook_retry_first=0.01) as server, \
            Bot(TOKEN, base_url=server.base_url) as bot:
        receiver.hold = asyncio.Event()
        await bot.set_webhook(receiver.url)
        update_id = await server.user(1).send_text("traag")
        await server.wait_for(lambda: (update_id, None) in server.webhook_deliveries, 5,
                              "a timed-out attempt")
        assert (await bot.get_webhook_info()).last_error_message == "Read timeout expired"
        receiver.hold.set()
        await all_accepted(server, update_id)
        assert server.pending_updates == []


async def test_delete_webhook_stops_delivery_and_polling_works_again(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    receiver.answer = lambda body: 500
    server.webhook_retry_first = 60  # after one refusal the delivery waits: no POST in flight
    await bot.set_webhook(receiver.url)
    user = server.user(1)
    first = await user.send_text("een")
    await server.wait_for(lambda: (first, 500) in server.webhook_deliveries, 5, "an attempt")
    assert await bot.delete_webhook()
    posted, attempted = len(receiver.posts), len(server.webhook_deliveries)
    receiver.answer = lambda body: 200
    assert [u.update_id for u in await bot.get_updates()] == [first]
    second = await user.send_text("twee")
    assert [u.update_id for u in await bot.get_updates(offset=first + 1)] == [second]
    assert len(receiver.posts) == posted and len(server.webhook_deliveries) == attempted
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 1
    assert server._hook_loop is None and server._hook_session is None


async def test_drop_pending_updates_forgets(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    user = server.user(1)
    await user.send_text("oud")
    await user.send_text("ouder")
    await bot.set_webhook(receiver.url, drop_pending_updates=True)
    fresh = await user.send_text("nieuw")
    await all_accepted(server, fresh)
    assert receiver_ids(receiver) == [fresh]
    # deleteWebhook can drop them too, also one that the webhook keeps refusing.
    receiver.answer = lambda body: 502
    refused = await user.send_text("geweigerd")
    await receiver.wait_for(lambda: len(receiver.attempts(refused)) >= 1, "an attempt")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert server.pending_updates == []
    assert await bot.get_updates() == ()
    assert server.confirmed_offset == refused + 1


async def test_two_chats_each_in_their_own_order(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    blocked = {1}
    receiver.answer = lambda body: 500 if chat_of(body) in blocked else 200
    await bot.set_webhook(receiver.url)
    anna, bob = server.user(1), server.user(2)
    a1, b1 = await anna.send_text("a1"), await bob.send_text("b1")
    a2, b2 = await anna.send_text("a2"), await bob.send_text("b2")
    b3 = await bob.send_text("b3")
    # Bob's updates do not wait for Anna's, which is refused and retried meanwhile.
    await all_accepted(server, b1, b2, b3)
    assert receiver.accepted() == [b1, b2, b3]
    assert receiver.attempts(a2) == [] and receiver.attempts(a1)
    assert server.confirmed_offset <= a1, "a1 is still pending"
    blocked.clear()
    await all_accepted(server, a1, a2)
    accepted = receiver.accepted()
    assert [u for u in accepted if u in (a1, a2)] == [a1, a2]
    assert [u for u in accepted if u in (b1, b2, b3)] == [b1, b2, b3]
    assert server.confirmed_offset == b3 + 1


async def test_max_connections_one_delivers_one_update_at_a_time(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    blocked = {1}
    receiver.answer = lambda body: 500 if chat_of(body) in blocked else 200
    await bot.set_webhook(receiver.url, max_connections=1)
    a1 = await server.user(1).send_text("a1")
    b1 = await server.user(2).send_text("b1")
    await receiver.wait_for(lambda: len(receiver.attempts(a1)) >= 3, "three attempts")
    assert receiver.attempts(b1) == [], "a second connection was used"
    assert (await bot.get_webhook_info()).max_connections == 1
    blocked.clear()
    await all_accepted(server, a1, b1)
    assert receiver.accepted() == [a1, b1]


async def test_a_new_url_takes_over_the_retries(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    receiver.answer = lambda body: 404
    await bot.set_webhook(receiver.url)
    update_id = await server.user(1).send_text("hallo")
    await receiver.wait_for(lambda: len(receiver.posts) >= 1, "an attempt at the old url")
    other = await Receiver().start()
    try:
        await bot.set_webhook(other.url)
        await all_accepted(server, update_id)
        assert other.accepted() == [update_id]
        assert receiver.accepted() == []
        info = await bot.get_webhook_info()
        # (An attempt at the old url that was in flight may still record its error.)
        assert info.url == other.url and info.pending_update_count == 0
    finally:
        await other.stop()


async def test_allowed_updates_filter_the_webhook(
    server: BotApiServer, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url, allowed_updates=["callback_query"])
    await server.user(1).send_text("niet gewenst")
    query = server.inject_update({"callback_query": {
        "id": "q1", "chat_instance": "c1", "data": "ja",
        "from": {"id": 1, "is_bot": False, "first_name": "Sam"}}})
    await all_accepted(server, query)
    assert receiver_ids(receiver) == [query]
    assert server.pending_updates == []
    assert (await bot.get_webhook_info()).allowed_updates == ("callback_query",)


async def test_stopping_the_server_ends_delivery_cleanly(receiver: Receiver) -> None:
    receiver.hold = asyncio.Event()  # a POST in flight when the server stops
    server = await BotApiServer(token=TOKEN).start()
    assert (server.webhook_timeout, server.webhook_retry_first, server.webhook_retry_max) == (
        10.0, 0.1, 2.0), "Telegram-like defaults, only quicker to retry"
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        await bot.set_webhook(receiver.url)
    await server.user(1).send_text("blijf hangen")
    await server.user(2).send_text("ik ook")
    await receiver.wait_for(lambda: len(receiver.posts) == 2, "two POSTs in flight")
    session = server._hook_session
    assert session is not None
    await asyncio.wait_for(server.stop(), 5)
    assert session.closed and server._hook_session is None
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("webhook")]
    assert leftovers == []
    assert len(server.pending_updates) == 2, "nothing was accepted, nothing is lost"
    receiver.hold.set()


async def test_bad_webhook_settings_are_refused(server: BotApiServer, bot: Bot) -> None:
    from telegram.error import BadRequest

    with pytest.raises(BadRequest, match="(?i)bad webhook"):
        await bot.set_webhook("ftp://127.0.0.1/hook")
    with pytest.raises(BadRequest, match="secret token"):
        await bot.set_webhook("http://127.0.0.1:1/hook", secret_token="met spatie")
    assert server.webhook_url == ""
    assert await bot.get_updates() == ()
