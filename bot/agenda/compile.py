"""Read one client's agenda from the database, for one viewer.

`parts` is what the access module allows this viewer to see; only those parts are read
into the `Agenda`, so no output made from it can show more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.agenda.model import (
    CHOICE_STEPS,
    CLIENT_PARTS,
    CONTRIBUTION_KINDS,
    DEFAULT_TZ,
    EXTRA,
    MEETING_STEPS,
    PARTS,
    SECTION_PICTOS,
    VOICE_KINDS,
    Agenda,
    Author,
    Contribution,
    Item,
    Media,
    MeetingInfo,
    Part,
    SinceLast,
    part_of_step,
)
from bot.dialogs.client_prep import FLOW as CLIENT_FLOW
from bot.state.models import AgendaItem, Answer, Client, Meeting
from bot.state.unit import Unit

PREP_FLOW = CLIENT_FLOW.name
# What the client left open is for the client and the begeleider to talk about; a naaste
# reading it would be invited to push on it.
SEES_SKIPPED = frozenset({"client", "begeleider"})
# Looks up size and base64 SHA-1 of a Telegram file (e.g. by downloading it), or None.
MediaLookup = Callable[[Media], Awaitable[tuple[int, str] | None]]


class UnknownClient(LookupError):
    pass


async def compile_agenda(unit: Unit, client_id: int, parts: set[str],
                         viewer_role: str, now: datetime, *, tz_name: str = DEFAULT_TZ,
                         media_lookup: MediaLookup | None = None) -> Agenda:
    """The agenda of `client_id` as `viewer_role` may see it (only `parts`)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts: {sorted(unknown)}")
    client = await unit.get(Client, client_id)
    if client is None:
        raise UnknownClient(client_id)
    steps = [s for s in (*CLIENT_PARTS, *MEETING_STEPS) if part_of_step(s) in parts]
    rows = await _answers(unit, client_id, steps)
    added = await _agenda_items(unit, client_id, parts)
    ids = {r.entered_by for v in rows.values() for r in v} | {a.owner_person_id for a in added}
    people = _People(client, await _authors(unit, client, {i for i in ids if i}))
    # At a choice step the buttons are options (MeetingInfo.chair/how); anything the client
    # typed, said or showed there is kept as items beside them.
    choices = {s: [r for r in rows.get(s, []) if r.kind == "choice"] for s in CHOICE_STEPS}
    items = {step: _items([r for r in rows.get(step, [])
                           if step not in CHOICE_STEPS or r.kind != "choice"],
                          people, "voice" in parts) for step in steps}
    if media_lookup is not None:
        items = {s: [await _with_meta(i, media_lookup) for i in v] for s, v in items.items()}
    contributions = [_contribution(row, people) for row in added]
    answered = {s for s, v in items.items() if v} | {s for s, v in choices.items() if v}
    return Agenda(
        client_id=client_id,
        client_name=client.name,
        viewer_role=viewer_role,
        generated_at=now,
        visible=frozenset(parts),
        parts=tuple(_part(k, items[k]) for k in CLIENT_PARTS
                    if k in parts and (k != EXTRA or items[k])),
        meeting=await _meeting(unit, client_id, items, choices, now)
        if "meeting" in parts else None,
        naasten=tuple(c for c in contributions if c.author.role == "naaste"),
        begeleider=tuple(c for c in contributions if c.author.role == "begeleider"),
        skipped=await _skipped(unit, client, answered, parts)
        if viewer_role in SEES_SKIPPED else (),
        tz_name=tz_name,
        round=client.round or 1,
        since_last=await _since_last(unit, client_id)
        if "agreements" in parts and (client.round or 1) > 1 else (),
    )


async def _since_last(unit: Unit, client_id: int) -> tuple[SinceLast, ...]:
    """The agreements sent so far, with the moods of their check-ins."""
    moods = await unit.agreement_moods(client_id)
    return tuple(SinceLast(a.text, a.who, tuple(moods.get(a.id, ())))
                 for a in await unit.agreements(client_id) if a.sent_at is not None)


def _part(key: str, items: list[Item]) -> Part:
    """A question's part; "Ook gezegd" (only when there is something) has its own picto."""
    return Part(key, f"title_{key}", SECTION_PICTOS.get(key, key), tuple(items))


class _People:
    """Names for person ids: the client, begeleiders and naasten of this client."""

    def __init__(self, client: Client, known: dict[int, Author]) -> None:
        self.client = Author("client", client.name)
        self.client_person = client.person_id
        self.known = known

    def author(self, person_id: int | None) -> Author:
        if person_id is None or person_id == self.client_person:
            return self.client
        return self.known.get(person_id, Author("person", ""))


async def _authors(unit: Unit, client: Client, ids: set[int]) -> dict[int, Author]:
    """Only the people who wrote something here; a role name beats the account name."""
    known: dict[int, Author] = {}
    if not ids:
        return known
    people, begeleiders, naasten = await unit.authors(client.id, ids)
    for person_id, name in people:
        known[person_id] = Author("person", name)
    for person_id, name in begeleiders:
        known[person_id] = Author("begeleider", name)
    for person_id, name, relation in naasten:
        known[person_id] = Author("naaste", name, relation)
    return known


async def _answers(unit: Unit, client_id: int,
                   steps: Sequence[str]) -> dict[str, list[Answer]]:
    if not steps:
        return {}
    rows: dict[str, list[Answer]] = {}
    for row in await unit.answers_of(client_id, steps):
        rows.setdefault(row.step, []).append(row)
    return rows


def _items(rows: Iterable[Answer], people: _People, with_voice: bool) -> list[Item]:
    """Answer rows grouped per item; a recording is left out when voice is not shared."""
    grouped: dict[int, list[Answer]] = {}
    for row in rows:
        if row.kind in VOICE_KINDS and not with_voice:
            continue
        grouped.setdefault(row.item, []).append(row)
    return [_item(number, group, people) for number, group in sorted(grouped.items())]


def _item(number: int, rows: list[Answer], people: _People) -> Item:
    media = tuple(Media(r.kind, r.file_id or "", r.file_unique_id or "", r.duration,
                        answer_id=r.id, transcript=r.transcript
                        if r.transcript_state == "confirmed" else None)
                  for r in rows if r.file_id)
    kinds = [r.kind for r in rows if r.kind != "text"]
    changed = [r.changed_at for r in rows if r.changed_at is not None]
    first = rows[0]
    return Item(
        number=number,
        text="".join(r.text for r in rows if r.text),  # Telegram split it: join back as is
        kind=kinds[0] if kinds else "text",
        author=people.author(first.entered_by),
        created_at=min(r.created_at for r in rows),
        changed_at=max(changed) if changed else None,
        media=media,
        tag=next((r.tag for r in rows if r.tag), None),
    )


async def _with_meta(item: Item, lookup: MediaLookup) -> Item:
    media = []
    for m in item.media:
        meta = await lookup(m)
        media.append(replace(m, size=meta[0], sha1_b64=meta[1]) if meta else m)
    return replace(item, media=tuple(media))


async def _meeting(unit: Unit, client_id: int, items: dict[str, list[Item]],
                   choices: dict[str, list[Answer]], now: datetime) -> MeetingInfo:
    meetings: list[Meeting] = await unit.meetings(client_id)
    # The next meeting; when all are past (or undated), the latest one.
    upcoming = [m for m in meetings if m.starts_at is not None and m.starts_at >= now]
    meeting = upcoming[0] if upcoming else (meetings[-1] if meetings else None)
    chair = [r.tag or r.text for r in choices["meeting_chair"] if r.tag or r.text]
    how = [r.tag or r.text for r in choices["meeting_how"] if r.tag or r.text]
    return MeetingInfo(
        starts_at=meeting.starts_at if meeting else None,
        place=meeting.place if meeting else "",
        where=tuple(items.get("meeting_where", [])),
        who=tuple(items.get("meeting_who", [])),
        chair=chair[-1] if chair else None,
        how=tuple(dict.fromkeys(how)),
        chair_said=tuple(items.get("meeting_chair", [])),
        how_said=tuple(items.get("meeting_how", [])),
    )


async def _agenda_items(unit: Unit, client_id: int, parts: set[str]) -> list[AgendaItem]:
    roles = [r for r, part in (("naaste", "naasten"), ("begeleider", "begeleider"))
             if part in parts]
    return await unit.agenda_items_of(client_id, roles) if roles else []


def _contribution(row: AgendaItem, people: _People) -> Contribution:
    # The row's role decides the section, even when the person is unknown here.
    author = replace(people.author(row.owner_person_id), role=row.owner_role)
    if row.owner_person_id is None:
        author = Author(row.owner_role, "")
    kind = row.kind if row.kind in CONTRIBUTION_KINDS else "topic"
    return Contribution(kind, row.text, author, row.created_at, row.position)


async def _skipped(unit: Unit, client: Client, answered: set[str],
                   parts: set[str]) -> tuple[str, ...]:
    """Steps the client skipped and has not answered since, of parts the viewer may see."""
    if client.person_id is None:
        return ()
    data = await unit.session_data(client.person_id, PREP_FLOW)
    skipped = data.get("skipped", [])
    return tuple(s for s in skipped if isinstance(s, str) and part_of_step(s) in parts
                 and s not in answered)
