"""The admin's turn: the organisation's begeleiders (invite), its clients (move to another
begeleider), and a client's access log as CSV. An admin sees progress, never answers — only
for the AVG everything of one client (inzage), or erases a client; each in the access log."""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from bot.dialogs import admin as admin_dialog
from bot.dialogs.admin import (
    EraseClient,
    Inzage,
    MoveClient,
    NewBegeleider,
    QuietHours,
    ReadbackOffline,
)
from bot.dialogs.buttons import pressed
from bot.dialogs.effects import AuditCsv
from bot.dialogs.types import Input
from bot.service import access, agendas, inzage, sessions
from bot.service.types import Context, TurnResult, refused
from bot.state.erasure import erase_client
from bot.state.models import Admin, Begeleider, Client, Organisation
from bot.state.unit import PersonRow, Unit

FLOW = "admin"
# The buttons that name a client, and the part a forged one is denied as.
_FORGED_PART: dict[str, str] = {admin_dialog.Action.CHOOSE: "progress",
                                admin_dialog.Action.CONFIRM: "erase"}


async def turn(unit: Unit, ctx: Context, person: PersonRow, admin_id: int, inp: Input,
               update_id: int = 0) -> TurnResult:
    admin = await unit.get(Admin, admin_id)
    assert admin is not None
    now = ctx.now()
    row, session = await sessions.load(unit, person.id, FLOW, None, "home")
    view = await _view(unit, admin)
    out = admin_dialog.decide(session, inp, view)
    press = pressed(inp, admin_dialog.Action)
    if out.stale and press and await _forged(unit, person, admin, session.step, press.action,
                                             press.arg, session.data.get("client")):
        return TurnResult(refused())  # someone of another organisation, or nobody at all
    for effect in out.effects:
        await _admin_effect(unit, ctx, person, admin, effect, view, now)
    if out.ask:
        session.seq += 1
    results, documents, sent = view.results, view.documents, view.sent
    view = await _view(unit, admin)
    view.results, view.documents, view.sent = results, documents, sent
    replies = admin_dialog.render(session, out, view)
    await sessions.save(unit, row, session, bool(replies))
    return TurnResult(replies, session.step)


async def _forged(unit: Unit, person: PersonRow, admin: Admin, step: str, action: str,
                  ref: object, on_screen: object) -> bool:
    """A refused press whose id names someone not of this admin's organisation: a client
    (to choose, or to confirm erasing), or a begeleider to move the client on screen to.
    The denial is in the access log; True: answer "not yours"."""
    acting = access.Acting("admin", admin.id)
    if action == admin_dialog.Action.CHOOSE and step == "pick_begeleider":
        client_id = access.as_id(on_screen)
        return client_id is not None and not await access.may_move(unit, person.id, client_id,
                                                                   ref, acting)
    part = _FORGED_PART.get(action)
    # An id of nobody (an erased client, garbage) is logged too, and answered as an old
    # button; only a client elsewhere is "not yours".
    return part is not None and bool(await access.refuse_forged(unit, person.id, Client, ref,
                                                                part, acting))


async def _view(unit: Unit, admin: Admin) -> admin_dialog.View:
    organisation = await unit.get(Organisation, admin.organisation_id)
    clients, begeleiders = await unit.people_of(admin.organisation_id)
    quiet = (f"{organisation.quiet_start}-{organisation.quiet_end}" if organisation
             and organisation.quiet_start and organisation.quiet_end else admin_dialog.DEFAULT)
    return admin_dialog.View(organisation.name if organisation else "",
                             bool(organisation and organisation.readback_offline), quiet,
                             clients, begeleiders)


async def _admin_effect(unit: Unit, ctx: Context, person: PersonRow, admin: Admin,
                        effect: admin_dialog.Effect, view: admin_dialog.View,
                        now: datetime) -> None:
    match effect:
        case NewBegeleider(name=name) if name:
            begeleider = await unit.add(Begeleider(organisation_id=admin.organisation_id,
                                                   name=name))
            token = await unit.create_invite("begeleider", admin.organisation_id,
                                             ctx.invite_days, now, person.id,
                                             begeleider_id=begeleider.id)
            view.results["begeleider_link"] = (begeleider.name, ctx.link(token),
                                               str(ctx.invite_days))
        case AuditCsv(client_id=client_id):
            client = await unit.get(Client, client_id)
            if client is not None and await access.can(unit, person.id, client.id, "progress",
                                                       access.Acting("admin", admin.id)):
                view.documents.append(await agendas.audit_csv(unit, client.id))
        case MoveClient(client_id=client_id, begeleider_id=begeleider_id):
            if not await access.may_move(unit, person.id, client_id, begeleider_id,
                                         access.Acting("admin", admin.id)):
                return  # the client or the begeleider is not of this organisation
            client = await unit.get(Client, client_id)
            target = await unit.get(Begeleider, begeleider_id)
            assert client is not None and target is not None
            client.begeleider_id = target.id
            view.results["moved"] = (client.name, target.name)
        case Inzage(client_id=client_id):
            view.sent += await inzage.for_client(unit, ctx, person.id, client_id,
                                                 access.Acting("admin", admin.id))
        case EraseClient(client_id=client_id):
            client = await unit.get(Client, client_id)
            acting = access.Acting("admin", admin.id)
            if client is None or not await access.can(unit, person.id, client_id, "erase",
                                                      acting):
                return
            name = client.name
            await erase_client(unit, client_id)
            # Who erased whom and when, without any content (the client row is gone: the
            # id is in the part's name).
            unit.audit(person.id, None, f"erased:{client_id}", True, now)
            view.results["erased"] = (name,)
        case ReadbackOffline(offline=offline):
            organisation = await unit.get(Organisation, admin.organisation_id)
            if organisation is not None:
                organisation.readback_offline = offline
                view.results["readback"] = ("offline" if offline else "google",)
        case QuietHours(hours=hours):
            organisation = await unit.get(Organisation, admin.organisation_id)
            if organisation is not None:
                start, _, end = ("" if hours == admin_dialog.DEFAULT else hours).partition("-")
                organisation.quiet_start, organisation.quiet_end = start or None, end or None
                view.quiet = hours
                view.results["quiet"] = (hours,)
                # The plans follow: a due message is re-planned and checked against these
                # hours just before it goes (bot/schedule/send.py), the rest within the hour.
        case NewBegeleider():
            pass  # no name: nothing to add
        case _:
            assert_never(effect)
