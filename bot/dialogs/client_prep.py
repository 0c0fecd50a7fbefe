"""The client's preparation (PRODUCT.md steps 1–10): the steps as data, and how each state
is asked. `decide` turns an input into an outcome; `render` turns the new state into replies
(after the store has applied the effects, so the replies show what is stored)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from html import escape

from bot.dialogs import picto_mat, transcript
from bot.dialogs.buttons import action as pressed_action
from bot.dialogs.buttons import decode, encode, pressed
from bot.dialogs.flow import (
    ACKS,
    EXTRA,
    SPLIT_LENGTH,
    Flow,
    Outcome,
    Step,
    Turn,
)
from bot.dialogs.spoken import plain, said
from bot.dialogs.texts import t
from bot.dialogs.types import (
    AddPart,
    Answers,
    AnswerView,
    BoardRow,
    Button,
    EditByMessage,
    Input,
    Media,
    Reply,
    Session,
)

DOMAINS = (
    "domain_health", "domain_daytime", "domain_social", "domain_feelings", "domain_learning",
    "domain_housing", "domain_money", "domain_choices", "domain_intimacy", "domain_meaning",
)
CHAIR = ("choice_chair_yes", "choice_chair_no", "choice_chair_together")
HOW = ("how_short", "how_break", "how_pictos", "how_calm", "how_someone")
# What the client can share with each naaste (the access module and the agenda use this).
SHARE_PARTS = ("agenda", "good_at", "appreciated", "good_day", "bad_day", "works",
               "not_works", "important", "future", "learn", "meeting", "voice", "extra",
               "agreements")

STEPS = [
    Step("welcome", "intro", in_review=False),
    Step("good_at", "open"),
    Step("appreciated", "open"),
    Step("agenda", "list"),
    Step("good_day", "open"),
    Step("bad_day", "open"),
    Step("works", "open"),
    Step("not_works", "open"),
    Step("important", "open"),
    Step("future", "open"),
    Step("learn", "open"),
    Step("meeting_where", "open"),
    Step("meeting_who", "open"),
    Step("meeting_chair", "choice", options=CHAIR),
    Step("meeting_how", "multi", options=HOW),
    Step("sharing", "share", in_review=False),
    Step("review", "review", in_review=False),
    Step("talked", "check", in_review=False),  # the day after the meeting
]
TALKED = ("talked_yes", "talked_bit", "talked_no")
# Talked about only a bit, or not: the next round offers the topic again.
OPEN_TALKED = ("talked_bit", "talked_no")
# The commands a client has (some are answered by the service: /wie_keek, /mijnlijst, …).
COMMANDS = frozenset({"stop", "verder", "lijst", "delen", "start", "instellingen", "wie_keek",
                      "mijnlijst", "afspraken", "vorige", "over", "rol", "mijn_gegevens",
                      "wissen"})

FLOW = Flow("client_prep", STEPS, shareable=SHARE_PARTS, feedback="meeting_feedback")
# The steps a begeleider's progress line counts ("5 of 12 questions").
QUESTION_STEPS = tuple(s.key for s in FLOW.question_steps if s.kind != "share")


class Action(StrEnum):
    """The client's buttons (the values are the codes on the wire)."""

    START = "go"  # "Beginnen" on the welcome
    NEXT = "nx"  # on to the next question (also "Klaar", "Nee, verder")
    SKIP = "sk"  # skip this question (it comes back as an open question)
    BACK = "bk"  # one question or screen back
    MORE = "mo"  # "Ja, nog iets": one more topic
    DONT_KNOW = "dk"  # "Weet ik nog niet": help to choose a domain
    CHOOSE = "ch"  # arg: an option of a choice, or a domain
    TOGGLE = "tg"  # arg: an option of a multiple choice, ticked or unticked in place
    CONFIRM = "cf"  # the list is right
    CHANGE = "vm"  # "Iets veranderen": the parts of the list
    PART = "pt"  # arg: a part of the list, to change
    EDIT = "ed"  # arg: an item number, to say again
    REMOVE = "rm"  # arg: an item number
    UP = "up"  # arg: an item number, one place up
    ADD = "ad"  # add an item to this part
    PAGE = "pg"  # arg: a page of the items (from 0)
    TO_LIST = "ls"  # back to the list
    OPEN_QUESTIONS = "oq"  # to the first skipped question
    CONTINUE_QUESTIONS = "cq"  # back to the question left for the list
    PLAY = "pl"  # arg: an answer id, a recording to hear (or a photo to see) again
    PICK = "pk"  # arg: a naaste id, to choose what they see
    SHARE_ALL = "sa"  # this naaste sees everything
    SHARE_TOPICS = "so"  # this naaste sees only the topics
    SHARE_NONE = "sn"  # this naaste sees nothing
    OWN = "zk"  # "Zelf kiezen": the parts one by one
    TOGGLE_SHARE = "ts"  # arg: a part, shared or not, ticked in place
    REMOVE_NAASTE = "rn"  # remove this naaste (asks once more)
    CONFIRM_REMOVE = "ry"  # yes, remove
    UNDO = "un"  # arg: the naaste just removed, back again
    TALK = "tk"  # arg: whether a topic was talked about (the day after the meeting)
    KEEP = "kp"  # "Klopt dit nog?" yes: last round's answer stays (second round on)
    OFFER_YES = "wy"  # arg: an offer of last round (a topic, an agreement): on the agenda
    OFFER_NO = "wn"  # arg: … not this time
    NOT_ANYMORE = "na"  # … no: the question again, without last round's answer
    PAUSE = "ps"  # pause (the pause menu)
    AGAIN = "ag"  # the current question again ("Nog eens horen"; on after a pause)
    STOP = "sp"  # as /stop (the pause menu)
    GO_ON = "vd"  # as /verder (after /stop)
    SETTING = "st"  # arg: "<preference>.on|off"; valid on any screen


# Buttons that fire a trigger of the flow; the others are handled in `_button`.
BUTTON_TRIGGERS = {
    Action.START: "next", Action.NEXT: "next", Action.SKIP: "skip", Action.BACK: "back",
    Action.MORE: "more", Action.DONT_KNOW: "dont_know", Action.CHOOSE: "choose",
    Action.TOGGLE: "toggle", Action.CONFIRM: "confirm", Action.EDIT: "edit",
    Action.REMOVE: "remove", Action.UP: "up", Action.ADD: "add", Action.TO_LIST: "to_list",
    Action.PICK: "pick", Action.TOGGLE_SHARE: "toggle_share", Action.SHARE_ALL: "share_all",
    Action.SHARE_NONE: "share_none", Action.SHARE_TOPICS: "share_topics", Action.OWN: "own",
    Action.REMOVE_NAASTE: "remove_naaste", Action.CONFIRM_REMOVE: "confirm_remove",
    Action.UNDO: "restore", Action.TALK: "talk", Action.PAGE: "page", Action.CHANGE: "menu",
    Action.KEEP: "keep", Action.NOT_ANYMORE: "not_anymore",
}


@dataclass(frozen=True)
class Context:
    """What the replies need besides the answers."""

    name: str
    meeting_date: str | None = None  # already formatted in Dutch, e.g. "dinsdag 8 december"
    pictures_first: bool = False  # the begeleider's choice: such questions start with the mat
    transcribing: bool = False  # the organisation writes voice answers out (issue 19)


# --------------------------------------------------------------------------- deciding
def decide(session: Session, answers: Answers, inp: Input) -> Outcome:
    """Run one input through the flow. Mutates `session`; returns effects and notes."""
    turn = Turn(FLOW, session, answers, inp)
    out = turn.out
    if inp.kind == "command" and inp.command not in COMMANDS and inp.arg:
        # "/ik wil koken": words after a slash are words, not an unknown command.
        inp = turn.input = replace(inp, kind="text")
    if turn.join_split():  # the first half was acknowledged already
        return out
    press = pressed(inp, Action)
    if press is None or press.action != Action.UNDO:
        session.data.pop("removed", None)  # "Toch niet" only right after removing
    if press is not None and press.seq == session.seq and press.action in {Action.STOP,
                                                                            Action.GO_ON}:
        # The pause menu's "Stoppen" and the stopped note's "Verder": as /stop, /verder.
        inp = turn.input = replace(inp, kind="command",
                                   command="stop" if press.action == Action.STOP else "verder")
    if session.status == "stopped" and not (inp.kind == "command" and inp.command in {
            "verder", "start", "lijst"}):
        if inp.is_message:  # kept all the same: nothing a person says is lost
            turn.keep_extra()
        out.notes.insert(0, "still_stopped")
        return out
    if inp.kind == "command":
        return _command(turn)
    if inp.kind == "edit":
        if inp.message_id is not None and any(r.message_id == inp.message_id
                                              for r in answers.rows):
            out.effects.append(EditByMessage(inp.message_id, inp.text))
            out.notes.append("ack_edited")
        else:  # e.g. an edited command: say so rather than pretend
            out.notes.append("edit_not_answer")
        return out
    if inp.kind == "unusable":
        out.notes.append("not_usable")
        return out
    if session.status != "active":  # paused or blocked: any message or button resumes
        session.status = "active"
        if inp.is_message:
            # "Hoi, ik ben er weer" is no answer to the open question: keep it aside and
            # ask the question again first.
            turn.keep_extra()
            if inp.forwarded:
                out.notes.insert(0, "resumed")
            else:
                out.notes[-1:] = ["resumed_kept"]
            out.ask = True
            return out
        out.notes.append("resumed")
    if inp.kind == "button":
        return _button(turn)
    if picto_mat.waits_for_words(session) and inp.is_message and not inp.forwarded:
        out.effects += picto_mat.words(session, inp)  # about the picture the client chose
        out.notes.append("mat_words_kept")
        out.ask = True
        return out
    if inp.forwarded:  # someone else's words: kept, never as the client's own answer
        turn.keep_extra()
        return out
    if not FLOW.fire(turn, "answer"):
        out.notes.append("not_usable")
    elif FLOW.step_of(session.step).kind == "intro":
        out.ask = False  # kept under "Ook gezegd"; the welcome's button is still there
    return out


def _command(turn: Turn) -> Outcome:
    session, out, command = turn.session, turn.out, turn.input.command
    if command == "stop":
        session.status = "stopped"
        out.notes.append("stopped")
    elif command == "verder":
        if session.status != "active":
            out.notes.append("resumed")
        session.status = "active"
        back_to = session.data.get("return_to")
        # On the list, /verder goes back to the question the client left for it.
        if not (session.step == "review" and back_to
                and FLOW.fire(turn, "change", target=back_to, returning=False)):
            out.ask = True
    elif command in {"lijst", "delen"}:
        session.status = "active"
        if not FLOW.fire(turn, "to_list" if command == "lijst" else "to_sharing"):
            out.ask = True
    elif command == "start":
        session.status = "active"
        out.notes.append("already_linked")
        out.ask = True
    elif command == "instellingen":
        out.show = "settings"
    else:
        out.notes.append("unknown_command")
        out.ask = True
    return out


def _button(turn: Turn) -> Outcome:
    session, out = turn.session, turn.out
    press = decode(turn.input.data, Action)
    name, _, target = press.arg.partition(".") if press is not None else ("", "", "")
    if press is not None and press.action == Action.SETTING and name in PREFERENCES:
        # Settings are not tied to a question: their buttons stay valid. A button sets the
        # value it shows (an older screen pressed twice does not undo itself).
        current = preference(session, name)
        wanted = target == "on" if target in {"on", "off"} else not current
        out.unchanged = wanted == current
        session.data[name] = wanted
        out.show = "settings"
        return out
    if transcript.handles(turn.input):  # "Ik hoorde: … Klopt dat?" about a voice answer
        heard = transcript.decide(turn.answers, turn.input)
        out.effects += heard.effects
        out.notes += [heard.note] if heard.note else []
        out.stale, out.ask = heard.stale, not heard.stale
        return out
    if picto_mat.handles(turn.input):  # choosing with pictures: buttons of its own
        mat = picto_mat.decide(session, turn.answers, turn.input)
        out.effects += mat.effects
        out.notes += [mat.note] if mat.note else []
        out.stale, out.ask = mat.stale, not mat.stale
        if mat.finished and session.step.endswith(picto_mat.DOMAIN_STATE):
            FLOW.fire(turn, "pictured")  # the domain's things are on the agenda: anything more?
        return out
    if press is None or press.seq != session.seq:
        out.stale = True
        return out
    action, arg = press.action, press.arg
    if action == Action.PAUSE:
        session.status = "paused"
        out.notes.append("paused")
        return out
    if action == Action.AGAIN:
        out.ask = True
        return out
    if action == Action.PLAY and arg.isdigit() and any(
            r.id == int(arg) and r.file_id for r in turn.answers.rows):
        out.show = f"play:{arg}"
        return out
    if action == Action.PART and session.step == "review_parts" and any(
            p.key == arg for p in _REVIEW_PARTS):
        # A part of the list: its items to change one by one, or its question again.
        if arg in ITEM_PARTS and turn.answers.has(arg):
            out.stale = not FLOW.fire(turn, "items", arg=arg)
        else:
            out.stale = not FLOW.fire(turn, "change", target=arg)
        return out
    if action in {Action.OFFER_YES, Action.OFFER_NO}:
        index = _offer(session, turn.answers)
        if session.step != FLOW.topics or index is None or arg != str(index):
            out.stale = True
            return out
        session.data.setdefault("offered", []).append(index)
        if action == Action.OFFER_YES:
            kind, words, _mood = turn.answers.offers[index]
            text = words if kind == "topic" else t("offer_agreement_topic", text=words)
            out.effects.append(AddPart(FLOW.topics, None, "text", text))
            out.notes.append("offer_added")
        out.ask = True
        return out
    if action in {Action.OPEN_QUESTIONS, Action.CONTINUE_QUESTIONS}:
        opening = action == Action.OPEN_QUESTIONS
        back_to = (session.data.get("skipped") or [None])[0] if opening else (
            session.data.get("return_to"))
        if back_to and FLOW.fire(turn, "change", target=back_to, returning=opening):
            return out
        out.stale = True
        return out
    trigger = BUTTON_TRIGGERS.get(action)
    if trigger is None or not _arg_fits(session, turn.answers, trigger, arg):
        out.stale = True
        return out
    if not FLOW.fire(turn, trigger, arg=arg):
        out.stale = True
    return out


def _arg_fits(session: Session, answers: Answers, trigger: str, arg: str) -> bool:
    """A button's argument must name something that exists here (no forged ids)."""
    state = session.step
    if trigger == "choose":
        if state.endswith("_domains"):
            return arg in DOMAINS
        return arg in FLOW.step_of(state).options
    if trigger == "toggle":
        return arg in FLOW.step_of(state).options
    if trigger == "talk":
        return arg in TALKED
    if trigger == "pick":
        return arg.isdigit() and any(n.id == int(arg) for n in answers.naasten)
    if trigger == "toggle_share":
        return arg in SHARE_PARTS
    if trigger in {"edit", "remove", "up"}:
        step = str(session.data.get("items_step", "agenda"))
        return arg.isdigit() and any(i[0].item == int(arg) for i in answers.items(step))
    if trigger == "restore":
        return arg == str((session.data.get("removed") or {}).get("id"))
    if trigger == "page":
        step = str(session.data.get("items_step", "agenda"))
        return arg.isdigit() and int(arg) * PAGE < max(len(answers.items(step)), 1)
    return arg == ""


# --------------------------------------------------------------------------- rendering
# The shape of the chat: a question is ONE message (its picto card, the question as the
# caption, the buttons under it) and its voice; notes ("Dank je.", "Overgeslagen") go into
# that same message and voice. Everything that asks or tells something is spoken.
def render(session: Session, answers: Answers, out: Outcome, ctx: Context,
           inp: Input) -> list[Reply]:
    """The replies for this outcome. `session.seq` is already the seq of new buttons."""
    if out.stale:
        return [said(t("stale_button"))]
    if out.unchanged:  # nothing to show again (the screen is as it was)
        return []
    if out.show == "settings":
        return [_settings(session, edit=inp.kind == "button", transcribing=ctx.transcribing)]
    if out.show.startswith("play:"):
        row = next(r for r in answers.rows if r.id == int(out.show[5:]))
        return [Reply(_part_text(row), media=Media(row.kind, row.file_id or ""))]
    state = session.step
    kind = FLOW.step_of(state).kind
    pressing = pressed_action(inp, Action)
    if kind == "multi" and pressing == Action.TOGGLE:
        return [_multi(session, answers, edit=True)]
    if state == "sharing_parts" and pressing == Action.TOGGLE_SHARE:
        return [_share_parts(session, answers, edit=True)]
    notes = "\n".join(t(n, **{k: escape(v) for k, v in out.values.items()})
                      for n in out.notes)
    if (out.ask and kind in {"open", "choice", "multi"} and inp.is_message
            and answers.has(state) and out.notes and not picto_mat.active(session)):
        # After an answer: short, spoken, and the way on (not the whole question again).
        text = f"{notes}\n{t('ack_more')}"
        return [said(text, buttons=(
            _row(session, ("btn_next", Action.NEXT)),
            _row(session, ("btn_back", Action.BACK), ("btn_pause", Action.PAUSE))))]
    if out.ask and session.status == "active":
        replies = ask(session, answers, ctx, after_feedback=out.feedback_given)
        return _with_notes(notes, replies) if notes else replies
    if not notes:
        return []
    buttons: tuple[tuple[Button, ...], ...] = ()
    if session.status == "paused":  # the pause menu: go on, or stop (as /stop)
        buttons = (_row(session, ("btn_next", Action.AGAIN), ("btn_stop", Action.STOP)),)
    elif session.status == "stopped":
        buttons = (_row(session, ("btn_next", Action.GO_ON)),)
    return [said(notes, buttons=buttons)]


def _with_notes(notes: str, replies: list[Reply]) -> list[Reply]:
    """Notes go into the first message that is spoken: one message, one voice."""
    index = next((i for i, r in enumerate(replies) if r.speak), 0)
    first = replies[index]
    spoken = f"{plain(notes)} {first.speak}" if first.speak else plain(notes)
    replies[index] = replace(first, text=f"{notes}\n\n{first.text}", speak=spoken,
                             readback=True)
    return replies


def ask(session: Session, answers: Answers, ctx: Context,
        after_feedback: bool = False) -> list[Reply]:
    """The current question, with fresh buttons (`after_feedback`: the client has just said
    how the meeting went, so the last screen thanks them for that)."""
    state = session.step
    step = FLOW.step_of(state)
    if picto_mat.active(session) or (ctx.pictures_first and picto_mat.opened(
            session, answers)):  # also when the client comes back to it days later
        return picto_mat.screen(session, answers)
    if state == "welcome":
        return [_welcome(session, ctx)]
    if step.kind == "list":
        return [_list_question(session, answers, state)]
    if state == "review":
        return _review(session, answers)
    if state == "review_parts":
        return [_review_parts(session, answers)]
    if state == "review_items":
        return _review_items(session, answers)
    if state in {"review_edit", "review_add"}:
        items_step = str(session.data.get("items_step", "agenda"))
        key = ("review_edit_item" if state == "review_edit" else "review_add_item"
               if items_step in {"agenda", EXTRA} else f"q_{items_step}")
        picto = "agenda" if items_step == EXTRA else items_step
        return [_question(session, key, picto, _row(session, ("btn_to_list", Action.BACK)))]
    if state == "done":
        key = "after_done" if after_feedback else "done"
        return [said(t(key), picto="done")]
    if state == "talked":
        return [_talked(session, answers)]
    if state == "feedback":
        return [_question(session, "q_feedback", "feedback",
                          _row(session, ("btn_skip", Action.SKIP)))]
    if state.startswith("sharing"):
        return [_sharing_screen(session, answers, state)]
    if step.kind == "multi":
        return [_multi(session, answers)]
    current = answers.items(state)
    extra: list[tuple[Button, ...]] = []
    if step.kind == "choice":
        chosen = answers.tags(state)
        extra = [(Button(("✅ " if o in chosen else "") + t(o),
                         _data(session, Action.CHOOSE, o), o),) for o in step.options]
    if current:  # answered before (back, or the list): going on keeps the answer
        extra.append(_row(session, ("btn_next", Action.NEXT)))
    if step.kind == "open" and picto_mat.offered(session):
        extra.append(picto_mat.start_button(session))
    earlier = _earlier(session, answers, state, current)
    if earlier:  # the next round: what the client said last time, "Klopt dit nog?"
        extra.append(_row(session, ("btn_keep_previous", Action.KEEP),
                          ("btn_not_anymore", Action.NOT_ANYMORE)))
    reply = _question(session, f"q_{state}", state, *extra, *_moves(session))
    if earlier:
        # One question on screen: last time's answer under its part's title, "Klopt dit
        # nog?" (the question itself comes plainly after "Nee, nu anders").
        text = (f"<b>{t('title_' + state)}</b>\n"
                f"{t('previous_answer', answer=escape(earlier))}\n\n{t('previous_still')}")
        reply = replace(reply, text=text, speak=plain(text), readback=True)
    words = [p for p in current if p[0].kind != "choice"]
    if words and step.kind == "open":  # show (and say) what is there already
        before = t("review_change_open", answer=_items_text(words))
        reply = replace(reply, text=f"{before}\n\n{reply.text}",
                        speak=f"{plain(before)} {reply.speak}", readback=True)
    return [reply]


def _earlier(session: Session, answers: Answers, state: str,
             current: list[list[AnswerView]]) -> str:
    """Last round's words for this open question, while nothing is said this round and the
    client has not said "Nee, nu anders"."""
    if current or FLOW.step_of(state).kind != "open":
        return ""
    return "" if state in session.data.get("not_previous", []) else answers.previous.get(
        state, "")


def _welcome(session: Session, ctx: Context) -> Reply:
    hello = t("welcome_hello", name=escape(ctx.name))
    when = t("welcome_date", date=ctx.meeting_date) if ctx.meeting_date else t(
        "welcome_no_date")
    text = "\n\n".join([f"{hello}\n{when}", t("welcome_how"),
                         f"{t('welcome_begeleider')}\n<b>{t('welcome_question')}</b>"])
    return said(text, picto="welcome", buttons=(_row(session, ("btn_start", Action.START)),))


def _offer(session: Session, answers: Answers) -> int | None:
    """The next of last round's offers the client has not said yes or no to."""
    done = set(session.data.get("offered", []))
    return next((i for i in range(len(answers.offers)) if i not in done), None)


def _offer_question(session: Session, answers: Answers, index: int) -> Reply:
    kind, words, mood = answers.offers[index]
    if kind == "topic":
        text = t("offer_topic", topic=escape(words))
    else:
        went = t(f"offer_went_{mood}") if mood else ""
        text = t("offer_agreement", text=escape(words), went=went)
    return said(text, picto="agenda" if kind == "topic" else "agreements", buttons=(
        _row(session, ("btn_offer_yes", Action.OFFER_YES, str(index)),
             ("btn_offer_no", Action.OFFER_NO, str(index))),
        _row(session, ("btn_again", Action.AGAIN), ("btn_pause", Action.PAUSE))))


def _list_question(session: Session, answers: Answers, state: str) -> Reply:
    step = FLOW.step_of(state)
    pending = _offer(session, answers) if state == step.key else None
    if pending is not None:  # the next round: last time's open topics and agreements first
        return _offer_question(session, answers, pending)
    if state == step.key:
        key = "q_agenda_next" if answers.has(step.key) else "q_agenda"
        return _question(session, key, "agenda", _row(session, ("btn_dont_know", Action.DONT_KNOW)),
                         *_moves(session))
    if state.endswith("_more"):
        return _question(session, "q_agenda_more", "agenda_more",
                         _row(session, ("btn_more_yes", Action.MORE), ("btn_more_no", Action.NEXT)),
                         _row(session, ("btn_dont_know", Action.DONT_KNOW)),
                         _row(session, ("btn_again", Action.AGAIN), ("btn_pause", Action.PAUSE)))
    if state.endswith("_domains"):
        buttons = [Button(t(d), _data(session, Action.CHOOSE, d), d) for d in DOMAINS]
        rows = [tuple(buttons[i:i + 2]) for i in range(0, len(buttons), 2)]
        # Nothing on the agenda yet: leaving here is skipping (the question comes back).
        leave = ("btn_next", Action.NEXT) if answers.has(step.key) else ("btn_skip", Action.SKIP)
        return _question(session, "q_agenda_domains", "domains", *rows,
                         _row(session, leave),
                         _row(session, ("btn_back", Action.BACK), ("btn_pause", Action.PAUSE)))
    domain = str(session.data.get("domain", ""))
    word = t(domain) if domain in DOMAINS else ""
    text = t("q_agenda_domain", domain=word.lower())
    pictures = (picto_mat.start_button(session),) if picto_mat.offered(session) else ()
    return said(text, picto=domain or "domains",
                 buttons=(*pictures,
                          _row(session, ("btn_skip", Action.SKIP), ("btn_back", Action.BACK)),
                          _row(session, ("btn_again", Action.AGAIN), ("btn_pause", Action.PAUSE))))


def _multi(session: Session, answers: Answers, edit: bool = False) -> Reply:
    step = FLOW.step_of(session.step)
    chosen = answers.tags(step.key)
    rows = [(Button(("✅ " if o in chosen else "⬜ ") + t(o), _data(session, Action.TOGGLE, o), o),)
            for o in step.options]
    text = t(f"q_{step.key}")
    return Reply(text, picto=step.key, speak=None if edit else plain(text), edit=edit,
                 buttons=(*rows, _row(session, ("btn_done", Action.NEXT)), *_moves(session)))


def _talked(session: Session, answers: Answers) -> Reply:
    pending = session.data.get("check") or [0]
    parts = next((p for p in answers.items("agenda") if p[0].item == pending[0]), [])
    text = t("q_talked", item=_item_text(parts))
    buttons = tuple((Button(t(o), _data(session, Action.TALK, o), o),) for o in TALKED)
    return said(text, picto="talked", buttons=buttons)


# --- sharing: the naasten, a simple choice per naaste, the parts only when asked ------
SIMPLE_SHARES = (("all", "btn_share_all", Action.SHARE_ALL),
                 ("topics", "btn_share_topics", Action.SHARE_TOPICS),
                 ("none", "btn_share_none", Action.SHARE_NONE),
                 ("own", "btn_share_own", Action.OWN))


def shared_as(shared: set[str]) -> str:
    """Which simple choice a naaste's shares are: all, topics, none, or own (a mix)."""
    if shared >= set(SHARE_PARTS):
        return "all"
    return "topics" if shared == {"agenda"} else "none" if not shared else "own"


def _sharing_screen(session: Session, answers: Answers, state: str) -> Reply:
    naaste_id = int(session.data.get("naaste", 0))
    naaste = next((n for n in answers.naasten if n.id == naaste_id), None)
    name = escape(naaste.name) if naaste else ""
    shared = answers.shares.get(naaste_id, set())
    if state == "sharing_naaste":
        current = shared_as(shared)
        choices = [Button(("✅ " if key == current else "") + t(label),
                          _data(session, action)) for key, label, action in SIMPLE_SHARES]
        return said(t("q_sharing_naaste", name=name), picto="sharing", buttons=(
            tuple(choices[:2]), tuple(choices[2:]),
            _row(session, ("btn_remove_naaste", Action.REMOVE_NAASTE), ("btn_back", Action.BACK))))
    if state == "sharing_parts":
        return _share_parts(session, answers)
    if state == "sharing_remove":
        return said(t("q_sharing_remove", name=name), picto="sharing", buttons=(
            _row(session, ("btn_remove_yes", Action.CONFIRM_REMOVE),
                 ("btn_remove_no", Action.BACK)),))
    return _sharing(session, answers)


def _sharing(session: Session, answers: Answers) -> Reply:
    removed = session.data.get("removed")
    undo = (_row(session, ("btn_undo", Action.UNDO, str(removed["id"]))),) if removed else ()
    if not answers.naasten:
        return said(t("sharing_nobody"), picto="sharing",
                     buttons=(*undo, _row(session, ("btn_next", Action.NEXT)), *_moves(session)))
    lines = []
    for naaste in answers.naasten:
        name = f"{escape(naaste.name)} ({escape(t('relation_' + naaste.relation))})"
        shared = answers.shares.get(naaste.id, set())
        simple = shared_as(shared)
        parts = (t(f"sharing_{simple}") if simple in {"all", "topics"} else ", ".join(
            t(f"share_{p}").lower() for p in SHARE_PARTS if p in shared))
        lines.append(t("sharing_summary", name=name, parts=parts) if shared
                     else t("sharing_summary_none", name=name))
    text = t("q_sharing_pick") + "\n\n" + "\n".join(lines)
    people = [(Button(f"{n.name} ({t('relation_' + n.relation)})",
                      _data(session, Action.PICK, str(n.id)), "naaste"),) for n in answers.naasten]
    return said(text, picto="sharing", buttons=(
        *undo, *people, _row(session, ("btn_next", Action.NEXT)), *_moves(session)))


def _share_parts(session: Session, answers: Answers, edit: bool = False) -> Reply:
    naaste_id = int(session.data.get("naaste", 0))
    naaste = next((n for n in answers.naasten if n.id == naaste_id), None)
    shared = answers.shares.get(naaste_id, set())
    rows = [tuple(Button(("✅ " if p in shared else "⬜ ") + t(f"share_{p}"),
                         _data(session, Action.TOGGLE_SHARE, p)) for p in SHARE_PARTS[i:i + 2])
            for i in range(0, len(SHARE_PARTS), 2)]
    text = t("q_sharing_parts", name=escape(naaste.name) if naaste else "")
    return Reply(text, picto="sharing", speak=None if edit else plain(text), edit=edit,
                 buttons=(*rows, _row(session, ("btn_done", Action.NEXT),
                                      ("btn_back", Action.BACK))))


# --- the list: one text, one picture with the way on, its voice ----------------------
def _review(session: Session, answers: Answers) -> list[Reply]:
    shown = [(s.key, s.picto_key) for s in _REVIEW_PARTS]
    filled = [(key, picto, answers.items(key)) for key, picto in shown if answers.has(key)]
    skipped = [s for s in session.data.get("skipped", []) if not answers.has(s)]
    question = t("review_question")
    if skipped:  # offered once, as a count and a button (not listed twice)
        question += "\n" + (t("review_open_one") if len(skipped) == 1 else
                            t("review_open_count", count=len(skipped)))
    # The client's own voice messages and photos, to hear and see again (the part's picto
    # in front tells which part); more than nine: from "Iets veranderen".
    plays = _play_rows(session, [parts for _, _, items in filled for parts in items])
    rows = [*plays[:3], _row(session, ("btn_confirm", Action.CONFIRM)),
            _row(session, ("btn_change", Action.CHANGE))]
    if skipped:
        rows.append(_row(session, ("btn_open_questions", Action.OPEN_QUESTIONS)))
    if session.data.get("return_to"):
        rows.append(_row(session, ("btn_continue_questions", Action.CONTINUE_QUESTIONS)))
    if not filled:
        return [said(f"{t('review_empty')}\n\n{question}", picto="review",
                      buttons=tuple(rows))]
    blocks = [f"<b>{t('title_' + key)}</b>\n{_items_text(items)}" for key, _, items in filled]
    listing = f"<b>{t('review_intro')}</b>\n\n" + "\n\n".join(blocks)
    board = tuple(BoardRow(picto, t("title_" + key), plain(_items_words(items)))
                  for key, picto, items in filled)
    spoken = " ".join([t("review_intro")] + [
        f"{t('title_' + key)}: {plain(_items_words(items))}." for key, _, items in filled]
        + [plain(question)])
    return [Reply(listing),
            Reply(question, picto="review", board=board, speak=spoken, buttons=tuple(rows),
                  readback=True)]


@dataclass(frozen=True)
class _ReviewPart:
    key: str
    kind: str

    @property
    def picto_key(self) -> str:
        return "agenda_more" if self.key == EXTRA else self.key


_REVIEW_PARTS = [_ReviewPart(s.key, s.kind) for s in STEPS if s.in_review] + [
    _ReviewPart(EXTRA, "list")]
# Parts whose items can be changed one by one (the others are asked again).
ITEM_PARTS = frozenset(p.key for p in _REVIEW_PARTS if p.kind in {"open", "list"})


def _review_parts(session: Session, answers: Answers) -> Reply:
    """"Iets veranderen": every part as a button (with its picto), then the way back."""
    parts = [p for p in _REVIEW_PARTS if p.key != EXTRA or answers.has(EXTRA)]
    buttons = [Button(t("title_" + p.key), _data(session, Action.PART, p.key), p.picto_key)
               for p in parts]
    rows = [tuple(buttons[i:i + 2]) for i in range(0, len(buttons), 2)]
    return said(t("review_parts"), picto="review",
                 buttons=(*rows, _row(session, ("btn_to_list", Action.BACK))))


# Items per page when changing them: a list of any length stays a few messages.
PAGE = 8


def _review_items(session: Session, answers: Answers) -> list[Reply]:
    step = str(session.data.get("items_step", "agenda"))
    items = answers.items(step)
    page = min(int(session.data.get("page", 0)), max(len(items) - 1, 0) // PAGE)
    shown = items[page * PAGE:(page + 1) * PAGE]
    intro = t("review_items_intro", title=t("title_" + step))
    if len(items) > PAGE:
        intro += "\n" + t("review_items_page", first=page * PAGE + 1,
                          last=page * PAGE + len(shown), total=len(items))
    replies = [Reply(intro, picto="agenda_more" if step == EXTRA else step)]
    movable = step in {"agenda", EXTRA}  # an order matters for the topics only
    for parts in shown:
        item = str(parts[0].item)
        moves = [("btn_edit", Action.EDIT, item), ("btn_remove", Action.REMOVE, item)]
        if movable:
            moves.append(("btn_up", Action.UP, item))
        replies.append(Reply(_item_text(parts), buttons=(*_play_rows(session, [parts]),
                                                         _row(session, *moves))))
    pages = []
    if page > 0:
        pages.append(("btn_page_prev", Action.PAGE, str(page - 1)))
    if (page + 1) * PAGE < len(items):
        pages.append(("btn_page_next", Action.PAGE, str(page + 1)))
    rows = [_row(session, *pages)] if pages else []
    spoken = " ".join([plain(intro)] + [f"{n + 1}: {plain(_item_text(p))}."
                                        for n, p in enumerate(shown)]
                      + [t("review_items_end")])
    replies.append(Reply(t("review_items_end"), speak=spoken, readback=True, buttons=(
        *rows, _row(session, ("btn_add", Action.ADD), ("btn_to_list", Action.TO_LIST)))))
    return replies


def _play_rows(session: Session, items: list[list[AnswerView]]) -> list[tuple[Button, ...]]:
    """▶️ buttons that play a voice answer again (or show a photo), three to a row."""
    plays = tuple(Button(t("play_photo") if p.kind == "photo" else
                         t("play_voice", length=_length(p.duration) or "▶️"),
                         _data(session, Action.PLAY, str(p.id)),
                         "agenda_more" if p.step == EXTRA else p.step)
                  for parts in items for p in parts if p.file_id and p.kind in PLAYABLE)
    return [plays[i:i + 3] for i in range(0, len(plays), 3)]


PREFERENCES = {"speech": True, "slow": False, "reminders": True, "transcribe": True}
# Shown in /instellingen only where the organisation has a speech-to-text engine.
ONLY_WITH_ENGINE = ("transcribe",)


def next_round(session: Session, number: int) -> None:
    """A new round (the next meeting): the preparation starts again at the welcome; only
    the client's choices in /instellingen carry over."""
    kept = {name: session.data[name] for name in PREFERENCES if name in session.data}
    session.step, session.status, session.data = "welcome", "active", {**kept,
                                                                       "round": number}


def round_of(session: Session) -> int:
    """The round the client prepares (1 until the begeleider plans a next meeting)."""
    return int(session.data.get("round", 1))


def preference(session: Session, name: str) -> bool:
    """The client's choice in /instellingen (kept in the session data), else the default."""
    return bool(session.data.get(name, PREFERENCES[name]))


def _settings(session: Session, edit: bool, transcribing: bool = False) -> Reply:
    """How it is now in words; each button says what it will do."""
    names = [n for n in PREFERENCES if transcribing or n not in ONLY_WITH_ENGINE]
    now = {name: "on" if preference(session, name) else "off" for name in names}
    text = "\n".join([t("settings"), *(t(f"set_{name}_{now[name]}") for name in names)])
    flip = {"on": "off", "off": "on"}
    rows = tuple((Button(t(f"set_{name}_{now[name]}_do"),
                         _data(session, Action.SETTING, f"{name}.{flip[now[name]]}")),)
                 for name in names)
    return Reply(text, buttons=rows, edit=edit, speak=None if edit else plain(text))


def start_after_meeting(session: Session, answers: Answers) -> Outcome:
    """The day after the meeting: per own topic "was it talked about?", then feedback."""
    turn = Turn(FLOW, session, answers, Input("command", _now(), command="check"))
    session.status = "active"
    FLOW.fire(turn, "check")
    return turn.out


def reminder_buttons(session: Session) -> tuple[tuple[Button, ...], ...]:
    """Under a gentle reminder: go on where you were, or no more reminders."""
    return ((Button(t("button_reminder_go_on"), _data(session, Action.AGAIN)),),
            (Button(t("button_reminder_off"), _data(session, Action.SETTING, "reminders.off")),))


def after_meeting_report(name: str, answers: Answers) -> str:
    """What the client said after the meeting, for the begeleider."""
    topics = {parts[0].item: _item_text(parts) for parts in answers.items("agenda")}
    lines = [t("after_to_begeleider", name=escape(name))]
    for parts in answers.items("talked"):
        answer = parts[0].text
        lines.append(t("after_line", item=topics.get(parts[0].item, "?"),
                       answer=t(answer) if answer in TALKED else escape(answer)))
    feedback = answers.items("meeting_feedback")
    if feedback:
        lines.append(t("after_feedback", name=escape(name), feedback=_item_text(feedback[-1])))
    return "\n".join(lines)


def fixed_spoken_texts() -> list[str]:
    """Every spoken text that does not depend on a person (to warm the speech cache)."""
    keys = [f"q_{s.key}" for s in FLOW.question_steps if s.kind not in {"list", "share"}]
    keys += ["q_agenda", "q_agenda_next", "q_agenda_more", "q_agenda_domains", "done",
             "sharing_nobody", "q_feedback", "after_done", "review_parts", "stale_button",
             "paused", "stopped", "still_stopped"]
    texts = [plain(t(key)) for key in keys]
    # The follow-up after an answer, and the notes said before a question.
    texts += [plain(f"{t(ack)}\n{t('ack_more')}") for ack in dict.fromkeys(ACKS.values())]
    texts += [plain(f"{t(note)}\n\n{t(f'q_{s.key}')}") for note in ("skipped_note",)
              for s in FLOW.question_steps if s.kind == "open"]
    return texts + picto_mat.spoken_texts()


# --------------------------------------------------------------------------- helpers
def _question(session: Session, key: str, picto: str,
              *rows: tuple[Button, ...]) -> Reply:
    return said(t(key), picto=picto, buttons=tuple(rows))


def _moves(session: Session) -> tuple[tuple[Button, ...], ...]:
    return (_row(session, ("btn_skip", Action.SKIP), ("btn_back", Action.BACK)),
            _row(session, ("btn_again", Action.AGAIN), ("btn_pause", Action.PAUSE)))


# A button of a row: its label's text key, its action and (optionally) its argument.
RowButton = tuple[str, Action] | tuple[str, Action, str]


def _row(session: Session, *buttons: RowButton) -> tuple[Button, ...]:
    return tuple(Button(t(b[0]), _data(session, b[1], b[2] if len(b) > 2 else ""))
                 for b in buttons)


def _data(session: Session, action: Action, arg: str = "") -> str:
    return encode(session.seq, action, arg)


def _item_text(parts: list[AnswerView]) -> str:
    """Parts of one item: the rest of a text Telegram split joins without a space."""
    text = ""
    for index, part in enumerate(parts):
        glue = "" if index == 0 or len(parts[index - 1].text) >= SPLIT_LENGTH else " "
        text += glue + _part_text(part)
    return text.strip()


def _items_text(items: list[list[AnswerView]]) -> str:
    return "\n".join(f"• {_item_text(parts)}" for parts in items)


def _items_words(items: list[list[AnswerView]]) -> str:
    """Items on one line (the picture and the voice of the list)."""
    return "; ".join(_item_text(parts) for parts in items)


PLAYABLE = {"voice", "audio", "video", "video_note", "photo"}


def _length(seconds: float | None) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}" if seconds else ""


def _part_text(part: AnswerView) -> str:
    if part.kind == "choice":
        return escape(t(part.text)) if part.text else ""
    if part.kind in {"text", picto_mat.KIND}:  # a placed picture reads "Fijn: Koken"
        return escape(part.text)
    media = t(f"media_{part.kind}")
    length = f", {_length(part.duration)}" if part.duration else ""
    kept = f" {t('media_not_kept')}" if part.file_state == "not_kept" else ""
    caption = f" {escape(part.text)}" if part.text else ""
    words = part.confirmed_words
    heard = f" {escape(transcript.shown(words))}" if words else ""
    return f"[{media}{length}]{kept}{caption}{heard}"


def _now() -> datetime:
    return datetime.now(UTC)
