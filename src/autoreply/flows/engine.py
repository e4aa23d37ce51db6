"""The conversation engine: one pure, deterministic turn of a flow (no I/O, no clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jinja2 import Template

from autoreply.domain import booking
from autoreply.domain.analysis import Analysed
from autoreply.domain.calendar import format_when
from autoreply.domain.casestudies import CaseMatch
from autoreply.domain.promise import follow_up
from autoreply.domain.timing import (
    Step as TimingStep,
)
from autoreply.domain.timing import (
    Timing,
    TimingBucket,
    parse_timing,
    short_range,
    timing_from_bucket,
)
from autoreply.domain.topics import normalize
from autoreply.errors import FlowRuntimeError
from autoreply.flows.answers import clean_answer, contact_field, label_of, match_choice
from autoreply.flows.facts import LEAD_SLOT_TYPES, lead_score, reachable
from autoreply.flows.intents import IntentMatcher, IntentName
from autoreply.flows.loader import Flow
from autoreply.flows.reach import OfferReach
from autoreply.flows.spec import (
    AskStep,
    BranchElse,
    BranchStep,
    EndStep,
    GotoStep,
    HandoffStep,
    OfferSlotsStep,
    RecommendStep,
    SayStep,
    SetStep,
    SlotType,
)
from autoreply.flows.turns import (
    Book,
    CasesSent,
    Choices,
    Confirm,
    Context,
    Effect,
    Ended,
    Handoff,
    Inbound,
    LeadUpdate,
    OptIn,
    Option,
    OptOut,
    Release,
    Reply,
    SlotOption,
    SlotPicker,
    State,
    Text,
    Turn,
    cards_of,
)

__all__ = ["DECLINE", "Engine"]

DECLINE = "decline"
MAX_STEPS_PER_TURN = 200


@dataclass
class _Run:
    """A turn in progress (mutable scratch; the result is frozen)."""

    flow: Flow
    ctx: Context
    state: State
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    last_cases: list[CaseMatch] = field(default_factory=list)
    analysed: dict[str, Analysed] = field(default_factory=dict)
    """Messages analysed in this turn: an answer read for topics, then for case studies."""


class Engine:
    """Runs turns of one compiled flow. Build once per flow; ``turn`` is pure."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._reach = OfferReach(flow)
        intents = flow.spec.intents
        self.intents = IntentMatcher(
            {
                "human": intents.human.phrases,
                "stop": intents.stop.phrases,
                "restart": intents.restart.phrases,
            }
        )

    # -- entry point ----------------------------------------------------------------

    def turn(self, state: State, event: Inbound, ctx: Context) -> Turn:
        """Apply one inbound event to a conversation state; pure and deterministic.

        ``Inbound("start")`` greets and walks to the first question; text, choice and
        slot events answer the step the conversation waits on; global intents (a person,
        stop, start over) are recognised first, at any step.

        ``start`` begins from ``state`` as the channel prepared it: empty for a new chat,
        or what a form already told (slots, topics, case studies sent), so that questions
        with ``skip_if_known`` are not asked again.
        """
        run = _Run(self.flow, ctx, state)
        if event.kind == "start":
            run.state = self._begin(ctx, state)
            self._go(run, self.flow.start)
        elif event.kind == "slot_taken":
            self._slot_taken(run)
        else:
            self._answer(run, event)
        return Turn(state=run.state, replies=tuple(run.replies), effects=tuple(run.effects))

    def may_need_slots(self, state: State, event: Inbound) -> bool:
        """Whether this turn could offer or book a meeting slot (so the caller must load
        reps and bookings into the context); False lets most turns skip that work.

        Conservative: it follows every way the flow could go until a question that waits
        for the lead. A question with ``skip_if_known`` is passed over only if its slot can
        be known then: filled already (or by this very answer), or, when the state is made
        anew (start, start over), a lead fact such as the name.
        """
        lead_slots = frozenset(
            n
            for n, spec in self.flow.spec.slots.items()
            if spec.type in LEAD_SLOT_TYPES or spec.type is SlotType.CONTACT
        )
        if event.kind == "start":
            return self._reach.reaches(self.flow.start, lead_slots | set(state.slots))
        waiting = self.flow.spec.steps.get(state.step or "")
        if isinstance(waiting, OfferSlotsStep):
            return True
        if event.kind == "text" and state.status != "opted_out":
            intent = self.intents.match(event.text)
            if intent is not None:
                spec = getattr(self.flow.spec.intents, intent)
                target = spec.goto or (self.flow.start if intent == "restart" else None)
                known = lead_slots if intent == "restart" else frozenset(state.slots)
                return target is not None and self._reach.reaches(target, known)
        if not isinstance(waiting, AskStep) or state.step is None:
            return False
        known = frozenset({*state.slots, waiting.ask})
        after = [waiting.next or self.flow.successor.get(state.step), waiting.on_fail]
        return any(self._reach.reaches(t, known) for t in after if t)

    def refusal(self, state: State, event: Inbound) -> str | None:
        """Why a tap cannot apply to this state (None when it can); typed text always can.

        Channels with buttons use it to answer a stale or forged tap with an error
        instead of treating it as an unreadable answer.
        """
        if event.kind not in ("choice", "slot"):
            return None
        step = self.flow.spec.steps.get(state.step or "")
        if state.status != "active" or step is None:
            return "the conversation is not waiting for an answer"
        if event.kind == "choice":
            if isinstance(step, AskStep) and any(c.value == event.value for c in step.choices):
                return None
            if isinstance(step, AskStep) and state.confirming is not None:
                offered = self._confirm_options(Timing.from_dict(state.confirming))
                if any(o.value == event.value for o in offered):
                    return None
            return f"unknown choice {event.value!r}"
        if isinstance(step, OfferSlotsStep) and (
            event.value == DECLINE or event.value in state.offered
        ):
            return None
        return f"slot {event.value!r} is not on offer"

    def _begin(self, ctx: Context, prepared: State) -> State:
        """The state a conversation starts from: what is known about the lead, plus what
        the channel prepared (a form's answers win over older facts)."""
        return State(
            slots={**self._fresh(ctx).slots, **prepared.slots},
            topics=prepared.topics,
            tags=prepared.tags,
            points=prepared.points,
            cases_sent=prepared.cases_sent,
            booking=prepared.booking,
            handoff=prepared.handoff,
        )

    def _fresh(self, ctx: Context, before: State | None = None) -> State:
        """A new state, with slots already known about the lead filled in.

        Starting over forgets the answers, not what happened: a booking stays booked and
        case studies already sent are not sent again.
        """
        known: dict[str, Any] = {}
        for name, spec in self.flow.spec.slots.items():
            field_name = LEAD_SLOT_TYPES.get(spec.type)
            if field_name and ctx.lead.get(field_name):
                known[name] = ctx.lead[field_name]
            elif spec.type is SlotType.CONTACT and (ctx.lead.get("email") or ctx.lead.get("phone")):
                known[name] = ctx.lead.get("email") or ctx.lead["phone"]
        if before is None:
            return State(slots=known)
        return State(
            slots=known,
            booking=before.booking,
            cases_sent=before.cases_sent,
            handoff=before.handoff,
        )

    def _answer(self, run: _Run, event: Inbound) -> None:
        state = run.state
        intent = self.intents.match(event.text) if event.kind == "text" else None
        if state.status == "opted_out":
            if intent in ("human", "restart"):
                # Asking for a person or to start over is the lead coming back on their own.
                run.effects.append(OptIn())
                run.state = state.evolve(status="ended")
                self._intent(run, intent)
            elif intent == "stop":
                self._say(run, ("intents", "stop", "say"))
            return  # anything else after opting out is stored but not answered
        if intent is not None:
            self._intent(run, intent)
            return
        if state.status != "active" or state.step is None:
            self._say(run, ("messages", "after_end"))
            return
        step = self.flow.spec.steps.get(state.step)
        if isinstance(step, AskStep) and state.confirming is not None:
            self._confirm_answer(run, state.step, step, event)
        elif isinstance(step, AskStep):
            self._ask_answer(run, state.step, step, event)
        elif isinstance(step, OfferSlotsStep):
            self._offer_answer(run, state.step, step, event)
        else:
            # The flow was republished and the step this conversation waited on is gone or
            # no longer a question: hand off what was collected instead of guessing.
            self._say(run, ("messages", "after_end"))
            run.state = state.evolve(
                status="ended", step=None, offered=(), handoff=state.handoff or "flow_changed"
            )
            run.effects.extend([Handoff(run.state.handoff or "flow_changed"), Ended()])

    # -- intents ----------------------------------------------------------------------

    def _intent(self, run: _Run, intent: IntentName) -> None:
        spec = getattr(self.flow.spec.intents, intent)
        if intent == "restart":
            self._say(run, ("intents", "restart", "say"))
            run.state = self._fresh(run.ctx, run.state)
            self._go(run, spec.goto or self.flow.start)
            return
        if intent == "stop":
            self._say(run, ("intents", "stop", "say"))
            run.state = run.state.evolve(status="opted_out", step=None, offered=())
            run.effects.append(OptOut())
            return
        run.state = run.state.evolve(handoff="asked_for_human")
        run.effects.append(Handoff("asked_for_human"))
        self._say(run, ("intents", "human", "say"))
        if spec.goto:
            # Continues even after the end: the step may ask how to reach the lead.
            run.state = run.state.evolve(status="active", offered=())
            self._go(run, spec.goto)
        else:
            run.state = run.state.evolve(status="ended", step=None, offered=())
            run.effects.append(Ended())

    # -- walking the flow ---------------------------------------------------------------

    def _go(self, run: _Run, step_id: str | None) -> None:
        for _ in range(MAX_STEPS_PER_TURN):
            if step_id is None:
                raise FlowRuntimeError("the flow ran off its end")
            step = self.flow.step(step_id)
            base = ("steps", step_id)
            nxt = self.flow.successor.get(step_id)
            if isinstance(step, AskStep):
                if step.skip_if_known and run.state.slots.get(step.ask) not in (None, ""):
                    step_id = nxt
                    continue
                run.state = run.state.evolve(step=step_id, tries=0)
                self._ask_prompt(run, step_id, step, ("steps", step_id, "say"))
                return
            if isinstance(step, OfferSlotsStep):
                if run.state.booking is not None:  # booked already (e.g. before starting over)
                    step_id = nxt
                    continue
                if run.ctx.lead_booking is not None:  # one person, one meeting at a time
                    self._say(run, (*base, "already_booked"))
                    step_id = step.on_booked or step.on_decline or nxt
                    continue
                if self._offer(run, step_id, step, ("steps", step_id, "say")):
                    return
                step_id = step.on_decline or nxt
                continue
            if isinstance(step, BranchStep):
                step_id = self._branch(run, step_id, step)
                continue
            if isinstance(step, EndStep):
                self._say(run, (*base, "say"))
                run.state = run.state.evolve(status="ended", step=None, offered=())
                run.effects.append(Ended())
                return
            if isinstance(step, RecommendStep):
                self._recommend(run, step_id, step)  # says its intro once the cases are known
                step_id = nxt
                continue
            if not (isinstance(step, HandoffStep) and step.confirm_booking):
                self._say(run, (*base, "say"))
            if isinstance(step, SetStep):
                self._set(run, step)
            elif isinstance(step, HandoffStep):
                if step.confirm_booking:
                    if not self._confirm(run):
                        return  # the held slot is gone: slots are offered again
                    self._say(run, (*base, "say"))
                run.state = run.state.evolve(handoff=step.handoff)
                run.effects.append(Handoff(step.handoff))
            elif isinstance(step, GotoStep):
                nxt = step.goto
            elif not isinstance(step, SayStep):  # pragma: no cover
                raise FlowRuntimeError(f"unknown step {step_id!r}")
            step_id = nxt
        raise FlowRuntimeError(f"more than {MAX_STEPS_PER_TURN} steps without input")

    def _branch(self, run: _Run, step_id: str, step: BranchStep) -> str:
        variables = self._variables(run)
        for i, rule in enumerate(step.branch):
            if isinstance(rule, BranchElse):
                return rule.else_
            condition = self.flow.conditions[("steps", step_id, "branch", i, "if")]
            if condition(**variables):
                return rule.goto
        raise FlowRuntimeError(f"branch {step_id!r} has no else")  # pragma: no cover

    def _set(self, run: _Run, step: SetStep) -> None:
        spec = step.set
        tags = [t for t in run.state.tags if t not in spec.remove_tags]
        tags.extend(t for t in spec.tags if t not in tags)
        points = run.state.points
        if spec.score:
            points = (*points, (spec.reason or ",".join(spec.tags) or "flow", spec.score))
        run.state = run.state.evolve(tags=tuple(tags), points=points)

    @staticmethod
    def _analysed(run: _Run, text: str) -> Analysed:
        """``text`` tokenised once per turn (the analyser is the costly part of matching)."""
        found = run.analysed.get(text)
        if found is None:
            found = run.analysed[text] = run.ctx.vocabulary.analyse(text)
        return found

    def _recommend(self, run: _Run, step_id: str, step: RecommendStep) -> None:
        base = ("steps", step_id)
        query = self._render(run, (*base, "recommend", "query"))
        industry = self._render(run, (*base, "recommend", "industry")) or run.ctx.lead.get(
            "industry"
        )
        matches = run.ctx.library.match(
            self._analysed(run, query),
            topics=run.state.topics,
            industry=industry or None,
            limit=step.recommend.limit,
            min_score=step.recommend.min_score,
            exclude=run.state.cases_sent,
        )
        if not matches:
            self._say(run, (*base, "empty"))
            return
        run.last_cases = matches
        self._say(run, (*base, "say"))
        run.replies.append(cards_of(matches, self.flow.locale))
        ids = tuple(m.case.id for m in matches)
        run.state = run.state.evolve(cases_sent=(*run.state.cases_sent, *ids))
        run.effects.append(CasesSent(ids))

    # -- asking -----------------------------------------------------------------------------

    def _ask_prompt(
        self, run: _Run, step_id: str, step: AskStep, text_path: tuple[str, ...]
    ) -> None:
        text = self._render(run, text_path)
        if step.choices:
            run.replies.append(
                Choices(
                    text=text,
                    options=tuple(Option(c.label, c.value) for c in step.choices),
                    free_text=self._free_text(step),
                )
            )
        else:
            run.replies.append(Text(text))

    def _free_text(self, step: AskStep) -> bool:
        if step.free_text is not None:
            return step.free_text
        slot = self.flow.spec.slots[step.ask]
        return not step.choices or slot.type is SlotType.TIMING

    def _ask_answer(self, run: _Run, step_id: str, step: AskStep, event: Inbound) -> None:
        value = self._read(run, step, event)
        if value is None:
            self._retry(run, step_id, step)
            return
        slot = self.flow.spec.slots[step.ask]
        if (
            slot.type is SlotType.TIMING
            and step.confirm_uncertain
            and isinstance(value, dict)
            and value.get("uncertain")
        ):
            # Kept (marked uncertain) in case the lead leaves or asks for a person meanwhile.
            slots = {**run.state.slots, step.ask: value}
            run.state = run.state.evolve(slots=slots, confirming=value, tries=0, step=step_id)
            self._confirm_prompt(run, step_id, step)
            return
        self._store(run, step_id, step, value)

    # -- confirming an uncertain timing reading ------------------------------------------------

    def _confirm_vars(self, timing: Timing) -> dict[str, str]:
        loc = self.flow.locale
        sep = "／" if loc.startswith("ja") else " / "
        return {
            "reading": timing.describe(loc),
            "other": sep.join(timing.describe_alternatives(loc)),
        }

    def _confirm_prompt(self, run: _Run, step_id: str, step: AskStep) -> None:
        timing = Timing.from_dict(run.state.confirming or {})
        loc = self.flow.locale
        names = self._confirm_vars(timing)
        template = self.flow.template("steps", step_id, "confirm")
        if template is not None:
            text = template.render({**self._variables(run), "confirming": names}).strip()
        else:
            text = timing.confirm_question(loc)
        options = self._confirm_options(timing)
        run.replies.append(Choices(text=text, options=options, free_text=True))

    def _confirm_options(self, timing: Timing) -> tuple[Option, ...]:
        """The confirming question's buttons: yes, each other reading, undecided."""
        loc = self.flow.locale
        ja = loc.startswith("ja")
        others = (
            Option(short_range(start, end, loc), f"confirm:alt:{i}")
            for i, (start, end, _bucket) in enumerate(timing.alternatives)
        )
        return (
            Option("はい" if ja else "Yes", "confirm:yes"),
            *others,
            Option("未定" if ja else "Undecided", "confirm:undecided"),
        )

    def _confirm_answer(self, run: _Run, step_id: str, step: AskStep, event: Inbound) -> None:
        timing = Timing.from_dict(run.state.confirming or {})
        run.state = run.state.evolve(confirming=None)
        if event.kind == "choice" and not (event.value or "").startswith("confirm:"):
            self._ask_answer(run, step_id, step, event)  # a button of the question itself
            return
        said = event.value if event.kind == "choice" else _confirm_word(event.text, timing)
        if said is None:  # a new answer: read it again (it may need confirming in turn)
            if (
                event.kind == "text"
                and parse_timing(event.text, run.ctx.now, run.ctx.fiscal_year_start_month).bucket
                is not TimingBucket.UNKNOWN
            ):
                self._ask_answer(run, step_id, step, event)
                return
            said = "confirm:keep"  # unreadable: keep the reading, still marked uncertain
        self._store(run, step_id, step, _confirmed(timing, said or "confirm:keep").to_dict())

    def _store(self, run: _Run, step_id: str, step: AskStep, value: Any) -> None:
        slot = self.flow.spec.slots[step.ask]
        slots = {**run.state.slots, step.ask: value}
        changes: dict[str, Any] = {"slots": slots, "tries": 0, "step": None}
        if slot.type is SlotType.TEXT and slot.topics:
            message = self._analysed(run, str(value))
            found = [h.topic_id for h in run.ctx.vocabulary.detect(message)]
            changes["topics"] = tuple(dict.fromkeys([*run.state.topics, *found]))
        run.state = run.state.evolve(**changes)
        if slot.type is SlotType.CONTACT:
            lead_field = contact_field(value)  # a choice such as 連絡先を伝えない is none
        else:
            lead_field = LEAD_SLOT_TYPES.get(slot.type)
        if lead_field:
            run.effects.append(LeadUpdate({lead_field: str(value)}))
        self._go(run, step.next or self.flow.successor.get(step_id))

    def _retry(self, run: _Run, step_id: str, step: AskStep) -> None:
        tries = run.state.tries + 1
        if tries >= step.max_tries:
            run.state = run.state.evolve(tries=0, step=None)
            self._go(run, step.on_fail or self.flow.successor.get(step_id))
            return
        run.state = run.state.evolve(tries=tries)
        candidates: list[tuple[str, ...]] = [
            ("steps", step_id, "reask"),
            ("messages", "invalid_choice"),
            ("steps", step_id, "say"),
        ]
        path = next(c for c in candidates if self.flow.template(*c) is not None)
        self._ask_prompt(run, step_id, step, path)

    def _read(self, run: _Run, step: AskStep, event: Inbound) -> Any:
        """The slot value for this answer, or None when it cannot be used."""
        slot = self.flow.spec.slots[step.ask]
        # Timing text goes to the parser, not to fuzzy matching: 10か月以内 is not 1か月以内.
        choice = match_choice(step, event, fuzzy=slot.type is not SlotType.TIMING)
        if event.kind == "choice" and choice is None:
            return None
        if slot.type is SlotType.TIMING:
            if choice is not None:
                return timing_from_bucket(
                    TimingBucket(choice), run.ctx.now, label_of(step, choice)
                ).to_dict()
            timing = parse_timing(event.text, run.ctx.now, run.ctx.fiscal_year_start_month)
            if timing.bucket is not TimingBucket.UNKNOWN and self._free_text(step):
                return timing.to_dict()
            return None
        if choice is not None:
            return choice
        if not self._free_text(step) or event.kind != "text":
            return None
        return clean_answer(slot.type, event.text)

    # -- offering slots ------------------------------------------------------------------------

    def _offer(
        self, run: _Run, step_id: str, step: OfferSlotsStep, text_path: tuple[str, ...]
    ) -> bool:
        ctx = run.ctx
        rules = ctx.slot_rules
        spec = step.offer_slots
        rules = booking.SlotRules(
            duration=rules.duration if spec.duration is None else timedelta(minutes=spec.duration),
            days_ahead=spec.days_ahead or rules.days_ahead,
            count=spec.count or rules.count,
            min_lead=rules.min_lead,
            prep_buffer=rules.prep_buffer,
            step=rules.step,
        )
        slots = booking.offer_slots(ctx.calendar, ctx.reps, ctx.busy, ctx.now, rules)
        if not slots:
            self._say(run, ("steps", step_id, "none"))
            run.state = run.state.evolve(offered=(), step=None)
            return False
        locale = self.flow.locale
        options = tuple(
            SlotOption(id=s.id, start=s.start, end=s.end, label=format_when(s.start, locale))
            for s in slots
        )
        run.state = run.state.evolve(
            step=step_id, offered=tuple(s.id for s in slots), offer_step=step_id
        )
        run.replies.append(
            SlotPicker(
                text=self._render(run, text_path),
                slots=options,
                decline=Option(step.decline_label, DECLINE),
            )
        )
        return True

    def _offer_answer(self, run: _Run, step_id: str, step: OfferSlotsStep, event: Inbound) -> None:
        picked = self._picked_slot(run, step, event)
        nxt = self.flow.successor.get(step_id)
        if picked == DECLINE:
            run.state = run.state.evolve(step=None, offered=(), tries=0)
            self._go(run, step.on_decline or nxt)
            return
        if picked is None:
            tries = run.state.tries + 1
            if tries >= 3:
                run.state = run.state.evolve(step=None, offered=(), tries=0)
                self._go(run, step.on_decline or nxt)
                return
            run.state = run.state.evolve(tries=tries)
            path = ("steps", step_id, "reask")
            if self.flow.template(*path) is None:
                path = ("steps", step_id, "say")
            if not self._offer(run, step_id, step, path):
                self._go(run, step.on_decline or nxt)
            return
        start, end = booking.Slot.parse_id(picked, run.ctx.calendar.tz)
        run.state = run.state.evolve(
            step=None,
            offered=(),
            tries=0,
            booking={
                "slot_id": picked,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "status": "held",
            },
        )
        run.effects.append(Book(picked, start, end))
        self._go(run, nxt)

    def _confirm(self, run: _Run) -> bool:
        """Confirm the held slot; False (and slots offered again) if the hold lapsed and
        its slot was taken meanwhile. Nothing held: nothing to confirm, go on."""
        state = run.state
        if state.booking is None or not state.held:
            return True
        slot_id = state.booking["slot_id"]
        if run.ctx.lost_hold == slot_id:
            self._slot_taken(run)
            return False
        offer = self.flow.spec.steps.get(state.offer_step or "")
        if run.ctx.lead_booking is not None and isinstance(offer, OfferSlotsStep):
            # The details show a lead who has a meeting booked already: one at a time.
            run.state = state.evolve(booking=None)
            run.effects.append(Release())
            self._say(run, ("steps", state.offer_step or "", "already_booked"))
            self._go(
                run,
                offer.on_booked
                or offer.on_decline
                or self.flow.successor.get(state.offer_step or ""),
            )
            return False
        run.state = state.evolve(booking={**state.booking, "status": "confirmed"})
        run.effects.append(Confirm(slot_id))
        return True

    def _picked_slot(self, run: _Run, step: OfferSlotsStep, event: Inbound) -> str | None:
        offered = run.state.offered
        if event.kind in ("slot", "choice"):
            if event.value == DECLINE or event.value in offered:
                return event.value
            return None
        # Typed picks must name an offered slot exactly: a fuzzy match would happily read
        # "10:30" as the offered "10:00" and book a time the lead never chose.
        tz = run.ctx.calendar.tz
        labels = {
            normalize(format_when(booking.Slot.parse_id(i, tz)[0], self.flow.locale)): i
            for i in offered
        }
        labels[normalize(step.decline_label)] = DECLINE
        return labels.get(normalize(event.text))

    def _slot_taken(self, run: _Run) -> None:
        step_id = run.state.offer_step
        run.state = run.state.evolve(booking=None)
        if step_id is None:  # pragma: no cover - the service only says so after a pick
            return
        step = self.flow.step(step_id)
        path = ("messages", "slot_taken")
        if self.flow.template(*path) is not None:
            self._say(run, path)
        if not self._offer(run, step_id, step, ("steps", step_id, "say")):
            self._go(run, step.on_decline or self.flow.successor.get(step_id))

    # -- rendering ------------------------------------------------------------------------

    def _variables(self, run: _Run) -> dict[str, Any]:
        ctx, state = run.ctx, run.state
        score = lead_score(self.flow, state, ctx)
        return {
            "slots": dict(state.slots),
            "lead": dict(ctx.lead),
            "tags": list(state.tags),
            "score": score.points,
            "tier": score.tier,
            "open_now": ctx.calendar.is_open(ctx.now),
            "reachable": reachable(self.flow, state, ctx),
            "next_opening": ctx.calendar.next_opening(ctx.now),
            "follow_up": follow_up(ctx.calendar, ctx.now, assigned=ctx.assigned),
            "channel": ctx.channel,
            "cases": [_case_vars(m) for m in run.last_cases],
            "offered": list(state.offered),
            "booking": _booking_vars(state, ctx),
            "lead_booking": dict(ctx.lead_booking) if ctx.lead_booking else None,
            "locale": self.flow.locale,
            "now": ctx.now,
            "source": dict(ctx.source),
            "flow": {"id": self.flow.id, "version": self.flow.spec.version},
            "links": dict(ctx.links),
        }

    def _render(self, run: _Run, path: tuple[str | int, ...]) -> str:
        template: Template | None = self.flow.template(*path)
        if template is None:
            return ""
        return template.render(self._variables(run)).strip()

    def _say(self, run: _Run, path: tuple[str | int, ...]) -> None:
        text = self._render(run, path)
        if text:
            run.replies.append(Text(text))


def _case_vars(match: CaseMatch) -> dict[str, Any]:
    case = match.case
    return {
        "id": case.id,
        "title": case.title,
        "customer": case.customer,
        "industry": case.industry,
        "summary": case.summary,
        "url": case.url,
        "matched": list(match.matched),
    }


def _booking_vars(state: State, ctx: Context) -> dict[str, Any] | None:
    if state.booking is None:
        return None
    start, end = booking.Slot.parse_id(state.booking["slot_id"], ctx.calendar.tz)
    return {"start": start, "end": end, "id": state.booking["slot_id"], "held": state.held}


_YES: tuple[str, ...] = (
    "はい",
    "ええ",
    "そうです",
    "それで",
    "大丈夫",
    "問題ありません",
    "お願いします",  # style: allow (what a lead answers)
    "ok",
    "yes",
    "yep",
)
_YES += ("correct", "right", "sure", "that's right")
_NO = ("いいえ", "違います", "ちがいます", "違う", "no", "nope", "not quite")
_UNSURE = ("未定", "わかりません", "分かりません", "undecided", "not sure", "don't know")


def _confirm_word(text: str, timing: Timing) -> str | None:
    """はい / いいえ / 未定 typed instead of tapped; None when the text is something else."""
    t = normalize(text).strip("。.!！ ")
    if any(t.startswith(w) for w in _UNSURE):
        return "confirm:undecided"
    if any(t.startswith(w) for w in _NO):
        return "confirm:alt:0" if len(timing.alternatives) == 1 else None
    if any(t.startswith(w) for w in _YES):
        return "confirm:yes"
    return None


def _confirmed(timing: Timing, said: str) -> Timing:
    """The reading the lead confirmed: the main one, an alternative, or undecided."""
    if said == "confirm:keep":
        return timing
    if said == "confirm:undecided":
        step = TimingStep("ご本人の確認: 未定", "the lead said: undecided")
        return Timing(
            timing.text,
            None,
            None,
            TimingBucket.UNDECIDED,
            (*timing.steps, step),
            (),
            timing.waiting_for,
        )
    if said.startswith("confirm:alt:"):
        index = int(said.rsplit(":", 1)[1])
        if 0 <= index < len(timing.alternatives):
            start, end, bucket = timing.alternatives[index]
            chosen = Timing(timing.text, start, end, bucket)
            step = TimingStep(
                f"ご本人の確認: {chosen.describe('ja')}", f"the lead chose {chosen.describe('en')}"
            )
            return Timing(
                timing.text, start, end, bucket, (*timing.steps, step), (), timing.waiting_for
            )
    step = TimingStep("ご本人の確認: はい", "confirmed by the lead")
    return Timing(
        timing.text,
        timing.start,
        timing.end,
        timing.bucket,
        (*timing.steps, step),
        (),
        timing.waiting_for,
    )
