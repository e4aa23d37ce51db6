"""Read a flow file, check everything an operator can get wrong, and compile it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateNotFound, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from autoreply.domain.timing import TimingBucket
from autoreply.errors import FlowError, FlowProblem, FlowRuntimeError
from autoreply.flows.promises import check_promises
from autoreply.flows.spec import (
    LINE_CHOICE_LABEL_MAX,
    LINE_QUICK_REPLY_MAX,
    AskStep,
    BranchElse,
    BranchRule,
    BranchStep,
    FlowSpec,
    OfferSlotsStep,
    SlotType,
    TemplateRef,
    step_kind,
)
from autoreply.flows.templating import (
    CONTEXT_NAMES,
    make_environment,
    referenced_names,
    referenced_slots,
    referenced_tests,
)
from autoreply.yamlsource import Located, Path_, load_located, read_source

__all__ = ["Flow", "check_flow_file", "flow_from_source", "load_flow", "parse_flow"]

_TEXT_FIELDS = ("say", "reask", "empty", "none", "already_booked", "confirm")


@dataclass(frozen=True)
class Flow:
    """A checked flow, ready for the engine: templates and conditions compiled once."""

    spec: FlowSpec
    source: str
    templates: dict[Path_, Template] = field(repr=False)
    conditions: dict[Path_, Any] = field(repr=False)
    order: tuple[str, ...] = ()
    successor: dict[str, str | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The flow id."""
        return self.spec.flow

    @property
    def locale(self) -> str:
        """The flow's language (ja or en)."""
        return self.spec.locale

    @property
    def start(self) -> str:
        """The first step."""
        if self.spec.start is None:  # pragma: no cover - the loader refuses such a flow
            raise FlowRuntimeError(f"flow {self.id!r} has no start step")
        return self.spec.start

    def step(self, step_id: str) -> Any:
        """The spec of one step."""
        return self.spec.steps[step_id]

    def template(self, *path: str | int) -> Template | None:
        """The compiled template at a spec path, e.g. ``("steps", "greet", "say")``."""
        return self.templates.get(tuple(path))


def _strip_tags(loc: tuple[int | str, ...]) -> Path_:
    """Pydantic adds the union tag after a step id (and the member name in branches)."""
    parts: list[str | int] = list(loc)
    if len(parts) >= 3 and parts[0] == "steps":
        del parts[2]
    if len(parts) >= 5 and parts[2] == "branch" and parts[4] in ("rule", "else"):
        del parts[4]
    return tuple(parts)


class _Checker:
    """Semantic checks on a valid spec; collects problems instead of stopping."""

    def __init__(self, src: Located, spec: FlowSpec, env: SandboxedEnvironment) -> None:
        self.src = src
        self.spec = spec
        self.env = env
        self.problems: list[FlowProblem] = []
        self.templates: dict[Path_, Template] = {}
        self.conditions: dict[Path_, Any] = {}
        self.order = tuple(spec.steps)
        self.successor: dict[str, str | None] = {}

    def fail(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.problems.append(self.src.problem(path, message, key=key))

    def run(self) -> None:
        self._successors()
        self._references()
        for step_id, step in self.spec.steps.items():
            self._texts(("steps", step_id), step)
            if isinstance(step, AskStep):
                self._ask(step_id, step)
            elif isinstance(step, OfferSlotsStep):
                self._label(("steps", step_id, "decline_label"), step.decline_label)
            elif isinstance(step, BranchStep):
                self._branch(step_id, step)
        for name in ("human", "stop", "restart"):
            intent = getattr(self.spec.intents, name)
            self._texts(("intents", name), intent)
        self._texts(("messages",), self.spec.messages)
        self._graph()
        if not self.problems:  # a broken graph would only repeat itself here
            check_promises(
                self.spec,
                self.successor,
                lambda step_id: [t for _, t in self._targets(step_id, self.spec.steps[step_id])],
                self.fail,
            )

    # -- references ---------------------------------------------------------------

    def _successors(self) -> None:
        for index, (step_id, step) in enumerate(self.spec.steps.items()):
            kind = step_kind(step)
            following = self.order[index + 1] if index + 1 < len(self.order) else None
            if kind in ("goto", "branch", "end"):
                self.successor[step_id] = None
                continue
            explicit = getattr(step, "next", None)
            self.successor[step_id] = explicit or following
            if explicit is None and following is None:
                self.fail(
                    ("steps", step_id),
                    f"step {step_id!r} is last but does not end: add 'next' or an end step",
                    key=True,
                )

    def _targets(self, step_id: str, step: Any) -> list[tuple[Path_, str]]:
        base: Path_ = ("steps", step_id)
        found: list[tuple[Path_, str]] = []
        for attr in ("next", "goto", "on_fail", "on_decline", "on_booked"):
            value = getattr(step, attr, None)
            if isinstance(value, str):
                found.append(((*base, attr), value))
        if isinstance(step, BranchStep):
            for i, rule in enumerate(step.branch):
                target = rule.goto if isinstance(rule, BranchRule) else rule.else_
                key = "goto" if isinstance(rule, BranchRule) else "else"
                found.append(((*base, "branch", i, key), target))
        return found

    def _references(self) -> None:
        steps = self.spec.steps
        if self.spec.start not in steps:
            self.fail(("start",), f"start step {self.spec.start!r} does not exist")
        for step_id, step in steps.items():
            for path, target in self._targets(step_id, step):
                if target not in steps:
                    self.fail(path, f"step {target!r} does not exist")
        for name in ("human", "stop", "restart"):
            target = getattr(self.spec.intents, name).goto
            if target is not None and target not in steps:
                self.fail(("intents", name, "goto"), f"step {target!r} does not exist")

    # -- templates and conditions -----------------------------------------------

    def _texts(self, base: Path_, model: Any) -> None:
        for attr in (*_TEXT_FIELDS, "after_end", "invalid_choice", "slot_taken"):
            value = getattr(model, attr, None)
            if value is not None:
                self._template((*base, attr), value)
        recommend = getattr(model, "recommend", None)
        if recommend is not None:
            self._template((*base, "recommend", "query"), recommend.query)
            if recommend.industry is not None:
                self._template((*base, "recommend", "industry"), recommend.industry)

    def _template(self, path: Path_, value: str | TemplateRef) -> None:
        if isinstance(value, TemplateRef):
            if self.env.loader is None:
                self.fail(
                    (*path, "template"),
                    f"template {value.template!r} not found (no templates folder configured)",
                )
                return
            try:
                template = self.env.get_template(value.template)
            except TemplateNotFound:
                self.fail((*path, "template"), f"template {value.template!r} not found")
                return
            except TemplateSyntaxError as exc:
                self.fail(
                    (*path, "template"),
                    f"template {value.template!r} line {exc.lineno}: {exc.message}",
                )
                return
            source = self.env.loader.get_source(self.env, value.template)[0]
        else:
            source = value
            try:
                template = self.env.from_string(source)
            except TemplateSyntaxError as exc:
                line, col = self.src.where(path)
                line += (1 if path in self.src.blocks else 0) + max(exc.lineno - 1, 0)
                self.problems.append(
                    FlowProblem(self.src.file, line, col, f"template syntax: {exc.message}")
                )
                return
        self._names(path, self.env.parse(source))
        self.templates[path] = template

    def _names(self, path: Path_, ast: Any) -> None:
        for name in sorted(referenced_names(ast) - CONTEXT_NAMES - set(self.env.globals)):
            self.fail(path, f"unknown name {name!r} (known: {', '.join(sorted(CONTEXT_NAMES))})")
        for slot in sorted(referenced_slots(ast) - set(self.spec.slots)):
            self.fail(path, f"slot {slot!r} is not declared under 'slots'")
        for test in sorted(referenced_tests(ast) - set(self.env.tests)):
            self.fail(path, f"unknown test {test!r} (after 'is')")

    def _branch(self, step_id: str, step: BranchStep) -> None:
        for i, rule in enumerate(step.branch):
            if isinstance(rule, BranchElse):
                if i != len(step.branch) - 1:
                    self.fail(("steps", step_id, "branch", i), "'else' must be the last rule")
                continue
            path: Path_ = ("steps", step_id, "branch", i, "if")
            try:
                ast = self.env.parse("{{ (" + rule.if_ + ") }}")
                self.conditions[path] = self.env.compile_expression(rule.if_)
            except TemplateSyntaxError as exc:
                self.fail(path, f"condition syntax: {exc.message}")
                continue
            self._names(path, ast)
        if not isinstance(step.branch[-1], BranchElse):
            self.fail(("steps", step_id, "branch"), "a branch needs a final 'else'")

    # -- asks ---------------------------------------------------------------------

    def _label(self, path: Path_, label: str) -> None:
        if len(label) > LINE_CHOICE_LABEL_MAX:
            self.fail(
                path,
                f"choice label {label!r} has {len(label)} characters "
                f"(LINE allows at most {LINE_CHOICE_LABEL_MAX})",
            )

    def _ask(self, step_id: str, step: AskStep) -> None:
        base: Path_ = ("steps", step_id)
        slot = self.spec.slots.get(step.ask)
        if slot is None:
            self.fail((*base, "ask"), f"slot {step.ask!r} is not declared under 'slots'")
            return
        if len(step.choices) > LINE_QUICK_REPLY_MAX:
            self.fail(
                (*base, "choices"),
                f"{len(step.choices)} choices (LINE shows at most {LINE_QUICK_REPLY_MAX})",
            )
        seen: set[str] = set()
        for i, choice in enumerate(step.choices):
            self._label((*base, "choices", i, "label"), choice.label)
            if choice.value in seen:
                self.fail(
                    (*base, "choices", i, "value"), f"duplicate choice value {choice.value!r}"
                )
            seen.add(choice.value)
            if slot.type is SlotType.TIMING and choice.value not in set(TimingBucket):
                self.fail(
                    (*base, "choices", i, "value"),
                    f"a timing choice value must be one of {', '.join(TimingBucket)}",
                )
        if slot.type is SlotType.CHOICE and not step.choices:
            self.fail((*base, "ask"), f"slot {step.ask!r} is a choice slot: list 'choices'")
        if step.free_text is False and not step.choices:
            self.fail((*base, "free_text"), "free_text is false but there are no choices")
        if slot.type is not SlotType.TIMING:
            if step.confirm is not None:
                self.fail((*base, "confirm"), "'confirm' is only for timing slots")
            if not step.confirm_uncertain:
                self.fail(
                    (*base, "confirm_uncertain"), "'confirm_uncertain' is only for timing slots"
                )

    # -- the graph ------------------------------------------------------------------

    def edges(self) -> dict[str, list[str]]:
        graph: dict[str, list[str]] = {}
        for step_id, step in self.spec.steps.items():
            targets = [t for _, t in self._targets(step_id, step) if t in self.spec.steps]
            nxt = self.successor.get(step_id)
            if nxt is not None and nxt in self.spec.steps and nxt not in targets:
                targets.append(nxt)
            graph[step_id] = targets
        return graph

    def _graph(self) -> None:
        graph = self.edges()
        roots = [self.spec.start] + [
            t
            for t in (getattr(self.spec.intents, n).goto for n in ("human", "stop", "restart"))
            if t
        ]
        seen: set[str] = set()
        todo = [r for r in roots if r in graph]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        for step_id in self.order:
            if step_id not in seen:
                self.fail(("steps", step_id), f"step {step_id!r} is unreachable", key=True)
        for cycle in _cycles_without_input(graph, self.spec):
            first = cycle[0]
            self.fail(
                ("steps", first),
                "loop that may never wait for the lead: "
                + " -> ".join([*cycle, first])
                + " (add a question without skip_if_known)",
                key=True,
            )


def _always_waits(step: Any) -> bool:
    """Whether a step surely stops for the lead: a question that is never skipped.

    A ``skip_if_known`` question passes through once the answer is known, and a slot
    offer passes through when nothing is free, so neither can break a loop.
    """
    return isinstance(step, AskStep) and not step.skip_if_known


def _cycles_without_input(graph: dict[str, list[str]], spec: FlowSpec) -> list[list[str]]:
    """Strongly connected groups of steps that need not wait (Tarjan): they could spin."""
    nodes_ = [n for n in graph if not _always_waits(spec.steps[n])]
    allowed = set(nodes_)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in allowed:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group, key=list(graph).index))

    for node in nodes_:
        if node not in index:
            visit(node)
    return found


def parse_flow(text: str, file: str, templates_dir: Path | None = None) -> Flow:
    """Check and compile a flow from its YAML text; raise ``FlowError`` listing every problem."""
    return flow_from_source(load_located(text, file), templates_dir)


def flow_from_source(src: Located, templates_dir: Path | None = None) -> Flow:
    """Check and compile a flow read with positions (see :func:`parse_flow`)."""
    if not isinstance(src.data, dict):
        raise FlowError([src.problem((), "a flow file must be a mapping of keys")])
    try:
        spec = FlowSpec.model_validate(src.data)
    except ValidationError as exc:
        raise FlowError(src.validation_problems(exc, _strip_tags, top="flow")) from exc
    checker = _Checker(src, spec, make_environment(templates_dir))
    checker.run()
    if checker.problems:
        raise FlowError(checker.problems)
    return Flow(
        spec=spec,
        source=src.file,
        templates=checker.templates,
        conditions=checker.conditions,
        order=checker.order,
        successor=checker.successor,
    )


def load_flow(path: Path, templates_dir: Path | None = None) -> Flow:
    """Read and compile one flow file."""
    return parse_flow(read_source(path), str(path), templates_dir)


def check_flow_file(path: Path, templates_dir: Path | None = None) -> list[FlowProblem]:
    """Every problem in one flow file (empty when it is fine)."""
    try:
        load_flow(path, templates_dir)
    except FlowError as exc:
        return exc.problems
    return []
