"""The dialog engine: a flow is data (steps), run by ONE shared `transitions` machine.

Per input the engine attaches a `Turn` (the model) to the machine at the stored step, fires a
trigger, detaches it, and hands back effects for the store and replies for the person. The
machine only knows states and triggers; what a trigger writes lives in the Turn's callbacks.

Buttons carry `<seq>:<action>[:<arg>]` (bot/dialogs/buttons.py): a button of an older
question (or a forged one) is refused and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from transitions import EventData, Machine, MachineError

from bot.dialogs.types import (
    AddPart,
    Answers,
    Effect,
    Input,
    KeepPrevious,
    MoveItemUp,
    RemoveItem,
    RemoveNaaste,
    RemoveTag,
    RestoreNaaste,
    Session,
    SetShare,
)

StepKind = Literal["intro", "open", "list", "choice", "multi", "share", "review", "check"]

# Where words sent outside a question are kept ("Ook gezegd"): an answer step of its own.
EXTRA = "extra"

# Telegram splits a long text at 4,096 characters; the rest follows at once.
SPLIT_LENGTH = 4000
SPLIT_SECONDS = 5

# Triggers that leave a step for the next one: they return to the review when the client
# came to this step from the review.
LEAVING = ("next", "skip", "choose")


@dataclass(frozen=True)
class Step:
    key: str
    kind: StepKind
    options: tuple[str, ...] = ()
    in_review: bool = True

    @property
    def states(self) -> tuple[str, ...]:
        if self.kind == "list":
            return (self.key, f"{self.key}_more", f"{self.key}_domains", f"{self.key}_domain")
        if self.kind == "review":
            return ("review", "review_parts", "review_items", "review_edit", "review_add",
                    "done")
        if self.kind == "share":
            return (self.key, f"{self.key}_naaste", f"{self.key}_parts", f"{self.key}_remove")
        if self.kind == "check":
            return (self.key, "feedback")
        return (self.key,)


@dataclass
class Outcome:
    """What one input did: effects to store, and what to tell the person."""

    effects: list[Effect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # text keys, said before the question
    values: dict[str, str] = field(default_factory=dict)  # filled into the notes, e.g. a name
    ask: bool = False  # (re)ask the current question with fresh buttons
    stale: bool = False
    show: str = ""  # an extra screen: "settings", or "play:<answer id>"
    unchanged: bool = False  # a press that changes nothing (e.g. "Alles" when all is on)
    feedback_given: bool = False  # the client just said how the meeting went


class Turn:
    """The machine's model for one input: reads the session, collects the outcome."""

    state: str

    def __init__(self, flow: Flow, session: Session, answers: Answers, inp: Input) -> None:
        self.flow = flow
        self.session = session
        self.answers = answers
        self.input = inp
        self.out = Outcome()

    # --- conditions -------------------------------------------------------------------
    def is_returning(self, event: EventData) -> bool:
        return bool(self.session.data.get("returning"))

    # --- callbacks (named in the transitions) -----------------------------------------
    def record(self, event: EventData) -> None:
        """A message answers the current step: each message is an item of its own ("koken",
        then "fietsen" are two). Coming back from the list to answer again replaces it."""
        step = self.flow.step_of(_source(event))
        if self.session.data.pop("replace", None) == step.key:
            self.out.effects += [RemoveItem(step.key, parts[0].item)
                                 for parts in self.answers.items(step.key)
                                 if parts[0].kind != "choice"]
        self._add(step.key, None)
        self.out.notes.append(self._ack())

    def keep_extra(self, event: EventData | None = None) -> None:
        """Words sent where no question is open (the welcome, the sharing screens, after
        /stop, on coming back, someone else's forwarded words): kept under "Ook gezegd",
        where the list and the agenda show them, and the person is told so."""
        self._add(EXTRA, None, tag="forwarded" if self.input.forwarded else None)
        self.out.notes.append("kept_forwarded" if self.input.forwarded else "kept_extra")

    def skip_sharing(self, event: EventData) -> None:
        self.out.notes.append("sharing_skipped")

    def join_split(self) -> bool:
        """The rest of a long text that Telegram split in two: joined to the part before,
        wherever that went (an answer, a topic, "Ook gezegd"), whatever the step is now."""
        last = self.session.data.get("last_text")
        inp = self.input
        if not (inp.kind == "text" and last and last["length"] >= SPLIT_LENGTH
                and 0 <= inp.sent_at.timestamp() - last["at"] <= SPLIT_SECONDS):
            return False
        self._add(str(last["step"]), int(last["item"]))
        return True

    def record_item(self, event: EventData) -> None:
        """A message is a new list item."""
        step = self.flow.step_of(_source(event))
        tag = self.session.data.pop("domain", None) if _source(event).endswith("_domain") else None
        self._add(step.key, None, tag=tag)
        self.out.notes.append(self._ack())

    def record_choice(self, event: EventData) -> None:
        """One option of a choice: the earlier choice goes, words said there stay."""
        step = self.flow.step_of(_source(event))
        option = str(event.kwargs.get("arg", ""))
        self.out.effects += [RemoveTag(step.key, tag) for tag in self.answers.tags(step.key)]
        self.out.effects.append(AddPart(step.key, None, "choice", option, tag=option))
        self._answered(step.key)

    def pick_naaste(self, event: EventData) -> None:
        self.session.data["naaste"] = int(event.kwargs.get("arg", 0))

    def flip_share(self, event: EventData) -> None:
        naaste = int(self.session.data.get("naaste", 0))
        part = str(event.kwargs.get("arg", ""))
        shared = self.answers.shares.get(naaste, set())
        self.out.effects.append(SetShare(naaste, part, part not in shared))

    def share_simply(self, event: EventData) -> None:
        """The simple choice: everything, only the topics, or nothing."""
        naaste = int(self.session.data.get("naaste", 0))
        wanted = {"share_all": set(self.flow.shareable), "share_topics": {self.flow.topics},
                  "share_none": set()}[event.event.name]
        shared = self.answers.shares.get(naaste, set())
        for part in self.flow.shareable:
            if (part in shared) != (part in wanted):
                self.out.effects.append(SetShare(naaste, part, part in wanted))
        self.out.notes.append(f"sharing_set_{event.event.name[6:]}")
        self.out.values["name"] = self._naaste_name(naaste)

    def drop_naaste(self, event: EventData) -> None:
        """Removing a naaste (after "are you sure?"); the next screen can undo it."""
        naaste = int(self.session.data.pop("naaste", 0))
        self.out.effects.append(RemoveNaaste(naaste))
        self.out.notes.append("sharing_removed")
        self.out.values["name"] = self._naaste_name(naaste)
        self.session.data["removed"] = {"id": naaste, "name": self.out.values["name"]}

    def restore_naaste(self, event: EventData) -> None:
        removed = self.session.data.pop("removed", None) or {}
        self.out.effects.append(RestoreNaaste(int(removed.get("id", 0))))
        self.out.notes.append("sharing_restored")
        self.out.values["name"] = str(removed.get("name", ""))

    def removed_one(self, event: EventData) -> bool:
        return bool(self.session.data.get("removed"))

    def _naaste_name(self, naaste: int) -> str:
        return next((n.name for n in self.answers.naasten if n.id == naaste), "")

    def toggle_option(self, event: EventData) -> None:
        step = self.flow.step_of(_source(event))
        option = str(event.kwargs.get("arg", ""))
        if option in self.answers.tags(step.key):
            self.out.effects.append(RemoveTag(step.key, option))
        else:
            self.out.effects.append(AddPart(step.key, None, "choice", option, tag=option))
        self._answered(step.key)

    def remember_domain(self, event: EventData) -> None:
        self.session.data["domain"] = str(event.kwargs.get("arg", ""))

    def forget_domain(self, event: EventData) -> None:
        """The domain's pictures are placed: the next topic starts without a domain."""
        self.session.data.pop("domain", None)
        self._answered(self.flow.step_of(_source(event)).key)

    def offer_help(self, event: EventData) -> None:
        """Skipping the agenda first shows the life domains: the most important step is
        not skipped by one wrong tap."""
        self.out.notes.append("help_offered")

    def keep_previous(self, event: EventData) -> None:
        step = self.flow.step_of(_source(event)).key
        self.out.effects.append(KeepPrevious(step))
        self.out.notes.append("kept_previous")

    def forget_previous(self, event: EventData) -> None:
        """"Nee, nu anders": the question again, without last time's answer."""
        step = self.flow.step_of(_source(event)).key
        forgotten = self.session.data.setdefault("not_previous", [])
        if step not in forgotten:
            forgotten.append(step)
        self.out.ask = True

    def mark_skipped(self, event: EventData) -> None:
        step = self.flow.step_of(_source(event)).key
        skipped = self.session.data.setdefault("skipped", [])
        if step not in skipped and not self.answers.has(step):
            skipped.append(step)
        self.out.notes.append("skipped_note")

    def start_change(self, event: EventData) -> None:
        target = str(event.kwargs.get("target", ""))
        self.session.data["returning"] = bool(event.kwargs.get("returning", True))
        if self.session.data["returning"]:
            self.session.data["replace"] = target
        else:  # back to the questions where the client left them for the list
            self.session.data.pop("return_to", None)

    def stop_returning(self, event: EventData) -> None:
        self.session.data.pop("returning", None)
        self.session.data.pop("replace", None)

    def remember_return(self, event: EventData) -> None:
        source = _source(event)
        if source not in {"done", "review_parts", "review_items", "review_edit", "review_add"}:
            self.session.data["return_to"] = self.flow.step_of(source).key

    def remember_target(self, event: EventData) -> None:
        self.session.data["target"] = int(event.kwargs.get("arg", 0))

    def open_items(self, event: EventData) -> None:
        """The items of one part (the topics, an open question, "Ook gezegd") to change,
        from its first page."""
        self.session.data["items_step"] = str(event.kwargs.get("arg") or self.flow.topics)
        self.session.data["page"] = 0

    def turn_page(self, event: EventData) -> None:
        self.session.data["page"] = int(event.kwargs.get("arg", 0))

    def items_step(self) -> str:
        return str(self.session.data.get("items_step", self.flow.topics))

    def replace_item(self, event: EventData) -> None:
        item = int(self.session.data.pop("target", 0))
        self._add(self.items_step(), item, replace=True)
        self.out.notes.append("ack_changed")

    def add_item(self, event: EventData) -> None:
        review = _source(event) in {"review", "review_parts"}
        step = self.flow.topics if review else self.items_step()
        self._add(step, None)
        self.out.notes.append(self._ack())

    def add_after_done(self, event: EventData) -> None:
        self._add(self.flow.topics, None)
        self.out.notes.append("ack_added_after_done")

    def remove_item(self, event: EventData) -> None:
        self.out.effects.append(RemoveItem(self.items_step(), int(event.kwargs.get("arg", 0))))
        self.out.notes.append("ack_removed")

    def move_up(self, event: EventData) -> None:
        self.out.effects.append(MoveItemUp(self.items_step(), int(event.kwargs.get("arg", 0))))
        self.out.notes.append("ack_moved")

    def finish(self, event: EventData) -> None:
        self.session.data.pop("return_to", None)

    # --- after the meeting: per own topic "was it talked about?", then feedback -------
    def start_check(self, event: EventData) -> None:
        self.session.data["check"] = [parts[0].item
                                      for parts in self.answers.items(self.flow.topics)]

    def has_topics(self, event: EventData) -> bool:
        return bool(self.session.data.get("check"))

    def record_talk(self, event: EventData) -> None:
        pending = self.session.data.get("check") or [0]
        item = int(pending.pop(0))
        option = str(event.kwargs.get("arg", "")) or "talked_text"
        text = option if option != "talked_text" else self.input.text
        kind = "choice" if option != "talked_text" else self.input.kind
        step = self.flow.step_of(_source(event)).key
        self.out.effects.append(AddPart(step, item, kind, text, tag=option, replace=True))

    def more_topics(self, event: EventData) -> bool:
        return len(self.session.data.get("check") or []) > 1

    def record_feedback(self, event: EventData) -> None:
        self._add(self.flow.feedback, None)
        self.out.feedback_given = True

    # --- helpers ----------------------------------------------------------------------
    def _add(self, step: str, item: int | None, tag: str | None = None,
             replace: bool = False) -> None:
        inp = self.input
        self.out.effects.append(AddPart(
            step, item, inp.kind, inp.text, tag=tag, file_id=inp.file_id,
            file_unique_id=inp.file_unique_id, duration=inp.duration,
            message_id=inp.message_id, replace=replace,
        ))
        if inp.kind == "text":
            self.session.data["last_text"] = {
                "step": step, "item": item if item is not None else self._next_item(step),
                "length": len(inp.text), "at": inp.sent_at.timestamp(),
            }
        else:
            self.session.data.pop("last_text", None)
        self._answered(step)

    def _next_item(self, step: str) -> int:
        """The number the store gives a new item: one above the current last."""
        items = self.answers.items(step)
        return (items[-1][0].item + 1) if items else 1

    def _answered(self, step: str) -> None:
        skipped = self.session.data.get("skipped", [])
        if step in skipped:
            skipped.remove(step)

    def _ack(self) -> str:
        return ACKS.get(self.input.kind, "ack_text")


# "Dank je." fitting what was sent.
ACKS = {"text": "ack_text", "voice": "ack_voice", "audio": "ack_voice", "photo": "ack_photo",
        "video": "ack_video", "video_note": "ack_video"}


class Flow:
    """Steps as data → one machine for everybody in this flow."""

    def __init__(self, name: str, steps: list[Step], shareable: tuple[str, ...] = (),
                 feedback: str = "feedback") -> None:
        self.name = name
        self.steps = steps
        self.shareable = shareable
        self.feedback = feedback  # where the words after the meeting are kept
        # The topics: the flow's list step (what the review's items and "add" are about).
        self.topics = next((s.key for s in steps if s.kind == "list"), "")
        # The day after the meeting: "was it talked about?" per topic (the check step).
        self.check_step = next((s.key for s in steps if s.kind == "check"), "")
        self._by_state = {state: step for step in steps for state in step.states}
        self.machine = Machine(
            model=None,
            states=list(self._by_state),
            initial=steps[0].key,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for args in self._transitions():
            self.machine.add_transition(**args)

    # --- structure --------------------------------------------------------------------
    def step_of(self, state: str) -> Step:
        return self._by_state[state]

    @property
    def question_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind not in {"intro", "review", "check"}]

    def _transitions(self) -> Iterator[dict[str, Any]]:
        review_steps = [s for s in self.steps if s.kind == "review"]
        has_review = bool(review_steps)
        for index, step in enumerate(self.steps):
            nxt = self.steps[index + 1].key if index + 1 < len(self.steps) else None
            prev = self.steps[index - 1].key if index > 0 else None
            yield from self._step_transitions(step, prev, nxt, has_review)
        if has_review:
            yield from self._review_transitions()

    def _leave(self, trigger: str, source: str, dest: str | None,
               before: str | None = None) -> Iterator[dict[str, Any]]:
        """A leaving trigger goes back to the review when the client came from there."""
        callbacks = [before] if before else []
        if dest is None:
            return
        if dest != "review" and "review" in self._by_state:
            yield {"trigger": trigger, "source": source, "dest": "review",
                   "conditions": "is_returning", "before": callbacks,
                   "after": "stop_returning"}
        yield {"trigger": trigger, "source": source, "dest": dest, "before": callbacks}

    def _step_transitions(self, step: Step, prev: str | None, nxt: str | None,
                          has_review: bool) -> Iterator[dict[str, Any]]:
        key = step.key
        back = [{"trigger": "back", "source": key, "dest": prev}] if prev else []
        if step.kind == "intro":
            yield {"trigger": "next", "source": key, "dest": nxt}
            yield {"trigger": "answer", "source": key, "dest": None, "before": "keep_extra"}
        elif step.kind == "open":
            yield {"trigger": "answer", "source": key, "dest": None, "before": "record"}
            yield from self._leave("next", key, nxt)
            yield from self._leave("skip", key, nxt, "mark_skipped")
            # From the second round: last time's answer, "Klopt dit nog?" (yes / no).
            yield from self._leave("keep", key, nxt, "keep_previous")
            yield {"trigger": "not_anymore", "source": key, "dest": None,
                   "before": "forget_previous"}
            yield from back
        elif step.kind == "choice":
            yield from self._leave("choose", key, nxt, "record_choice")
            yield from self._leave("next", key, nxt)
            yield {"trigger": "answer", "source": key, "dest": None, "before": "record"}
            yield from self._leave("skip", key, nxt, "mark_skipped")
            yield from back
        elif step.kind == "multi":
            yield {"trigger": "toggle", "source": key, "dest": None,
                   "before": "toggle_option"}
            yield {"trigger": "answer", "source": key, "dest": None, "before": "record"}
            yield from self._leave("next", key, nxt)
            yield from self._leave("skip", key, nxt, "mark_skipped")
            yield from back
        elif step.kind == "share":
            # A naaste: first a simple choice, the parts one by one only when asked;
            # removing asks once more and can be undone.
            one, parts, remove = f"{key}_naaste", f"{key}_parts", f"{key}_remove"
            yield {"trigger": "pick", "source": key, "dest": one, "before": "pick_naaste"}
            for name in ("share_all", "share_topics", "share_none"):
                yield {"trigger": name, "source": one, "dest": key, "before": "share_simply"}
            yield {"trigger": "own", "source": one, "dest": parts}
            yield {"trigger": "toggle_share", "source": parts, "dest": None,
                   "before": "flip_share"}
            yield {"trigger": "next", "source": parts, "dest": key}
            yield {"trigger": "remove_naaste", "source": one, "dest": remove}
            yield {"trigger": "confirm_remove", "source": remove, "dest": key,
                   "before": "drop_naaste"}
            yield {"trigger": "restore", "source": key, "dest": None,
                   "conditions": "removed_one", "before": "restore_naaste"}
            yield {"trigger": "back", "source": [parts, remove], "dest": one}
            yield {"trigger": "back", "source": one, "dest": key}
            yield {"trigger": "answer", "source": [key, one, parts, remove], "dest": None,
                   "before": "keep_extra"}
            yield from self._leave("next", key, nxt)
            # Not an open question: nothing is shared until the client chooses (/delen).
            yield from self._leave("skip", key, nxt, "skip_sharing")
            yield from back
        elif step.kind == "check":
            for trigger in ("talk", "answer"):
                yield {"trigger": trigger, "source": key, "dest": None,
                       "conditions": "more_topics", "before": "record_talk"}
                yield {"trigger": trigger, "source": key, "dest": "feedback",
                       "before": "record_talk"}
            yield {"trigger": "answer", "source": "feedback", "dest": "done",
                   "before": "record_feedback"}
            yield {"trigger": "skip", "source": "feedback", "dest": "done"}
            entry = [s for s in self._by_state if s not in step.states]
            yield {"trigger": "check", "source": entry, "dest": key,
                   "conditions": "has_topics", "before": "stop_returning",
                   "prepare": "start_check"}
            yield {"trigger": "check", "source": entry, "dest": "feedback",
                   "before": "stop_returning"}
        elif step.kind == "list":
            more, domains, domain = f"{key}_more", f"{key}_domains", f"{key}_domain"
            yield {"trigger": "answer", "source": [key, more, domains, domain], "dest": more,
                   "before": "record_item"}
            yield {"trigger": "dont_know", "source": [key, more], "dest": domains}
            yield {"trigger": "choose", "source": domains, "dest": domain,
                   "before": "remember_domain"}
            yield {"trigger": "more", "source": more, "dest": key}
            for source in (key, more, domains):
                yield from self._leave("next", source, nxt)
            yield {"trigger": "skip", "source": key, "dest": domains, "before": "offer_help"}
            yield from self._leave("skip", domains, nxt, "mark_skipped")
            yield {"trigger": "skip", "source": domain, "dest": domains}
            yield {"trigger": "pictured", "source": domain, "dest": more,
                   "before": "forget_domain"}
            yield from back
            yield {"trigger": "back", "source": [more, domains], "dest": key}
            yield {"trigger": "back", "source": domain, "dest": domains}

    def _review_transitions(self) -> Iterator[dict[str, Any]]:
        yield {"trigger": "confirm", "source": "review", "dest": "done", "before": "finish"}
        # "Iets veranderen": one menu of the parts, leading to a question or its items.
        yield {"trigger": "menu", "source": "review", "dest": "review_parts"}
        yield {"trigger": "back", "source": "review_parts", "dest": "review"}
        for step in self.steps:  # the intro too: back to the questions from the very start
            if step.kind in {"intro", "open", "choice", "multi", "list", "share"}:
                yield {"trigger": "change", "source": ["review", "review_parts"],
                       "dest": step.key, "conditions": [_target_is(step.key)],
                       "before": "start_change"}
        yield {"trigger": "items", "source": ["review", "review_parts"], "dest": "review_items",
               "before": "open_items"}
        yield {"trigger": "page", "source": "review_items", "dest": None,
               "before": "turn_page"}
        yield {"trigger": "answer", "source": ["review", "review_parts", "review_items"],
               "dest": "review_items", "before": "add_item"}
        yield {"trigger": "edit", "source": "review_items", "dest": "review_edit",
               "before": "remember_target"}
        yield {"trigger": "remove", "source": "review_items", "dest": None,
               "before": "remove_item"}
        yield {"trigger": "up", "source": "review_items", "dest": None, "before": "move_up"}
        yield {"trigger": "add", "source": "review_items", "dest": "review_add"}
        yield {"trigger": "answer", "source": "review_edit", "dest": "review_items",
               "before": "replace_item"}
        yield {"trigger": "answer", "source": "review_add", "dest": "review_items",
               "before": "add_item"}
        yield {"trigger": "back", "source": ["review_edit", "review_add"],
               "dest": "review_items"}
        yield {"trigger": "answer", "source": "done", "dest": None, "before": "add_after_done"}
        others = [s for s in self._by_state if s != "review"]
        yield {"trigger": "to_list", "source": others, "dest": "review",
               "before": ["stop_returning", "remember_return"]}
        for step in self.steps:
            if step.kind == "share":
                sources = [s for s in self._by_state if s not in step.states]
                yield {"trigger": "to_sharing", "source": sources, "dest": step.key,
                       "before": ["stop_returning", "remember_return"]}

    # --- running ----------------------------------------------------------------------
    def fire(self, turn: Turn, trigger: str, **kwargs: Any) -> bool:
        """Fire `trigger` for this turn at its stored step. False if it does not apply."""
        return fire(self.machine, turn, trigger, **kwargs)

    def triggers(self, state: str) -> list[str]:
        return list(self.machine.get_triggers(state))

    def mermaid(self) -> str:
        """The machine as a Mermaid state diagram (generated, so it cannot drift)."""
        return mermaid(self.machine, self.steps[0].key)


def fire(machine: Machine, turn: Any, trigger: str, **kwargs: Any) -> bool:
    """Fire `trigger` of the shared machine for `turn` at its stored step. Sets
    `turn.session.step` and `turn.out.ask` when it moved.

    The turn is not added to the machine as a model: adding one binds a method per trigger
    and per state to it (a tenth of an update's CPU); the machine's event takes any object
    with a `state` and the callbacks it names."""
    event = machine.events.get(trigger)
    if event is None or turn.session.step not in event.transitions:
        return False
    turn.state = turn.session.step
    try:
        fired = bool(event.trigger(turn, **kwargs))
    except MachineError:
        return False
    if fired:
        turn.session.step = turn.state
        turn.out.ask = True
    return fired


def mermaid(machine: Machine, initial: str) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {initial}"]
    seen: set[str] = set()
    for name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                line = f"    {source} --> {transition.dest or source} : {name}"
                if line not in seen:
                    seen.add(line)
                    lines.append(line)
    return "\n".join(lines) + "\n"


def _source(event: EventData) -> str:
    assert event.transition is not None
    return str(event.transition.source)


def _target_is(key: str) -> Callable[[EventData], bool]:
    return lambda event: event.kwargs.get("target") == key
