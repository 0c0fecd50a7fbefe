"""Choosing with pictures: for clients who do not type or talk much, an open question can be
answered by placing things on a mat, one picture at a time: 🙂 fijn, 🤔 weet ik niet,
🙁 niet fijn. At the end the client sees the whole mat as one picture, hears it summed up,
and says whether it is right (a picture can be moved to another place).

Pure, like the rest of the flow. The mat's place lives in `session.data["mat"]` (which
question, which picture now), so a client can pause in the middle and go on days later; each
placed picture is stored at once as an answer of the question (kind "mat", its words
"Fijn: Koken", its tag "<picture>.<place>"), so nothing chosen is lost and the list, the
agenda and the exports show it like any answer. Its buttons have codes of their own.

On the agenda the pictures come per life domain: after choosing a domain ("Wonen"), its
things can be placed; each becomes a topic of the agenda, its tag naming the domain
("domain_housing/mat_room.fine") so the agenda shows it under that domain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from html import escape
from pathlib import Path
from types import MappingProxyType

import yaml

from bot.dialogs.buttons import encode, pressed
from bot.dialogs.look import Look, current
from bot.dialogs.spoken import plain, said
from bot.dialogs.texts import t
from bot.dialogs.types import AddPart, Answers, AnswerView, Button, Effect, Input, Reply, Session

KEY = "mat"  # in session.data
KIND = "mat"  # the answers' kind
PLACES = ("fine", "unsure", "not_fine")  # left to right on the mat; picto keys "mat_<place>"
SUMMARY, PICKING, SAYING = -1, -2, -3  # where the mat is when no picture is asked
WORDS = "words"  # the tag's end of what the client said about a picture: "<picture>.words"


class Action(StrEnum):
    START = "mt"  # "Kiezen met plaatjes" on an open question
    PLACE = "mp"  # arg "<index>.<place>": this picture goes there
    SKIP = "mq"  # arg: the index of the picture not placed
    STOP = "mx"  # stop with the pictures (what was placed stays)
    OK = "mk"  # the mat is right
    MOVE = "mv"  # without arg: which picture to move; with an index: move that one
    SAY = "ms"  # without arg: which picture to say something about; with an index: that one
    VIEW = "mw"  # back to the whole mat


def _own_sets() -> dict[str, tuple[str, ...]]:
    data = yaml.safe_load(Path(__file__).with_name("picto_mat.yaml").read_text("utf-8"))
    return {step: tuple(options) for step, options in data.items()}


# The open questions and the agenda's life domains that can be answered with pictures, and
# the bot's own pictures for each (the names an organisation's manifest may use).
OWN_SETS = _own_sets()
QUESTIONS = tuple(OWN_SETS)
DOMAIN_STATE = "_domain"  # the agenda's state after a life domain was chosen (client_prep)


def look_with(sets: Mapping[str, tuple[str, ...]], words: Mapping[str, str],
              texts: Mapping[str, str] | None = None,
              organisation_id: int | None = None) -> Look:
    """A look with these pictures per question (replacing the bot's own for the questions
    it names; from a picto manifest) and the word under each picture as its picto set says
    it."""
    unknown = set(sets) - set(QUESTIONS)
    if unknown:
        raise ValueError(f"no pictures for these questions: {', '.join(sorted(unknown))}")
    return Look(organisation_id, MappingProxyType({**OWN_SETS, **sets}),
                MappingProxyType(dict(words)), MappingProxyType(dict(texts or {})))


def option_sets() -> Mapping[str, tuple[str, ...]]:
    """Per question the pictures to place (the organisation's, else the bot's own)."""
    return current().sets or OWN_SETS


def word(picture: str) -> str:
    """The word under a picture (an organisation's own picture has it from its manifest)."""
    return current().words.get(picture) or t(picture)


def where(session: Session) -> tuple[str, str] | None:
    """(the question the pictures are answers of, the set of pictures) at the session's
    step: an open question's own set, or on the agenda, once a life domain is chosen, the
    set of that domain; None where there are no pictures."""
    step, sets = session.step, option_sets()
    if step.endswith(DOMAIN_STATE):
        domain = session.data.get("domain")
        if isinstance(domain, str) and domain.startswith("domain_") and domain in sets:
            return step.removesuffix(DOMAIN_STATE), domain
        return None
    return (step, step) if step in sets else None


def offered(session: Session) -> bool:
    """Whether the question now can be answered with pictures."""
    return where(session) is not None


def pictures_for(part: str) -> tuple[str, ...]:
    """Every picture that can be placed for a part of the agenda (all life domains' for the
    agenda itself), each once."""
    sets = option_sets()
    if part in sets:
        return sets[part]
    if part != "agenda":
        return ()
    return tuple(dict.fromkeys(p for key, pictures in sets.items()
                               if key.startswith("domain_") for p in pictures))


def start_button(session: Session) -> tuple[Button, ...]:
    return (Button(t("btn_mat"), encode(session.seq, Action.START)),)


def active(session: Session) -> bool:
    """The mat of the current question is open (also after a pause or days later)."""
    state = session.data.get(KEY)
    here = where(session)
    return (isinstance(state, dict) and state.get("step") == session.step and here is not None
            and state.get("set", session.step) == here[1])


def handles(inp: Input) -> bool:
    """A press of the mat's buttons (current or not: an old one is refused by `decide`)."""
    return pressed(inp, Action) is not None


@dataclass
class Outcome:
    effects: list[Effect] = field(default_factory=list)
    note: str = ""  # a text key said before what comes next
    stale: bool = False  # a press of an older screen, or a forged one: nothing changed
    finished: bool = False  # "Klopt" with pictures on the mat: the question is answered


def reading(kind: str, tag: str | None) -> tuple[str, str] | None:
    """(picture, place) of a stored answer of the mat; None for any other answer."""
    if kind != KIND or not tag or "." not in tag:
        return None
    picture, place = tag.rpartition("/")[2].split(".", 1)
    return (picture, place) if place in PLACES else None


def _tag(question: str, set_key: str, picture: str, end: str) -> str:
    """"<picture>.<place>" (or ".words"); on the agenda with its domain in front."""
    return f"{picture}.{end}" if set_key == question else f"{set_key}/{picture}.{end}"


def _in_set(tag: str | None, question: str, set_key: str) -> bool:
    """Whether a tag of the question's answers belongs to this set of pictures."""
    front, slash, _ = (tag or "").partition("/")
    return (front if slash else question) == set_key


Columns = tuple[tuple[str, tuple[str, ...]], ...]  # per place its picto key and pictures


def columns(readings: list[tuple[str, str]]) -> Columns:
    """The mat as it is drawn: per place (left to right) the pictures placed there."""
    return tuple((f"mat_{place}", tuple(p for p, at in readings if at == place))
                 for place in PLACES)


def placed(answers: Answers, question: str, set_key: str | None = None) -> dict[
        str, tuple[str, int]]:
    """Picture -> (place, item) of what the client placed for this question (of this set
    of pictures: on the agenda, one life domain's)."""
    found: dict[str, tuple[str, int]] = {}
    for row in answers.rows:
        if row.step != question or not _in_set(row.tag, question, set_key or question):
            continue
        read = reading(row.kind, row.tag)
        if read is not None:
            found[read[0]] = (read[1], row.item)
    return found


def decide(session: Session, answers: Answers, inp: Input) -> Outcome:
    """One press of the mat. Mutates the session (the service bumps the seq after)."""
    press = pressed(inp, Action)
    out = Outcome()
    if press is None or press.seq != session.seq:
        out.stale = True
        return out
    here = where(session)
    if press.action == Action.START:
        if here is None or session.status != "active":
            out.stale = True
            return out
        _open(session, answers, here)
        return out
    state = session.data.get(KEY)
    if not active(session) or state is None or here is None:
        out.stale = True
        return out
    step, set_key = here
    options, at = option_sets()[set_key], int(state["at"])
    if press.action == Action.PLACE:
        index, _, place = press.arg.partition(".")
        if place not in PLACES or not index.isdigit() or int(index) != at or at < 0:
            out.stale = True
            return out
        option, done = options[at], placed(answers, step, set_key)
        earlier = done.get(option)
        out.effects.append(AddPart(step, earlier[1] if earlier else None, KIND,
                                   f"{t('mat_' + place)}: {word(option)}",
                                   tag=_tag(step, set_key, option, place),
                                   replace=earlier is not None))
        if state.pop("moving", False):
            state["at"] = SUMMARY
        else:
            _go_on(session, answers, at + 1, {*done, option})
    elif press.action == Action.SKIP and press.arg == str(at) and at >= 0:
        state["skipped"].append(at)
        _go_on(session, answers, at + 1)
    elif press.action == Action.STOP:
        session.data.pop(KEY, None)
        out.note = "mat_stopped"
    elif press.action == Action.OK and at == SUMMARY:
        session.data.pop(KEY, None)
        out.note, out.finished = "mat_saved", bool(placed(answers, step, set_key))
    elif press.action in {Action.MOVE, Action.SAY} and at == SUMMARY and not press.arg:
        state["at"], state["picking"] = PICKING, str(press.action)
    elif (press.action == state.get("picking") and at == PICKING and press.arg.isdigit()
          and int(press.arg) < len(options)
          and options[int(press.arg)] in placed(answers, step, set_key)):
        if press.action == Action.MOVE:
            state["at"], state["moving"] = int(press.arg), True
        else:  # the client's next message is about this picture
            state["at"], state["card"] = SAYING, int(press.arg)
    elif press.action == Action.VIEW and at in {PICKING, SAYING}:
        state["at"] = SUMMARY
    else:
        out.stale = True
    return out


def waits_for_words(session: Session) -> bool:
    """The client chose a picture to say something about: their next message is that."""
    return active(session) and session.data[KEY].get("at") == SAYING


def words(session: Session, inp: Input) -> list[Effect]:
    """What the client said about a picture (words, a voice message, a photo): an answer of
    the question of its own, that names the picture ("Koken: alleen met hulp"); then the
    whole mat again."""
    state, (step, set_key) = session.data[KEY], _here(session)
    picture = option_sets()[set_key][int(state.pop("card"))]
    state["at"] = SUMMARY
    name = word(picture)
    return [AddPart(step, None, inp.kind, f"{name}: {inp.text}" if inp.text else name,
                    tag=_tag(step, set_key, picture, WORDS), file_id=inp.file_id,
                    file_unique_id=inp.file_unique_id, duration=inp.duration,
                    message_id=inp.message_id)]


def opens_by_itself(session: Session, answers: Answers) -> bool:
    """Whether "pictures first" (the begeleider's choice) opens the mat now: the first time
    the question comes, not again after "Stop met plaatjes" or an answer."""
    here = where(session)
    if here is None or active(session) or session.status != "active":
        return False
    step, set_key = here
    answered = answers.has(step) if set_key == step else bool(placed(answers, step, set_key))
    return not answered and set_key not in session.data.get("mat_opened", [])


def opened(session: Session, answers: Answers) -> bool:
    """Open the mat by itself when `opens_by_itself` says so."""
    if not opens_by_itself(session, answers):
        return False
    _open(session, answers, _here(session))
    return True


def _here(session: Session) -> tuple[str, str]:
    here = where(session)
    assert here is not None, session.step  # only asked where the mat is open or offered
    return here


def _open(session: Session, answers: Answers, here: tuple[str, str]) -> None:
    set_key = here[1]
    session.data[KEY] = {"step": session.step, "set": set_key, "at": 0, "skipped": []}
    opened_sets = [*session.data.get("mat_opened", []), set_key]
    session.data["mat_opened"] = list(dict.fromkeys(opened_sets))
    _go_on(session, answers, 0)


def _go_on(session: Session, answers: Answers, start: int,
           done: set[str] | None = None) -> None:
    """The next picture not placed (`done`: the pictures placed) and not skipped, else the
    whole mat."""
    state, (step, set_key) = session.data[KEY], _here(session)
    done = set(placed(answers, step, set_key)) if done is None else done
    options = option_sets()[set_key]
    state["at"] = next((i for i in range(start, len(options))
                        if options[i] not in done and i not in state["skipped"]), SUMMARY)


# --------------------------------------------------------------------------- showing
def _picture(options: tuple[str, ...], at: int, intro: bool, moving: bool) -> tuple[str, str]:
    """One picture's question, shown and spoken: "Plaatje 3 van 9. Koken. Hoe vind je
    dit?" (the count left out while a picture is moved; how it works told before the
    first)."""
    how = [t("mat_intro")] if intro else []
    count = [] if moving else [t("mat_count", number=at + 1, total=len(options))]
    name, question = word(options[at]), t("mat_question")
    text = "\n\n".join([*how, "\n".join([*count, f"<b>{escape(name)}</b>"]), question])
    return text, plain(" ".join([*how, *count, f"{name}.", question]))


def _said_about(row: AnswerView) -> str:
    """A line of the mat's summary for what the client said about a picture."""
    if row.kind == "text":
        return row.text
    return f"{row.text} ({t(f'media_{row.kind}')})"


def spoken_texts() -> list[str]:
    """What the mat says that is the same for everyone (to warm the speech cache)."""
    return list(dict.fromkeys(  # a picture in two sets at the same place is said once
        _picture(options, at, intro=intro, moving=False)[1]
        for options in option_sets().values() for at in range(len(options))
        for intro in ((False, True) if at == 0 else (False,))))


def screen(session: Session, answers: Answers) -> list[Reply]:
    """What the mat shows now: a picture to place, the whole mat, or which one to move."""
    state, (step, set_key) = session.data[KEY], _here(session)
    at, options = int(state["at"]), option_sets()[set_key]
    if at >= 0:
        first = at == 0 and not state["skipped"] and not state.get("moving")
        text, spoken = _picture(options, at, intro=first and not placed(answers, step, set_key),
                                moving=bool(state.get("moving")))
        data = [encode(session.seq, Action.PLACE, f"{at}.{place}") for place in PLACES]
        return [Reply(text, picto=options[at], speak=spoken, buttons=(
            *((Button(t(f"btn_mat_{place}"), d),) for place, d in zip(PLACES, data,
                                                                       strict=True)),
            (Button(t("btn_mat_skip"), encode(session.seq, Action.SKIP, at)),
             Button(t("btn_mat_stop"), encode(session.seq, Action.STOP)))))]
    chosen = placed(answers, step, set_key)
    back = (Button(t("btn_mat_view"), encode(session.seq, Action.VIEW)),)
    if at == PICKING:
        picking = Action(state.get("picking", Action.MOVE))
        cards = [(Button(word(o), encode(session.seq, picking, i), o),)
                 for i, o in enumerate(options) if o in chosen]
        which = "mat_move_which" if picking == Action.MOVE else "mat_say_which"
        return [said(t(which), buttons=(*cards, back))]
    if at == SAYING:
        picture = options[int(state["card"])]
        return [said(t("mat_say", picture=escape(word(picture))), picto=picture,
                     buttons=(back,))]
    mat = columns([(o, chosen[o][0]) for o in options if o in chosen])
    lines = [f"{t(place)}: {', '.join(word(o).lower() for o in keys)}." for place, keys in mat
             if keys]
    lines += [_said_about(row) for row in answers.rows
              if row.step == step and (row.tag or "").endswith(f".{WORDS}")
              and _in_set(row.tag, step, set_key)]
    summary = "\n".join(lines) or t("mat_none")
    text = f"{t('mat_done')}\n{escape(summary)}\n\n<b>{t('mat_check')}</b>"
    rows: list[tuple[Button, ...]] = [(Button(t("btn_mat_ok"), encode(session.seq, Action.OK)),)]
    if chosen:
        rows.append((Button(t("btn_mat_move"), encode(session.seq, Action.MOVE)),))
        rows.append((Button(t("btn_mat_say"), encode(session.seq, Action.SAY)),))
    return [Reply(text, mat=mat, speak=plain(text), readback=True, buttons=tuple(rows))]
