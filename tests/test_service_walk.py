"""A random walk through the client's preparation over the in-memory unit of work: any
order of buttons (old ones too), answers of every kind and commands. The service never
fails, every button fits Telegram's 64 bytes, and every new screen with buttons is also
spoken (a client who cannot read must hear what they can tap)."""

from __future__ import annotations

import random

import pytest

from bot.dialogs.types import Input
from bot.service import Outgoing
from bot.state.models import utcnow
from tests.test_service import SAM, World

WORDS = ["Ik kan goed koken", "Fietsen", "Mijn zus", "Rust", "Op vrijdag"]
COMMANDS = ["start", "lijst", "stop", "verder", "help"]


def _inputs(out: Outgoing | None, rng: random.Random, n: int) -> Input:
    buttons = [b.data for r in (out.replies if out else []) for row in r.buttons for b in row]
    roll = rng.random()
    if buttons and roll < 0.6:
        return Input("button", utcnow(), data=rng.choice(buttons))
    if roll < 0.8:
        return Input("text", utcnow(), text=rng.choice(WORDS), message_id=n)
    if roll < 0.9:
        kind = rng.choice(["voice", "photo", "video"])
        return Input(kind, utcnow(), file_id=f"f{n}", file_unique_id=f"u{n}",
                     duration=2.0 if kind != "photo" else None, message_id=n)
    return Input("command", utcnow(), command=rng.choice(COMMANDS))


@pytest.mark.parametrize("seed", range(6))
async def test_a_random_walk_never_breaks_the_chat(seed: int) -> None:
    w = World()
    rng = random.Random(seed)
    out = await w.command(SAM, "start")
    steps = set()
    for n in range(250):
        assert out is not None
        for reply in out.replies:
            for row in reply.buttons:
                assert all(len(b.data.encode()) <= 64 for b in row)
        if any(r.buttons and not r.edit for r in out.replies):
            assert any(r.speak for r in out.replies), [r.text for r in out.replies]
        out = await w.send(SAM, _inputs(out, rng, 1000 + n))
        steps.add(w.store.tables.sessions[next(iter(w.store.tables.sessions))].step)
    assert len(steps) > 8, steps  # the walk got around
    texts = [a.text for a in w.answers() if a.kind == "text"]
    assert set(texts) <= set(WORDS)
