"""People with several roles press forged buttons: every id in every button of every flow is
checked against the role they act in. Nothing is shown, nothing changes, the denial is in
the access log (issue 12: an admin who was also a begeleider reached another begeleider's
client through `op:<id>`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select

from bot.state.models import (
    Admin,
    AgendaItem,
    Answer,
    AuditLog,
    Begeleider,
    Client,
    DialogSession,
    Inbox,
    Invite,
    Meeting,
    Naaste,
    Organisation,
    Person,
    Share,
)
from localbotapi.server import UserHandle
from tests.harness import Harness, texts

REFUSALS = {"Deze cliënt hoort niet bij jou.", "Die knop hoort bij een eerdere vraag."}
HUGE = "99999999999999999999"


@dataclass
class World:
    ids: dict[str, int]


async def build(h: Harness) -> World:
    """Two organisations. Fatima: admin + begeleider without clients. Bram: begeleider of
    Sam and Noor, and naaste of Lies. Anja: naaste of Sam and of Noor. Els: begeleider of
    Lies. Ot: admin of the other organisation, with client Kim."""
    ids: dict[str, int] = {}
    async with h.store.unit() as unit:
        org = await unit.default_organisation()
        other = Organisation(name="Elders")
        unit.session.add(other)
        await unit.session.flush()
        people = {}
        for number, name in enumerate(["fatima", "bram", "anja", "els", "ot", "sam", "noor",
                                       "lies", "kim"], 1):
            people[name] = Person(telegram_user_id=7000 + number, chat_id=7000 + number,
                                  name=name.title())
        unit.session.add_all(people.values())
        await unit.session.flush()
        staff = {
            "fatima_admin": Admin(organisation_id=org.id, person_id=people["fatima"].id,
                                  name="Fatima"),
            "ot_admin": Admin(organisation_id=other.id, person_id=people["ot"].id, name="Ot"),
            "fatima_b": Begeleider(organisation_id=org.id, person_id=people["fatima"].id,
                                   name="Fatima"),
            "bram_b": Begeleider(organisation_id=org.id, person_id=people["bram"].id,
                                 name="Bram"),
            "els_b": Begeleider(organisation_id=org.id, person_id=people["els"].id, name="Els"),
        }
        unit.session.add_all(staff.values())
        await unit.session.flush()
        clients = {
            "sam": Client(organisation_id=org.id, person_id=people["sam"].id, name="Sam",
                          begeleider_id=staff["bram_b"].id),
            "noor": Client(organisation_id=org.id, person_id=people["noor"].id, name="Noor",
                           begeleider_id=staff["bram_b"].id),
            "lies": Client(organisation_id=org.id, person_id=people["lies"].id, name="Lies",
                           begeleider_id=staff["els_b"].id),
            "kim": Client(organisation_id=other.id, person_id=people["kim"].id, name="Kim"),
        }
        unit.session.add_all(clients.values())
        await unit.session.flush()
        naasten = {
            "anja_sam": Naaste(client_id=clients["sam"].id, person_id=people["anja"].id,
                               name="Anja", relation="ouder"),
            "anja_noor": Naaste(client_id=clients["noor"].id, person_id=people["anja"].id,
                                name="Anja", relation="broer_zus"),
            "bram_lies": Naaste(client_id=clients["lies"].id, person_id=people["bram"].id,
                                name="Bram", relation="vriend"),
            "piet_lies": Naaste(client_id=clients["lies"].id, name="Piet", relation="mentor"),
        }
        unit.session.add_all(naasten.values())
        await unit.session.flush()
        lies_voice = Answer(client_id=clients["lies"].id, step="agenda", item=1, kind="voice",
                            text="", file_id="lies-voice", duration=4)
        sam_voice = Answer(client_id=clients["sam"].id, step="agenda", item=1, kind="voice",
                           text="", file_id="sam-voice", duration=3)
        lies_item = AgendaItem(client_id=clients["lies"].id, owner_role="naaste",
                               owner_person_id=people["bram"].id, kind="topic",
                               text="Bram over Lies", position=1)
        sam_item = AgendaItem(client_id=clients["sam"].id, owner_role="naaste",
                              owner_person_id=people["anja"].id, kind="topic",
                              text="Anja over Sam", position=1)
        unit.session.add_all([lies_voice, sam_voice, lies_item, sam_item])
        await unit.session.flush()
        ids.update({f"p_{name}": row.id for name, row in people.items()})
        for group in (staff, clients, naasten):
            ids.update({name: row.id for name, row in group.items()})
        ids.update(lies_voice=lies_voice.id, sam_voice=sam_voice.id, lies_item=lies_item.id,
                   sam_item=sam_item.id)
    return World(ids)


async def snapshot(h: Harness) -> dict[str, Any]:
    """Everything a press could change (not the logs)."""
    async with h.store.unit() as unit:
        state: dict[str, Any] = {}
        for model in (Answer, AgendaItem, Naaste, Invite, Meeting, Share, Client, Person):
            rows = (await unit.session.execute(select(model).order_by(model.id))).scalars()
            columns = [a.key for a in inspect(model).column_attrs  # attribute names
                       if a.key not in {"updated_at", "reply_pending"}]
            state[model.__tablename__] = [{key: getattr(r, key) for key in columns}
                                          for r in rows]
        sessions = (await unit.session.execute(select(DialogSession).order_by(
            DialogSession.id))).scalars()
        state["sessions"] = [(s.person_id, s.flow, s.step, s.status, s.seq, s.data)
                             for s in sessions]
        return state


async def denials(h: Harness, person_id: int) -> int:
    async with h.store.unit() as unit:
        return int(await unit.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.viewer_person_id == person_id, AuditLog.allowed.is_(False))) or 0)


async def seq_of(user: UserHandle) -> tuple[int, str]:
    """The newest message with buttons, and the seq its buttons carry."""
    message = [m for m in user.messages if m.buttons and not m.deleted][-1]
    data = next(d for row in message.buttons for _, d in row if d and ":rol:" not in d)
    return message.message_id, str(data).split(":")[0]


async def as_role(h: Harness, user: UserHandle, role: str) -> None:
    """Switch to `role` ("begeleider:3") through the role menu."""
    await h.act(user, user.send_command("/rol"))
    menu = [m for m in user.messages if m.buttons][-1]
    label = next(text for row in menu.buttons for text, data in row
                 if str(data).endswith(f":rol:{role}"))
    await h.act(user, user.press(menu, label))


async def forge(h: Harness, user: UserHandle, person_id: int, datas: list[str]) -> None:
    """Press each forged button: refused, nothing changes, one more denial in the log."""
    for data in datas:
        before, logged = await snapshot(h), await denials(h, person_id)
        message_id, _seq = await seq_of(user)
        seen = len(user.messages)
        update_id = await user.press_data(message_id, data)
        await h.handled(update_id)
        out = user.messages[seen:]
        assert [m.text for m in out] and {m.text for m in out} <= REFUSALS, (data, texts(out))
        assert await snapshot(h) == before, data
        assert await denials(h, person_id) > logged, f"no denial logged for {data}"
        assert await user.wait_for_callback_answer(update_id)


async def test_forged_ids_in_every_flow_for_people_with_several_roles(h: Harness) -> None:
    w = (await build(h)).ids
    fatima = h.server.user(7001, first_name="Fatima")
    bram = h.server.user(7002, first_name="Bram")
    anja = h.server.user(7003, first_name="Anja")
    ot = h.server.user(7005, first_name="Ot")
    sam = h.server.user(7006, first_name="Sam")
    bad = [str(w["lies"]), str(w["kim"]), "999999", HUGE, "-1", "x"]

    # Fatima as begeleider (no clients): another begeleider's client, others, garbage.
    await as_role(h, fatima, f"begeleider:{w['fatima_b']}")
    _, seq = await seq_of(fatima)
    await forge(h, fatima, w["p_fatima"], [f"{seq}:op:{ref}" for ref in bad])
    # … and the id-less buttons after it reach no client: /agenda asks to choose one.
    out = await h.act(fatima, fatima.send_command("/agenda"))
    assert "Kies eerst een cliënt." in texts(out) and "Lies" not in texts(out)
    # Fatima as admin: a client of another organisation, nothing, garbage.
    await as_role(h, fatima, f"admin:{w['fatima_admin']}")
    await h.tap(fatima, "🔀 Cliënt verplaatsen")
    _, seq = await seq_of(fatima)
    await forge(h, fatima, w["p_fatima"], [f"{seq}:ch:{ref}" for ref in
                                           (str(w["kim"]), "999999", HUGE)])
    # Ot, admin elsewhere: the access log of a client of our organisation.
    await h.act(ot, ot.send_command("/start"))
    await h.tap(ot, "📜 Toegangslog")
    _, seq = await seq_of(ot)
    await forge(h, ot, w["p_ot"], [f"{seq}:ch:{w['sam']}"])

    # Bram as begeleider: Lies is Els's client (Bram is only her naaste).
    await as_role(h, bram, f"begeleider:{w['bram_b']}")
    _, seq = await seq_of(bram)
    await forge(h, bram, w["p_bram"], [f"{seq}:op:{w['lies']}", f"{seq}:op:{HUGE}"])
    await h.tap(bram, "Sam")
    _, seq = await seq_of(bram)
    await forge(h, bram, w["p_bram"], [f"{seq}:pa:{w['lies_voice']}", f"{seq}:pa:{HUGE}"])
    # Bram as Lies's naaste: Anja's item about Sam; as begeleider he may see Sam, not here.
    await as_role(h, bram, f"naaste:{w['bram_lies']}")
    _, seq = await seq_of(bram)
    await forge(h, bram, w["p_bram"], [f"{seq}:ed:{w['sam_item']}",
                                       f"{seq}:rm:{w['sam_item']}", f"{seq}:rm:{HUGE}"])

    # Anja, naaste of Sam and Noor: as Noor's naaste, her own item about Sam is not here.
    await as_role(h, anja, f"naaste:{w['anja_noor']}")
    _, seq = await seq_of(anja)
    await forge(h, anja, w["p_anja"], [f"{seq}:ed:{w['sam_item']}",
                                       f"{seq}:rm:{w['lies_item']}"])

    # Roles one does not have, for everyone.
    for user, person in ((fatima, "p_fatima"), (bram, "p_bram"), (anja, "p_anja")):
        await forge(h, user, w[person], [
            f"1:rol:client:{w['sam']}", f"1:rol:naaste:{w['piet_lies']}",
            f"1:rol:begeleider:{w['els_b']}", f"1:rol:admin:{w['ot_admin']}",
            f"1:rol:client:{HUGE}"])

    # Sam, the client: Lies's naaste on the sharing screen, Lies's voice answer.
    await h.act(sam, sam.send_command("/delen"))
    _, seq = await seq_of(sam)
    await forge(h, sam, w["p_sam"], [f"{seq}:pk:{w['piet_lies']}", f"{seq}:pk:{HUGE}",
                                     f"{seq}:pl:{w['lies_voice']}", f"{seq}:pl:{HUGE}"])

    assert await h.rows(Inbox, Inbox.state == "failed") == []


async def test_denied_open_leaves_no_current_client_behind(h: Harness) -> None:
    """The escalation path of issue 12: forged `op`, then ordinary buttons and commands."""
    w = (await build(h)).ids
    fatima = h.server.user(7001, first_name="Fatima")
    await as_role(h, fatima, f"begeleider:{w['fatima_b']}")
    message_id, seq = await seq_of(fatima)
    await h.act(fatima, fatima.press_data(message_id, f"{seq}:op:{w['lies']}"))
    before = await snapshot(h)
    for command in ("/agenda", "/clienten", "/nieuwe_client"):
        out = await h.act(fatima, fatima.send_command(command))
        assert "Lies" not in texts(out)
    after = await snapshot(h)
    assert after["naaste"] == before["naaste"] and after["meeting"] == before["meeting"]
    assert await h.rows(AgendaItem, AgendaItem.client_id == w["lies"],
                        AgendaItem.owner_role == "begeleider") == []
    fatima_sessions = [s for s in after["sessions"] if s[0] == w["p_fatima"]]
    assert all("client" not in (data or {}) for *_, data in fatima_sessions)


def test_the_button_codec_round_trips_and_refuses_malformed_data() -> None:
    from bot.dialogs.buttons import Pressed, decode, encode

    assert decode(encode(7, "pk", 42)) == Pressed(7, "pk", "42")
    assert decode(encode(0, "nx")) == Pressed(0, "nx", "")
    assert decode("3:st:speech.off") == Pressed(3, "st", "speech.off")
    for bad in ["", "nx", "x:nx", "-1:nx", "1:" + "é" * 40, ":nx"]:
        assert decode(bad) is None, bad
