"""The agenda as JSON, following `agenda.schema.json` (versioned; see SCHEMA_VERSION).

Change the schema's version with every change of this output: 1.x adds optional fields
only; a new major version may rename or remove.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from bot.agenda.model import Agenda, Author, Contribution, Item, Media
from bot.dialogs import picto_mat
from bot.dialogs.texts import t

SCHEMA_PATH = Path(__file__).with_name("agenda.schema.json")
SCHEMA_VERSION = "1.5.0"

Json = dict[str, Any]


def to_dict(agenda: Agenda) -> Json:
    doc: Json = {
        "schema_version": SCHEMA_VERSION,
        "client": {"id": agenda.client_id, "name": agenda.client_name},
        "viewer_role": agenda.viewer_role,
        "generated_at": _time(agenda.generated_at),
        "time_zone": agenda.tz_name,
        "visible_parts": sorted(agenda.visible),
        "parts": [{"key": p.key, "title": agenda.title(p.key), "picto": p.picto_key,
                   "items": [_item(i) for i in p.items]} for p in agenda.parts],
        "skipped": [{"step": s, "title": agenda.title(s)} for s in agenda.skipped],
    }
    meeting = agenda.meeting
    if meeting is not None:
        doc["meeting"] = {
            "starts_at": _time(meeting.starts_at) if meeting.starts_at else None,
            "place": meeting.place,
            "where": [_item(i) for i in meeting.where],
            "who": [_item(i) for i in meeting.who],
            "chair": _option(meeting.chair) if meeting.chair else None,
            "chair_said": [_item(i) for i in meeting.chair_said],
            "how": [_option(h) for h in meeting.how],
            "how_said": [_item(i) for i in meeting.how_said],
        }
    if "naasten" in agenda.visible:
        doc["naasten"] = [_contribution(c) for c in agenda.naasten]
    if "begeleider" in agenda.visible:
        doc["begeleider"] = [_contribution(c) for c in agenda.begeleider]
    doc["round"] = agenda.round
    if "agreements" in agenda.visible:
        doc["since_last"] = [{"text": a.text, "who": a.who, "moods": list(a.moods)}
                             for a in agenda.since_last]
    return doc


def to_json(agenda: Agenda, indent: int | None = 2) -> str:
    return json.dumps(to_dict(agenda), ensure_ascii=False, indent=indent)


@cache
def schema() -> Json:
    loaded: Json = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def validate(doc: Json) -> None:
    """Raise jsonschema.ValidationError when `doc` does not follow the schema."""
    import jsonschema  # a dev/test dependency; the bot itself does not validate

    jsonschema.Draft202012Validator(schema()).validate(doc)


def _time(moment: datetime) -> str:
    return moment.isoformat()


def _option(key: str) -> Json:
    return {"key": key, "label": t(key)}


def _author(author: Author) -> Json:
    return {"role": author.role, "name": author.name, "relation": author.relation,
            "relation_label": author.relation_label}


def _media(media: Media) -> Json:
    return {"kind": media.kind, "file_id": media.file_id,
            "file_unique_id": media.file_unique_id, "duration": media.duration,
            "size": media.size, "sha1": media.sha1_b64,
            **({"transcript": media.transcript} if media.transcript else {})}


def _item(item: Item) -> Json:
    out = {
        "number": item.number,
        "text": item.text,
        "kind": item.kind,
        "tag": item.tag,
        "author": _author(item.author),
        "created_at": _time(item.created_at),
        "changed_at": _time(item.changed_at) if item.changed_at else None,
        "media": [_media(m) for m in item.media],
    }
    placed = picto_mat.reading(item.kind, item.tag)
    if placed is not None:
        out["mat"] = {"picture": placed[0], "word": picto_mat.word(placed[0]),
                      "place": placed[1], **({"domain": item.domain} if item.domain else {})}
    return out


def _contribution(entry: Contribution) -> Json:
    return {"kind": entry.kind, "text": entry.text, "author": _author(entry.author),
            "created_at": _time(entry.created_at), "position": entry.position}
