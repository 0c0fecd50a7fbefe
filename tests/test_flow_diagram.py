"""The committed Mermaid diagram is generated from the machine and must match it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogs.client_prep import FLOW, STEPS
from scripts.diagrams import FLOWS

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_committed_diagram_matches_the_machine(name: str) -> None:
    committed = (DOCS / f"{name}.mmd").read_text(encoding="utf-8")
    assert committed == FLOWS[name].mermaid(), (
        f"docs/{name}.mmd is out of date: run `python scripts/diagrams.py`")


def test_every_step_is_in_the_diagram_in_order() -> None:
    text = FLOW.mermaid()
    for before, after in zip(STEPS, STEPS[1:], strict=False):
        if before.kind not in {"list", "review"}:
            assert f"{before.key} --> {after.key} : next" in text


def test_one_machine_is_shared_and_keeps_no_models() -> None:
    """The flow's machine is built once; each input attaches its model and detaches it."""
    from datetime import UTC, datetime

    from bot.dialogs.client_prep import decide
    from bot.dialogs.types import Answers, Input, Session

    session = Session(step="good_at", seq=1)
    decide(session, Answers(), Input("text", datetime.now(UTC), text="Zingen"))
    assert FLOW.machine.models == []


def test_every_fixed_spoken_text_exists() -> None:
    """The speech cache is warmed with these at start-up: each must be a real text."""
    from bot.dialogs.client_prep import fixed_spoken_texts

    texts = fixed_spoken_texts()
    assert len(texts) == len(set(texts)) >= 15 and all(texts)


def test_no_callback_shadows_a_trigger(caplog: pytest.LogCaptureFixture) -> None:
    """transitions skips binding a trigger whose name a model method already has."""
    from datetime import UTC, datetime

    from bot.dialogs import admin, begeleider, naaste
    from bot.dialogs.flow import Turn
    from bot.dialogs.types import Answers, Input, Session

    now = datetime.now(UTC)
    turns = [(m.FLOW.machine, m.FLOW.model_class(Session(step="home"), Input("text", now)))
             for m in (begeleider, naaste, admin)]
    turns.append((FLOW.machine, Turn(FLOW, Session(step="welcome"), Answers(),
                                     Input("text", now))))
    for machine, turn in turns:
        machine.add_model(turn, initial=machine.initial)
        machine.remove_model(turn)
    assert "Skip binding" not in caplog.text
