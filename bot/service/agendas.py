"""A client's agenda for one viewer, and the documents made from it (PDFs, JSON, FHIR, the
access log as CSV): every read through `access`, the SQL of compiling in bot/agenda."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
from datetime import datetime
from html import escape
from typing import Any

from bot.agenda.compile import compile_agenda
from bot.agenda.model import PARTS
from bot.agenda.telegram_text import spoken_text, telegram_messages
from bot.dialogs.agreements import PICTO, AgreementLine, who_title
from bot.dialogs.texts import t
from bot.dialogs.types import Document, Reply
from bot.service import access
from bot.service.types import Context
from bot.state.crypto import read_kept
from bot.state.models import Client
from bot.state.unit import PersonRow, Unit


async def compiled(unit: Unit, viewer_id: int, client_id: int, role: str, now: datetime,
                  ctx: Context, with_files: bool = False,
                  acting: access.Acting | None = None) -> Any:
    parts = await access.read(unit, viewer_id, client_id, access.ALL_PARTS, now, acting)
    agenda_parts = parts & set(PARTS)
    lookup = _kept_file(unit) if with_files else None
    return await compile_agenda(unit, client_id, agenda_parts, role, now,
                                tz_name=str(ctx.tz), media_lookup=lookup)


def _kept_file(unit: Unit) -> Any:
    """Size and SHA-1 (base64, as FHIR's Attachment.hash wants) of a kept answer file."""
    async def lookup(media: Any) -> tuple[int, str] | None:
        path = await unit.kept_file_path(media.file_id)
        if not path:
            return None
        data = await asyncio.to_thread(read_kept, path)
        return len(data), base64.b64encode(hashlib.sha1(data).digest()).decode()
    return lookup


def emoji(ctx: Context) -> Any:
    pictos = ctx.pictos
    if pictos is None:
        return None
    return lambda key: pictos.emoji(key) if pictos.has(key) else ""


async def exports(unit: Unit, viewer_id: int, client_id: int, now: datetime,
                   ctx: Context, acting: access.Acting | None = None) -> list[Document]:
    # Imported here: the PDF and FHIR libraries are large and most updates never need them.
    from bot.agenda import export_json, fhir, pdf

    agenda = await compiled(unit, viewer_id, client_id, "begeleider", now, ctx, with_files=True,
                           acting=acting)
    stamp = now.astimezone(ctx.tz).strftime("%Y-%m-%d")
    documents = [Document(f"gesprek-{stamp}-begeleider.json", export_json.to_json(
        agenda).encode())]
    pictos = ctx.pictos
    if pictos is not None:  # made after the commit, in a worker thread
        documents = [
            Document(f"gesprek-{stamp}-begeleider.pdf",
                     make=lambda: pdf.begeleider_pdf(agenda, pictos)),
            Document(f"gesprek-{stamp}-client.pdf", make=lambda: pdf.client_pdf(agenda, pictos)),
            *documents,
            Document(f"gesprek-{stamp}-fhir.json", make=lambda: fhir.bundle(
                agenda, pictos.card).model_dump_json(indent=2).encode()),
        ]
    return documents


async def begeleider_agenda(unit: Unit, ctx: Context, person: PersonRow, client: Client,
                            date: str) -> list[Reply]:
    """Two days before the meeting: the agenda and both PDFs, unasked."""
    now = ctx.now()
    agenda = await compiled(unit, person.id, client.id, "begeleider", now, ctx)
    replies = [Reply(t("begeleider_agenda_intro", client=escape(client.name), date=date))]
    replies += [Reply(m) for m in telegram_messages(agenda, emoji(ctx))]
    documents = await exports(unit, person.id, client.id, now, ctx)
    replies += [Reply(escape(d.filename), document=d) for d in documents
                if d.filename.endswith(".pdf")]
    return replies


async def client_copy(unit: Unit, ctx: Context, person: PersonRow,
                      client: Client) -> list[Reply]:
    """`/mijnlijst`: the client's own agenda as messages, read aloud, and the easy-read PDF."""
    now = ctx.now()
    agenda = await compiled(unit, person.id, client.id, "client", now, ctx,
                           acting=access.Acting("client", client.id))
    replies = [Reply(message) for message in telegram_messages(agenda, emoji(ctx))]
    if replies:
        replies[0] = Reply(replies[0].text, speak=spoken_text(agenda), readback=True)
    pictos = ctx.pictos
    if pictos is not None:
        from bot.agenda import pdf

        stamp = now.astimezone(ctx.tz).strftime("%Y-%m-%d")
        replies.append(Reply(t("my_list_pdf"), document=Document(
            f"mijn-gesprek-{stamp}.pdf", make=lambda: pdf.client_pdf(agenda, pictos))))
    return replies


def agreements_document(ctx: Context, lines: list[AgreementLine]) -> list[Reply]:
    """The agreements as an easy-read PDF for the client (none without pictos)."""
    pictos = ctx.pictos
    if pictos is None or not lines:
        return []
    from bot.agenda import pdf

    rows = [(line.picto or PICTO, who_title(line), line.text) for line in lines]
    stamp = ctx.now().astimezone(ctx.tz).strftime("%Y-%m-%d")
    return [Reply(t("agreements_pdf"), document=Document(
        f"afspraken-{stamp}.pdf",
        make=lambda: pdf.agreements_pdf(t("agreements_intro"), rows, pictos)))]


async def audit_csv(unit: Unit, client_id: int) -> Document:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["at", "viewer_person_id", "viewer", "part", "allowed"])
    names = await unit.person_names()
    for row in await access.audit_rows(unit, client_id):
        writer.writerow([row.at.isoformat(), row.viewer_person_id,
                         names.get(row.viewer_person_id or 0, ""), row.part,
                         "yes" if row.allowed else "no"])
    return Document(f"toegang-client-{client_id}.csv", buffer.getvalue().encode())


async def add_agenda_item(unit: Unit, client_id: int, role: str, person_id: int, kind: str,
                          text: str) -> None:
    await unit.add_agenda_item(client_id, role, person_id, kind, text)
