"""The admin's turn: the organisation's begeleiders (invite), its clients (move to another
begeleider), and a client's access log as CSV. An admin sees progress, never answers — only
for the AVG everything of one client (inzage), or erases a client; each in the access log."""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from bot.dialogs import admin as admin_dialog
from bot.dialogs.admin import EraseClient, Inzage, MoveClient, NewBegeleider, ReadbackOffline
from bot.dialogs.buttons import pressed
from bot.dialogs.effects import AuditCsv
from bot.dialogs.types import Input
from bot.service import access, agendas, inzage, sessions
from bot.service.types import Context, TurnResult, refused
from bot.state.erasure import erase_client
from bot.state.models import Admin, Begeleider, Client, Organisation
from bot.state.unit import PersonRow, Unit

FLOW = "admin"


async def turn(unit: Unit, ctx: Context, person: PersonRow, admin_id: int, inp: Input,
               update_id: int = 0) -> TurnResult:
    admin = await unit.get(Admin, admin_id)
    assert admin is not None
    now = ctx.now()
    row, session = await sessions.load(unit, person.id, FLOW, None, "home")
    view = await _view(unit, admin)
    out = admin_dialog.decide(session, inp, view)
    press = pressed(inp, admin_dialog.Action)
    if out.stale and press and press.action == admin_dialog.Action.CHOOSE \
            and session.step != "pick_begeleider" \
            and await access.refuse_forged(unit, person.id, Client, press.arg, "progress",
                                           access.Acting("admin", admin.id)) is not None:
        return TurnResult(refused())  # a client of another organisation, or none at all
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


async def _view(unit: Unit, admin: Admin) -> admin_dialog.View:
    organisation = await unit.get(Organisation, admin.organisation_id)
    clients, begeleiders = await unit.people_of(admin.organisation_id)
    return admin_dialog.View(organisation.name if organisation else "",
                             bool(organisation and organisation.readback_offline),
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
            client = await unit.get(Client, client_id)
            target = await unit.get(Begeleider, begeleider_id)
            if (client is None or target is None
                    or client.organisation_id != admin.organisation_id
                    or target.organisation_id != admin.organisation_id):
                return
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
        case NewBegeleider():
            pass  # no name: nothing to add
        case _:
            assert_never(effect)
