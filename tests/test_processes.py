"""Several bot processes on one PostgreSQL (issue 18): three real `python -m bot run`
processes in webhook mode behind a round-robin proxy, 50 clients preparing at once, one
process killed with kill -9 in the middle and started again. Every answer is stored exactly
once, each chat's answers in the order they were sent, nothing stays waiting in the inbox,
and every planned message that fell due is sent exactly once (the three processes start at
once and each sends what is due; the restarted one starts again).

Any process may get any update of a chat; the chat's order holds because a turn first takes
the chat (an advisory lock) and handles an earlier waiting update of it first."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.state.models import Answer, Client, DialogSession, Inbox, Person, PlannedSend
from localbotapi.roundrobin import RoundRobinProxy
from localbotapi.server import UserHandle
from tests.harness import BotProcess, Harness, free_port, harness
from tests.test_durability import EXPECTED, SCRIPT, newest_button
from tests.test_reminders import World, make_world

CLIENTS = 50
PROCESSES = 3
MEETINGS = 4  # other clients, whose meeting is in ten days: the agenda to their naasten is due
NAASTEN = 5


class Group:
    def __init__(self, h: Harness, proxy: RoundRobinProxy, bots: list[BotProcess],
                 ports: list[int]) -> None:
        self.h, self.proxy, self.bots, self.ports = h, proxy, bots, ports

    def start(self, index: int) -> None:
        # Quiet hours a few hours from now: what is due goes out whenever the test runs.
        local = datetime.now(UTC).astimezone(self.h.settings.tz)
        quiet = [(local + timedelta(hours=hours)).strftime("%H:%M") for hours in (4, 5)]
        self.bots[index].start(
            WEBHOOK_URL=f"{self.proxy.url}/telegram/hook", WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(self.ports[index]), ORPHAN_SECONDS="2",
            QUIET_START=quiet[0], QUIET_END=quiet[1])

    async def stop(self) -> None:
        await asyncio.gather(*(bot.stop() for bot in self.bots))


@pytest.fixture
async def group(db_url: str, tmp_path: Path) -> AsyncIterator[Group]:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share a PostgreSQL database (SQLite: one process)")
    async with harness(db_url, tmp_path) as h:
        ports = [free_port() for _ in range(PROCESSES)]
        async with RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports]) as proxy:
            bots = [BotProcess(h, tmp_path, f"bot{i}") for i in range(PROCESSES)]
            processes = Group(h, proxy, bots, ports)
            try:
                yield processes
            finally:
                await processes.stop()


async def settled(h: Harness, update_id: int, user_id: int) -> bool:
    """The update is handled and the replies of the person's last turn went out."""
    async with h.store.unit() as unit:
        row = await unit.session.get(Inbox, update_id)
        if row is None or row.state != "done":
            return False
        pending = await unit.session.scalar(
            select(DialogSession.reply_pending).join(
                Person, Person.id == DialogSession.person_id)
            .where(Person.telegram_user_id == user_id))
        return pending is False


async def until_settled(h: Harness, update_id: int, user: UserHandle) -> None:
    await eventually(lambda: settled(h, update_id, user.user_id))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 120) -> None:  # noqa: ASYNC109
    """Poll the database: other processes write it, no event reaches this one. The timeout
    bounds a failure only (a restart under load takes a while)."""
    async def poll() -> None:
        while not await check():  # noqa: ASYNC110 - nothing to wait on but the rows
            await asyncio.sleep(0.1)
    await asyncio.wait_for(poll(), timeout)


async def prepare(h: Harness, token: str, user: UserHandle) -> None:
    """The durability script; texts in a row are sent at once (typing fast), so the next
    one often reaches another process while the one before is still being handled."""
    await until_settled(h, await user.send_command("/start", token), user)
    for number, (action, value) in enumerate(SCRIPT):
        if action == "say":
            update_id = await user.send_text(value)
        else:
            message_id, data = newest_button(user, value)
            update_id = await user.press_data(message_id, data)
        if action == "tap" or number + 1 == len(SCRIPT) or SCRIPT[number + 1][0] == "tap":
            await until_settled(h, update_id, user)


async def meetings_in_ten_days(h: Harness) -> list[UserHandle]:
    """Clients with a meeting in ten days and naasten who started the bot: each naaste's
    agenda (due fourteen days before) is due at once. The naasten, as Telegram knows them."""
    now = datetime.now(UTC)
    worlds: list[World] = [await make_world(h.store, now, now + timedelta(days=10),
                                            naasten=NAASTEN) for _ in range(MEETINGS)]
    people = {p.id: p for p in await h.rows(Person)}
    users = {person_id: h.server.user(people[person_id].telegram_user_id,
                                      first_name=people[person_id].name)
             for world in worlds for person_id in (world.client_person, world.coach_person,
                                                   *world.naaste_persons)}
    for user in users.values():
        user.started = True  # a planned message may go to them
    return [users[person_id] for world in worlds for person_id in world.naaste_persons]


async def test_three_processes_one_killed_lose_and_reorder_nothing(group: Group) -> None:
    h = group.h
    naasten = await meetings_in_ten_days(h)
    for index in range(PROCESSES):
        group.start(index)
    await eventually(lambda: _webhook_set(h), 60)
    # The three start at once, and each sends what is due: each naaste's agenda goes once.
    # (Waited for here: a claim of the process killed below would wait out its lease.)
    await eventually(lambda: _all_sent(h, len(naasten)), 60)
    tokens = [await h.enrol(f"Client {i}") for i in range(CLIENTS)]
    users = [h.server.user(5000 + i, first_name=f"Client{i}") for i in range(CLIENTS)]
    clients = asyncio.gather(*(prepare(h, token, user) for token, user in zip(tokens, users,
                                                                              strict=True)))
    total = CLIENTS * (len(SCRIPT) + 1)
    await eventually(lambda: _handled_at_least(h, total // 3))
    victim = group.bots[1]
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)  # in the middle of whatever it was doing
    await asyncio.to_thread(victim.proc.wait)
    served_before = group.proxy.served[f"http://127.0.0.1:{group.ports[1]}"]
    group.start(1)
    await asyncio.wait_for(clients, 300)

    answers = await h.rows(Answer, Answer.removed_at.is_(None))
    update_ids = [a.update_id for a in answers]
    assert len(update_ids) == len(set(update_ids)), "an update was handled twice"
    names = {c.id: c.name for c in await h.rows(Client)}
    by_client: dict[str, list[Answer]] = {}
    for answer in sorted(answers, key=lambda a: a.id):
        by_client.setdefault(names[answer.client_id], []).append(answer)
    assert len(by_client) == CLIENTS
    for name, rows in by_client.items():
        stored: dict[str, list[str]] = {}
        for row in sorted(rows, key=lambda r: (r.step, r.item, r.part)):
            stored.setdefault(row.step, []).append(row.text)
        assert stored == EXPECTED, name
        in_order = [r.update_id for r in rows]
        assert in_order == sorted(in_order), f"{name}'s answers out of order"
    assert await h.rows(Inbox, Inbox.state != "done") == []
    assert served_before > 0, "the killed process had handled posts"
    assert victim.starts == 2
    assert all(group.proxy.served.values()) and len(group.proxy.served) == PROCESSES

    # Each naaste got the agenda once: claimed by one process, not again after the restart.
    assert await _all_sent(h, len(naasten))
    for naaste in naasten:
        invites = [m for m in naaste.messages if "Wil jij ook iets bespreken" in m.content]
        assert len(invites) == 1, naaste.describe()


async def _all_sent(h: Harness, count: int) -> bool:
    agendas = await h.rows(PlannedSend, PlannedSend.kind == "naaste_agenda")
    return len(agendas) == count and all(row.state == "sent" for row in agendas)


async def _webhook_set(h: Harness) -> bool:
    return bool(h.server.webhook_url)


async def _handled_at_least(h: Harness, count: int) -> bool:
    return len(await h.rows(Inbox, Inbox.state == "done")) >= count
