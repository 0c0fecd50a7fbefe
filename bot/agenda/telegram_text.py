"""The agenda as Telegram HTML messages, and as one text to speak.

Every user text goes through `html.escape`. Messages are split at part boundaries; a part
that is too long on its own is split between its lines, and a line that is too long on its
own is split inside the user's text (never inside a tag or an `&…;` escape), so the pieces
joined give the text back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import escape as _escape

from bot.agenda.model import (
    SECTION_PICTOS,
    Agenda,
    Contribution,
    Item,
    Media,
    SinceLast,
    format_date,
    heard_label,
    label,
    media_label,
    part_of_step,
    plain,
    since_who,
)
from bot.dialogs.check_in import mood_mark
from bot.dialogs.texts import t

LIMIT = 4096  # Telegram's limit for one message
Emoji = Callable[[str], str]  # picto key -> emoji, e.g. PictoLibrary.emoji


@dataclass(frozen=True)
class Line:
    """One line of a message: fixed HTML around one user text (escaped when rendered)."""

    before: str = ""
    text: str = ""
    after: str = ""

    def html(self) -> str:
        return self.before + escape(self.text) + self.after


def escape(text: str) -> str:
    """html.escape; quotes need no escaping in Telegram's HTML (only <, > and &)."""
    return _escape(text, quote=False)


Block = list[Line]  # one part: a heading line and its item lines


def size(html: str) -> int:
    """Length as Telegram counts it at worst (UTF-16 code units; emoji count double)."""
    return len(html.encode("utf-16-le")) // 2


def telegram_messages(agenda: Agenda, emoji: Emoji | None = None,
                      limit: int = LIMIT) -> list[str]:
    """The agenda as HTML messages (parse_mode HTML), each at most `limit` long."""
    return pack(blocks(agenda, emoji or (lambda key: "")), limit)


def blocks(agenda: Agenda, emoji: Emoji) -> list[Block]:
    """The header, then one block per part. A naaste reads only what is filled in (and the
    date once, in the greeting); with nothing filled in there are no blocks at all."""
    detailed = agenda.viewer_role != "client"
    naaste = agenda.viewer_role == "naaste"
    out: list[Block] = [_header(agenda)]
    if agenda.meeting is not None:
        meeting = _meeting(agenda, emoji)
        if len(meeting) > 1:
            out.append(meeting)
    for part in agenda.parts:
        if naaste and not part.items:
            continue
        lines = [_item_line(item, detailed) for item in part.items] or [
            Line(f"<i>{label('empty')}</i>")]
        out.append([_heading(emoji(part.picto_key), agenda.title(part.key)), *lines])
    if agenda.since_last:
        out.append([_heading(emoji(SECTION_PICTOS["agreements"]), label("since_last")),
                    *(Line(escape(_since_line(a, agenda))) for a in agenda.since_last)])
    for key, entries in (("naasten", agenda.naasten), ("begeleider", agenda.begeleider)):
        if key in agenda.visible and entries:
            title = label(key if not detailed else f"{key}_b")
            out.append([_heading(emoji(SECTION_PICTOS[key]), title),
                        *(_contribution_line(c) for c in entries)])
    if agenda.skipped:
        title = label("skipped" if not detailed else "skipped_b")
        out.append([_heading(emoji(SECTION_PICTOS["skipped"]), title),
                    *(Line("• " + escape(agenda.title(s))) for s in agenda.skipped)])
    return [] if naaste and len(out) == 1 else out


def _since_line(agreement: SinceLast, agenda: Agenda) -> str:
    """"• Elke week zwemmen (Sam) 🙂 😐": how it went, by check-in."""
    who = since_who(agreement, agenda.viewer_role, agenda.client_name)
    marks = " ".join(mood_mark(m) for m in agreement.moods)
    return f"• {agreement.text} ({who}) {marks}".rstrip()


def _heading(icon: str, title: str) -> Line:
    return Line(f"<b>{escape(f'{icon} {title}'.strip())}</b>")


def _header(agenda: Agenda) -> Block:
    if agenda.viewer_role == "client":
        title = Line(f"<b>{escape(label('client_title'))}</b>")
    else:
        key = "naaste_title" if agenda.viewer_role == "naaste" else "begeleider_title"
        head, _, tail = label(key, name="\0").partition("\0")
        title = Line(f"<b>{escape(head)}", agenda.client_name, f"{escape(tail)}</b>")
        if agenda.viewer_role == "naaste":
            return [title]  # the greeting above it says the date
    meeting = agenda.meeting
    if meeting is not None and meeting.starts_at is not None:
        return [title, Line(escape(format_date(meeting.starts_at, agenda.tz_name)))]
    return [title]


def _meeting(agenda: Agenda, emoji: Emoji) -> Block:
    meeting = agenda.meeting
    assert meeting is not None
    when = format_date(meeting.starts_at, agenda.tz_name) if meeting.starts_at else label(
        "no_date")
    lines = [_heading(emoji(SECTION_PICTOS["meeting"]), label("meeting"))]
    if agenda.viewer_role != "naaste":  # a naaste has the date in the greeting
        lines.append(Line(f"{escape(label('when'))}: {escape(when)}"))
    if meeting.place:
        lines.append(Line(f"{escape(label('place'))}: ", meeting.place))
    lines += [_item_line(i, False) for i in meeting.where]
    if meeting.who:
        lines.append(Line(f"<b>{escape(agenda.title('meeting_who'))}</b>"))
        lines += [_item_line(i, False) for i in meeting.who]
    # The buttons chosen, then what the client typed or said there.
    if meeting.chair or meeting.chair_said:
        chair = t(meeting.chair) if meeting.chair else ""
        lines.append(Line(f"{escape(label('chair'))}: {escape(chair)}".rstrip()))
        lines += [_item_line(i, False) for i in meeting.chair_said]
    if meeting.how or meeting.how_said:
        how = ", ".join(t(h) for h in meeting.how)
        lines.append(Line(f"{escape(label('how'))}: {escape(how)}".rstrip()))
        lines += [_item_line(i, False) for i in meeting.how_said]
    return lines


def _media_note(item: Item) -> str:
    notes = [" ".join(filter(None, [f"[{media_label(m)}]", heard_label(m, item.author.name)]))
             for m in item.media]
    return escape(" ".join(notes))


def _item_line(item: Item, detailed: bool) -> Line:
    text = t(item.text) if item.kind == "choice" and item.text else item.text
    before = "• "
    if item.domain:
        before += f"<i>{escape(t(item.domain))}:</i> "
    note = _media_note(item)
    if note:
        before += f"<i>{note}</i> "
    after = ""
    if detailed and item.author.role != "client":
        after = f" <i>({escape(label('entered_by', name=item.author.display()))})</i>"
    return Line(before, text, after)


def _contribution_line(entry: Contribution) -> Line:
    kind = escape(label(f"kind_{entry.kind}"))
    who = escape(entry.author.display())
    return Line(f"• <i>{kind}</i>: ", entry.text, f" <i>— {who}</i>" if who else "")


# ------------------------------------------------------------------------------ splitting
def pack(parts: list[Block], limit: int = LIMIT) -> list[str]:
    """Fill messages part by part; only a part too long for one message is cut."""
    messages: list[str] = []
    current = ""
    for block in parts:
        text = "\n".join(line.html() for line in block)
        joined = f"{current}\n\n{text}" if current else text
        if size(joined) <= limit:
            current = joined
            continue
        if current:
            messages.append(current)
        if size(text) <= limit:
            current = text
            continue
        *full, current = list(_split_block(block, limit))
        messages.extend(full)
    if current:
        messages.append(current)
    return messages


def _split_block(block: Block, limit: int) -> Iterator[str]:
    current = ""
    for line in block:
        html = line.html()
        joined = f"{current}\n{html}" if current else html
        if size(joined) <= limit:
            current = joined
            continue
        if current:
            yield current
        if size(html) <= limit:
            current = html
            continue
        *full, current = list(_split_line(line, limit))
        yield from full
    yield current


def _split_line(line: Line, limit: int) -> Iterator[str]:
    """Cut the user text of one line; the first piece keeps `before`, the last `after`."""
    rest = line.text
    before = line.before
    while True:
        room = limit - size(before)
        if size(escape(rest) + line.after) <= room:
            yield before + escape(rest) + line.after
            return
        cut = _fit(rest, room)
        yield before + escape(rest[:cut])
        rest, before = rest[cut:], ""


def _fit(text: str, room: int) -> int:
    """How many characters of `text` fit escaped in `room`; prefer ending after a space."""
    used, cut = 0, 0
    for cut, char in enumerate(text):  # noqa: B007 - `cut` is used after the loop
        used += size(escape(char))
        if used > room:
            break
    else:
        return len(text)
    space = text.rfind(" ", 0, cut)
    if space > cut * 4 // 5:  # a space near the end: a kinder place to cut
        return space + 1
    return max(cut, 1)


# ------------------------------------------------------------------------------ speech
def spoken_text(agenda: Agenda) -> str:
    """The agenda to read aloud to the client as one voice message (no emoji, no tags)."""
    sentences = [label("spoken_intro")]
    meeting = agenda.meeting
    if meeting is not None and meeting.starts_at is not None:
        sentences.append(t("welcome_date", date=format_date(meeting.starts_at,
                                                            agenda.tz_name)))
    for part in agenda.parts:
        if not part.items:
            continue
        sentences.append(f"{agenda.title(part.key)}:")
        sentences += [_spoken_item(i) for i in part.items]
    if agenda.since_last:
        sentences.append(f"{label('since_last')}:")
        sentences += [_sentence(_since_line(a, agenda).lstrip("• ")) for a in agenda.since_last]
    for key, entries in (("naasten", agenda.naasten), ("begeleider", agenda.begeleider)):
        if entries:
            sentences.append(f"{label(key)}:")
            sentences += [_sentence(f"{c.author.name}: {c.text}") for c in entries]
    skipped = [agenda.title(s) for s in agenda.skipped if part_of_step(s)]
    if skipped:
        sentences.append(_sentence(f"{label('skipped')}: {', '.join(skipped)}"))
    sentences.append(label("spoken_end"))
    return " ".join(s for s in sentences if s)


def _spoken_item(item: Item) -> str:
    text = t(item.text) if item.kind == "choice" and item.text else item.text
    words = [plain(text)] + [t(f"media_{m.kind}") for m in item.media if not text]
    return _sentence(" ".join(w for w in words if w))


def _sentence(text: str) -> str:
    text = plain(text).replace("\n", ". ")
    return text if not text or text[-1] in ".!?:" else f"{text}."


def media_to_send(agenda: Agenda) -> list[tuple[str, Media]]:
    """Voice answers and photos to send after the text (by file_id), with a short caption."""
    out = []
    for part in agenda.parts:
        for item in part.items:
            for media in item.media:
                out.append((f"{agenda.title(part.key)}: {item.text}".strip().rstrip(":")[:1000],
                            media))
    return out
