"""Who may see what of a client: role × the client's own sharing choices.

Every read of a client's data asks `read()` here, which writes one audit row per part asked
(allowed or not). Nothing reads client data around it; ids that come from buttons are
checked against the viewer's relations on every press (a forged id is simply "not yours").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

# Ids from buttons (`as_id`: anything outside a database integer is no id) are read by the
# button codec; the dialogs and this module share it.
from bot.dialogs.buttons import MAX_ID, as_id
from bot.dialogs.client_prep import SHARE_PARTS
from bot.state.models import Admin, AuditLog, Begeleider, Client, Naaste, utcnow
from bot.state.store import Unit

# What the client can share with a naaste, one yes/no each (default: nothing); the client
# flow owns the list.
SHAREABLE: tuple[str, ...] = SHARE_PARTS
# Everything the compiled agenda can hold, plus the facts around it.
ALL_PARTS: tuple[str, ...] = (*SHAREABLE, "naasten", "begeleider", "meeting_date", "progress")
ROLES = ("client", "begeleider", "naaste", "admin")
# An admin sees progress, never answers; only for the AVG (a written request for inzage, an
# erasure) everything, each use in the log.
ADMIN_PARTS = ("progress", "inzage", "erase")


@dataclass(frozen=True)
class Relation:
    """How a viewer stands to a client. `role` "none" sees nothing."""

    role: str
    naaste_id: int | None = None


@dataclass(frozen=True)
class Acting:
    """The role a person acts in now (one of their roles: ("begeleider", begeleider id), …).
    A person with several roles sees a client only through the role in use: an admin who
    is also a begeleider does not reach another begeleider's client as begeleider."""

    role: str
    id: int


async def relation(unit: Unit, viewer_person_id: int, client_id: int,
                   acting: Acting | None = None) -> Relation:
    """How the viewer stands to a client; with `acting`, only through that role."""
    client = await unit.get(Client, client_id) if 0 < client_id <= MAX_ID else None
    if client is None:
        return Relation("none")
    if acting is not None:
        return await _relation_as(unit, viewer_person_id, client, acting)
    if client.person_id == viewer_person_id:
        return Relation("client")
    if client.begeleider_id is not None:
        begeleider = await unit.get(Begeleider, client.begeleider_id)
        if _begeleider_of(begeleider, client) and begeleider.person_id == viewer_person_id:
            return Relation("begeleider")
    naaste = await unit.naaste_of(client_id, viewer_person_id)
    if naaste is not None:
        return Relation("naaste", naaste.id)
    admin = await unit.admin_in(viewer_person_id, client.organisation_id)
    return Relation("admin") if admin is not None else Relation("none")


async def _relation_as(unit: Unit, viewer_person_id: int, client: Client,
                       acting: Acting) -> Relation:
    if acting.role == "client":
        mine = client.id == acting.id and client.person_id == viewer_person_id
        return Relation("client") if mine else Relation("none")
    if acting.role == "begeleider":
        begeleider = await unit.get(Begeleider, acting.id)
        mine = (_begeleider_of(begeleider, client) and begeleider.person_id == viewer_person_id
                and client.begeleider_id == begeleider.id)
        return Relation("begeleider") if mine else Relation("none")
    if acting.role == "naaste":
        naaste = await unit.get(Naaste, acting.id)
        mine = (naaste is not None and naaste.person_id == viewer_person_id
                and naaste.client_id == client.id and naaste.removed_at is None)
        return Relation("naaste", acting.id) if mine else Relation("none")
    if acting.role == "admin":
        admin = await unit.get(Admin, acting.id)
        mine = (admin is not None and admin.person_id == viewer_person_id
                and admin.organisation_id == client.organisation_id)
        return Relation("admin") if mine else Relation("none")
    return Relation("none")


def _begeleider_of(begeleider: Begeleider | None, client: Client) -> TypeGuard[Begeleider]:
    """A begeleider reaches only clients of their own organisation (a tenant), whatever a
    row says: a client linked to a begeleider elsewhere is nobody's there."""
    return begeleider is not None and begeleider.organisation_id == client.organisation_id


async def allowed(unit: Unit, rel: Relation, client_id: int) -> set[str]:
    """The parts this relation may see (no audit: call `read` for an actual read)."""
    if rel.role in {"client", "begeleider"}:
        return set(ALL_PARTS)
    if rel.role == "admin":
        return set(ADMIN_PARTS)
    if rel.role == "naaste" and rel.naaste_id is not None:
        return {"meeting_date"} | await unit.shared_parts(client_id, rel.naaste_id)
    return set()


async def read(unit: Unit, viewer_person_id: int, client_id: int,
               parts: Iterable[str], at: datetime | None = None,
               acting: Acting | None = None) -> set[str]:
    """The parts of `parts` the viewer may read now; one audit row per part asked, once per
    transaction (a screen checked and then shown is one read, not two). A client that does
    not exist (a forged id) is denied and logged without a client."""
    rel = await relation(unit, viewer_person_id, client_id, acting)
    may = await allowed(unit, rel, client_id)
    exists = rel.role != "none" or (
        0 < client_id <= MAX_ID and await unit.get(Client, client_id) is not None)
    at = at or utcnow()
    granted = set()
    for part in dict.fromkeys(parts):  # in order, once each
        ok = part in may
        _log(unit, viewer_person_id, client_id if exists else None, part, ok, at)
        if ok:
            granted.add(part)
    return granted


def _log(unit: Unit, viewer_person_id: int, client_id: int | None, part: str, ok: bool,
         at: datetime) -> None:
    """One row in the access log, once per transaction."""
    logged = (viewer_person_id, client_id, part, ok)
    if logged not in unit.audited:
        unit.audited.add(logged)
        unit.audit(viewer_person_id, client_id, part, ok, at)


async def can(unit: Unit, viewer_person_id: int, client_id: int, part: str,
              acting: Acting | None = None) -> bool:
    return part in await read(unit, viewer_person_id, client_id, [part], acting=acting)


async def refuse_forged(unit: Unit, viewer_person_id: int, model: type[Any], ref: object,
                        part: str, acting: Acting) -> int | None:
    """A pressed button names something (a client, naaste, answer, agenda item) by id: if
    it is not the viewer's in the role acted in, log the denial against the client it
    belongs to (without a client when the id names nothing) and return that client id.
    None: the id is the viewer's own, nothing to refuse."""
    number = as_id(ref)
    row = await unit.get(model, number) if number is not None else None
    client_id = int(getattr(row, "id" if model is Client else "client_id", 0) or 0)
    if client_id and (await relation(unit, viewer_person_id, client_id, acting)).role != "none":
        return None
    await read(unit, viewer_person_id, client_id, [part], acting=acting)
    return client_id


async def may_move(unit: Unit, viewer_person_id: int, client_id: int, begeleider_ref: object,
                   acting: Acting) -> bool:
    """An admin moves a client to another begeleider: the client must be theirs (a read of
    "progress", logged) and the begeleider of the client's own organisation. A begeleider
    elsewhere, or none, is one denied "move" of that client in the log."""
    if not await can(unit, viewer_person_id, client_id, "progress", acting):
        return False
    client = await unit.get(Client, client_id)
    number = as_id(begeleider_ref)
    target = await unit.get(Begeleider, number) if number is not None else None
    if client is not None and _begeleider_of(target, client):
        return True
    _log(unit, viewer_person_id, client_id, "move", False, utcnow())
    return False


@dataclass(frozen=True)
class Look:
    name: str
    role: str
    at: datetime


async def who_looked(unit: Unit, client_id: int, limit: int = 20) -> list[Look]:
    """Other people's allowed reads of this client, newest first, one line per person
    per day (what `/wie_keek` tells the client). Seeing progress or only the meeting date
    is not looking at the list."""
    client = await unit.get(Client, client_id)
    # Seeing progress or only the meeting date is not looking at the list.
    rows = await unit.allowed_reads(client_id, without=("progress", "meeting_date"))
    looks: list[Look] = []
    seen: set[tuple[int, str]] = set()
    for person_id, at, name in rows:
        if person_id is None or (client is not None and person_id == client.person_id):
            continue
        day = (person_id, at.date().isoformat())
        if day in seen:
            continue
        seen.add(day)
        rel = await relation(unit, person_id, client_id)
        looks.append(Look(name, rel.role, at))
        if len(looks) >= limit:
            break
    return looks


async def audit_rows(unit: Unit, client_id: int) -> list[AuditLog]:
    return await unit.audit_rows(client_id)
