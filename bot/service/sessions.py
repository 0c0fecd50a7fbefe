"""A person's place in a flow: read at the start of a turn, written once at its end."""

from __future__ import annotations

from bot.dialogs.types import Session
from bot.state.unit import SessionRow, Unit


async def load(unit: Unit, person_id: int, flow: str, client_id: int | None,
               initial: str) -> tuple[SessionRow, Session]:
    row = await unit.session_row(person_id, flow, client_id, initial)
    return row, Session(step=row.step, status=row.status, seq=row.seq, data=row.data)


async def save(unit: Unit, row: SessionRow, session: Session, pending: bool) -> None:
    """`pending`: replies are on their way (cleared once sent; see Service.replies_sent)."""
    row.step, row.status, row.seq, row.data = (session.step, session.status, session.seq,
                                               session.data)
    row.reply_pending = pending
    await unit.save_session(row)
