"""The compiled agenda as plain, typed data: what every output (Telegram, PDF, speech, JSON,
FHIR) is rendered from. No database, no Telegram, no I/O here.

An `Agenda` is made for one viewer: it holds only the parts that viewer may see, so a
renderer can never leak a part by mistake.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.dialogs.client_prep import SHARE_PARTS
from bot.dialogs.flow import EXTRA
from bot.dialogs.texts import all_texts, dutch_date, t

# Every part a viewer can be allowed to see (the access module speaks these names).
# The questions of the preparation, in the order they are asked (the client flow owns
# them)…
PROFILE_PARTS: tuple[str, ...] = tuple(p for p in SHARE_PARTS
                                       if p not in {"meeting", "voice", EXTRA, "agreements"})
# …and "Ook gezegd" (EXTRA): what the client sent when no question was open (at the
# welcome, at the sharing step, after /stop). Shown after the questions.
CLIENT_PARTS: tuple[str, ...] = (*PROFILE_PARTS, EXTRA)
PARTS: tuple[str, ...] = (*CLIENT_PARTS, "meeting", "naasten", "begeleider", "voice",
                          "agreements")
MEETING_STEPS: tuple[str, ...] = ("meeting_where", "meeting_who", "meeting_chair",
                                  "meeting_how")
# Steps answered with buttons (kind "choice"); the client can also type or speak there.
CHOICE_STEPS: tuple[str, ...] = ("meeting_chair", "meeting_how")
# Recordings of the person: only with the "voice" part. Photos follow their own part.
VOICE_KINDS = frozenset({"voice", "audio", "video", "video_note"})
# What the begeleider can play back from the agenda (a "▶️" button per answer part).
PLAYABLE_KINDS = VOICE_KINDS | {"photo"}
CONTRIBUTION_KINDS: tuple[str, ...] = ("topic", "question", "appreciation")
DEFAULT_TZ = "Europe/Amsterdam"

# Picto keys for the sections that are not a client step (keys of pictos/default.yaml).
SECTION_PICTOS = {"meeting": "meeting_date", "naasten": "naaste", "begeleider": "begeleider",
                  "skipped": "skip", EXTRA: "agenda_more", "agreements": "agreements"}


def label(key: str, **values: object) -> str:
    """A heading or small word of the outputs (`label_<key>` in nl.yaml)."""
    return t(f"label_{key}", **values)


@dataclass(frozen=True)
class Author:
    """Who said or typed something. `relation` only for naasten (e.g. "moeder")."""

    role: str  # "client", "begeleider", "naaste" or "person"
    name: str
    relation: str = ""  # as stored: a key of begeleider.RELATIONS ("broer_zus") or words

    @property
    def relation_label(self) -> str:
        """The relation in Dutch ("Broer of zus"); words that are no key stay as they are."""
        return relation_label(self.relation)

    def display(self) -> str:
        """"Anouk (broer of zus)": what a person reads, never the stored key."""
        relation = self.relation_label
        if relation and relation != self.relation:
            relation = relation.lower()
        return f"{self.name} ({relation})" if relation else self.name


def relation_label(relation: str) -> str:
    key = f"relation_{relation}"
    return t(key) if relation and key in all_texts() else relation


@dataclass(frozen=True)
class Media:
    """A recording or picture kept by Telegram. `size`/`sha1` only when someone looked."""

    kind: str  # voice, audio, photo, video, video_note
    file_id: str
    file_unique_id: str
    duration: float | None = None
    size: int | None = None
    sha1_b64: str | None = None  # base64 SHA-1 of the bytes, as FHIR Attachment.hash wants
    answer_id: int | None = None  # the answer row it came from (to play it back)
    transcript: str | None = None  # a recording written out, confirmed by who said it

    def length(self) -> str:
        """"0:42", or "" when the length is unknown."""
        if not self.duration:
            return ""
        seconds = int(round(self.duration))
        return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True)
class Item:
    """One answer item: a topic, or one message of an open answer, in the client's words.

    An item that Telegram split into several messages is joined back into one `text`.
    """

    number: int
    text: str
    kind: str  # text, choice, voice, photo, video… (the first non-text kind wins)
    author: Author
    created_at: datetime
    changed_at: datetime | None = None
    media: tuple[Media, ...] = ()
    tag: str | None = None  # life-domain key (agenda), option key (choices), mat picture

    @property
    def domain(self) -> str | None:
        """The life domain an agenda topic was said under ("domain_housing"; a picture
        placed for a domain carries it in front: "domain_housing/mat_room.fine")."""
        if not self.tag or not self.tag.startswith("domain_"):
            return None
        return self.tag.partition("/")[0]

    @property
    def duration(self) -> float | None:
        return next((m.duration for m in self.media if m.duration), None)


@dataclass(frozen=True)
class Part:
    key: str
    title_key: str
    picto_key: str
    items: tuple[Item, ...]

    @property
    def title(self) -> str:
        return t(self.title_key)


@dataclass(frozen=True)
class MeetingInfo:
    starts_at: datetime | None
    place: str  # set by the begeleider; the client's wish is in `where`
    where: tuple[Item, ...] = ()
    who: tuple[Item, ...] = ()
    chair: str | None = None  # option key, e.g. "choice_chair_yes"
    how: tuple[str, ...] = ()  # option keys, e.g. ("how_break",)
    # What the client typed, said or showed at those questions, next to the buttons.
    chair_said: tuple[Item, ...] = ()
    how_said: tuple[Item, ...] = ()

    def items(self) -> tuple[Item, ...]:
        """Every item in the order the outputs show them: where, who, chair, how."""
        return (*self.where, *self.who, *self.chair_said, *self.how_said)


@dataclass(frozen=True)
class Contribution:
    """A topic, question or appreciation added by a naaste or the begeleider."""

    kind: str  # topic, question, appreciation
    text: str
    author: Author
    created_at: datetime
    position: int = 0


class Playable(NamedTuple):
    """One answer part the begeleider can play back: a "▶️" button under the agenda."""

    answer_id: int  # Answer.id: the bot sends that row's file_id again
    kind: str  # voice, audio, video, video_note or photo
    label: str  # "Sam, spraakbericht 0:04", "Sam, foto"


@dataclass(frozen=True)
class SinceLast:
    """An agreement of an earlier round and how it went (the moods of its check-ins)."""

    text: str
    who: str  # client, begeleider, samen, anders
    moods: tuple[str, ...] = ()  # good, ok, bad; oldest first


def since_who(agreement: SinceLast, viewer_role: str, client_name: str) -> str:
    """Who does it, from the reader's side ("dat doe jij" for the client)."""
    side = "client_" if viewer_role == "client" else "naaste_"
    return t(f"agreements_who_{side}{agreement.who}", client=client_name)


def since_moods(agreement: SinceLast) -> str:
    """How the check-ins went, in words (for the PDFs): "goed, gaat wel"."""
    return ", ".join(label(f"mood_{m}") for m in agreement.moods)


@dataclass(frozen=True)
class Agenda:
    client_id: int
    client_name: str
    viewer_role: str
    generated_at: datetime
    visible: frozenset[str]  # the parts this viewer may see
    parts: tuple[Part, ...] = ()  # client parts, in CLIENT_PARTS order, only visible ones
    meeting: MeetingInfo | None = None  # None: the viewer may not see the meeting part
    naasten: tuple[Contribution, ...] = ()
    begeleider: tuple[Contribution, ...] = ()
    skipped: tuple[str, ...] = ()  # step keys the client skipped, only of visible parts
    tz_name: str = DEFAULT_TZ
    round: int = 1  # the client's round (each meeting has its own)
    since_last: tuple[SinceLast, ...] = ()  # "Sinds de vorige keer": from round 2 on

    def part(self, key: str) -> Part | None:
        return next((p for p in self.parts if p.key == key), None)

    def title(self, key: str) -> str:
        """A part's heading as this viewer reads it: the client "Waar ik goed in ben",
        anyone else "Waar Sam goed in is" (a `title3_` text, where the part has one)."""
        third = f"title3_{key}"
        if self.viewer_role != "client" and third in all_texts():
            return t(third, client=self.client_name)
        return t(f"title_{key}")

    def item_count(self) -> int:
        return sum(len(p.items) for p in self.parts) + len(self.naasten) + len(
            self.begeleider)

    def playable(self) -> list[Playable]:
        """Every recording and photo in the agenda, in the order the outputs show them."""
        items = [*(self.meeting.items() if self.meeting else ()),
                 *(i for p in self.parts for i in p.items)]
        return [Playable(m.answer_id, m.kind, label(
                    "playable", name=i.author.name or self.client_name, media=media_label(m)))
                for i in items for m in i.media
                if m.kind in PLAYABLE_KINDS and m.answer_id is not None]


def part_of_step(step: str) -> str | None:
    """The access part a dialog step belongs to (None: not part of the agenda)."""
    if step in CLIENT_PARTS:
        return step
    if step in MEETING_STEPS:
        return "meeting"
    return None


def format_date(moment: datetime, tz_name: str = DEFAULT_TZ, with_time: bool = True) -> str:
    """"dinsdag 8 december om 14:00" in the zone named `tz_name`."""
    return dutch_date(moment, ZoneInfo(tz_name), with_time)


def short_date(moment: datetime, tz_name: str = DEFAULT_TZ) -> str:
    """"8-12-2025": compact, for the begeleider's "date of each answer"."""
    local = moment.astimezone(ZoneInfo(tz_name))
    return f"{local.day}-{local.month}-{local.year}"


def heard_label(media: Media, who: str) -> str:
    """A confirmed transcript beside its recording: "‘…’ (uitgeschreven, door Sam
    bevestigd)"; "" when there is none."""
    return t("heard_agenda", words=media.transcript, name=who) if media.transcript else ""


def media_label(media: Media) -> str:
    word = t(f"media_{media.kind}") if media.kind in {
        "voice", "photo", "video", "video_note", "audio"} else media.kind
    length = media.length()
    return f"{word} {length}".strip()


_SPACES = re.compile(r"[ \t]+")


def plain(text: str) -> str:
    """Text for speech: no control characters, no emoji (a voice cannot say them well)."""
    kept = [c for c in text if unicodedata.category(c) not in {"So", "Cc", "Cf", "Cs", "Co"}
            or c == "\n"]
    return _SPACES.sub(" ", "".join(kept)).strip()
