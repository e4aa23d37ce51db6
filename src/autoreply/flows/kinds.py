"""Operator files by kind: what kind a file is, its checks and schema, and the references
between files checked together (``autoreply flow check``).

A file's kind is the top-level key it has: ``flow:`` a flow, ``cases:`` case studies,
``topics:`` the topic vocabulary, ``forms:`` web forms, ``routing:`` teams and routing
rules, ``webhooks:`` CRM endpoints. A new kind (notifications) is one more entry in :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autoreply.domain.cadence import CadenceFile, cadence_from_source
from autoreply.domain.casestudies import CasesFile, case_issues, cases_from_source
from autoreply.domain.forms import FlowFacts, Forms, FormsFile, forms_from_source
from autoreply.domain.routing import RoutingFile, routing_from_source
from autoreply.domain.topics import TopicsFile, topics_from_source
from autoreply.domain.webhooks import WebhooksFile, webhooks_from_source
from autoreply.errors import FlowError, FlowProblem
from autoreply.flows.loader import Flow, flow_from_source
from autoreply.flows.schema import json_schema
from autoreply.flows.spec import FlowSpec
from autoreply.yamlsource import Located, Path_, load_located, read_source

__all__ = [
    "KINDS",
    "Catalog",
    "Checked",
    "Kind",
    "check_files",
    "detect_kind",
    "flow_facts",
    "kind_schema",
    "yaml_files",
]


@dataclass(frozen=True)
class Catalog:
    """What files checked together define, by kind and id (a kind absent: not checked)."""

    defined: dict[str, dict[str, Checked]]
    template: Callable[[str], bool] | None = None

    def lookup(self, kind: str) -> Callable[[str], Checked | None] | None:
        """Find a ``kind`` by id; None when no file of that kind is known."""
        table = self.defined.get(kind)
        return None if table is None else table.get


@dataclass(frozen=True)
class Kind:
    """One kind of operator file: how it is recognised, loaded, checked and described."""

    name: str  # as in ``docs/<name>.schema.json`` and ``flow schema --kind``
    key: str  # the top-level key that makes a file this kind
    model: type[BaseModel]  # the pydantic model its JSON Schema comes from
    load: Callable[[Located, Path | None], Any]  # every check of one file (``FlowError``)
    ids: Callable[[Any], Iterable[tuple[str, Path_]]]  # what it defines (from the raw data)
    references: Callable[[Checked, Catalog], list[FlowProblem]] = lambda _c, _cat: []


@dataclass
class Checked:
    """One file checked: its kind, what it loaded as (None on problems), its problems."""

    path: str
    kind: Kind | None = None
    src: Located | None = None
    value: Any = None
    problems: list[FlowProblem] = field(default_factory=list)

    def ids(self) -> list[tuple[str, Path_]]:
        """The ids this file defines (also when it has problems, as far as they can be read)."""
        if self.kind is None or self.src is None or not isinstance(self.src.data, dict):
            return []
        return list(self.kind.ids(self.src.data))


def flow_facts(flow: Flow) -> FlowFacts:
    """What a form needs to know of a loaded flow."""
    return FlowFacts(flow.id, flow.locale, frozenset(flow.spec.slots))


def _keys(data: dict[str, Any], key: str) -> list[tuple[str, Path_]]:
    table = data.get(key)
    return [(k, (key, k)) for k in table] if isinstance(table, dict) else []


def _team_ids(data: dict[str, Any]) -> list[tuple[str, Path_]]:
    teams = data["routing"].get("teams") if isinstance(data.get("routing"), dict) else None
    if not isinstance(teams, list):
        return []
    return [
        (team["id"], ("routing", "teams", index, "id"))
        for index, team in enumerate(teams)
        if isinstance(team, dict) and isinstance(team.get("id"), str)
    ]


def _cadence_rule_ids(data: dict[str, Any]) -> list[tuple[str, Path_]]:
    rules = data["cadence"].get("rules") if isinstance(data.get("cadence"), dict) else None
    if not isinstance(rules, list):
        return []
    return [
        (rule["id"], ("cadence", "rules", index, "id"))
        for index, rule in enumerate(rules)
        if isinstance(rule, dict) and isinstance(rule.get("id"), str)
    ]


def _webhook_names(data: dict[str, Any]) -> list[tuple[str, Path_]]:
    hooks = data.get("webhooks")
    if not isinstance(hooks, list):
        return []
    return [
        (hook["name"], ("webhooks", index, "name"))
        for index, hook in enumerate(hooks)
        if isinstance(hook, dict) and isinstance(hook.get("name"), str)
    ]


def _flow_ids(data: dict[str, Any]) -> list[tuple[str, Path_]]:
    return [(data["flow"], ("flow",))] if isinstance(data.get("flow"), str) else []


def _case_ids(data: dict[str, Any]) -> list[tuple[str, Path_]]:
    cases = data.get("cases")
    if not isinstance(cases, list):
        return []
    return [
        (case["id"], ("cases", index, "id"))
        for index, case in enumerate(cases)
        if isinstance(case, dict) and isinstance(case.get("id"), str)
    ]


def _facts(checked: Checked) -> FlowFacts:
    if isinstance(checked.value, Flow):
        return flow_facts(checked.value)
    data = checked.src.data if checked.src is not None else {}
    locale = data.get("locale") if isinstance(data, dict) else None
    return FlowFacts(str(data.get("flow")), locale if isinstance(locale, str) else "")


def _case_references(checked: Checked, catalog: Catalog) -> list[FlowProblem]:
    topic = catalog.lookup("topics")
    if topic is None or checked.src is None:
        return []
    return [checked.src.problem(path, why) for path, why in case_issues(checked.value, topic)]


def _form_references(checked: Checked, catalog: Catalog) -> list[FlowProblem]:
    forms: Forms = checked.value
    flows = catalog.defined.get("flow")

    def flow_for(flow_id: str | None, locale: str) -> FlowFacts | None:
        if flows is None:  # pragma: no cover - check_files always knows the configured flows
            return FlowFacts(flow_id or "", locale)
        if flow_id:
            found = flows.get(flow_id)
            return None if found is None else _facts(found)
        speaking = (_facts(c) for c in flows.values())
        return next((facts for facts in speaking if facts.locale == locale), None)

    return forms.reference_problems(flow_for, catalog.lookup("topics"), catalog.template)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("flow", "flow", FlowSpec, flow_from_source, _flow_ids),
        Kind(
            "casestudies",
            "cases",
            CasesFile,
            lambda src, _templates: cases_from_source(src),
            _case_ids,
            _case_references,
        ),
        Kind(
            "topics",
            "topics",
            TopicsFile,
            lambda src, _templates: topics_from_source(src),
            lambda data: _keys(data, "topics"),
        ),
        Kind(
            "forms",
            "forms",
            FormsFile,
            lambda src, _templates: forms_from_source(src),
            lambda data: _keys(data, "forms"),
            _form_references,
        ),
        Kind(
            "routing",
            "routing",
            RoutingFile,
            lambda src, _templates: routing_from_source(src),
            _team_ids,
        ),
        Kind(
            "cadence",
            "cadence",
            CadenceFile,
            lambda src, _templates: cadence_from_source(src),
            _cadence_rule_ids,
        ),
        Kind(
            "webhooks",
            "webhooks",
            WebhooksFile,
            lambda src, _templates: webhooks_from_source(src),
            _webhook_names,
        ),
    )
}
"""Every kind of operator file, by name. The order is the order of the docs."""


def kind_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one kind (published as ``docs/<name>.schema.json``)."""
    kind = KINDS[name]
    return json_schema(kind.model, kind.name)


def _kinds_list() -> str:
    return ", ".join(f"{k.name} ({k.key}:)" for k in KINDS.values())


def detect_kind(src: Located) -> Kind:
    """The kind of a file by its top-level key; ``FlowError`` when it has none or several."""
    if not isinstance(src.data, dict):
        raise FlowError([src.problem((), f"an operator file is a mapping: {_kinds_list()}")])
    found = [kind for kind in KINDS.values() if kind.key in src.data]
    if len(found) == 1:
        return found[0]
    first = next(iter(src.data), None)
    where: Path_ = (first,) if isinstance(first, str) else ()
    if not found:
        message = f"unknown kind of file: the top level must have one key of {_kinds_list()}"
    else:
        keys = " and ".join(f"{k.key}:" for k in found)
        message = f"one kind per file, but the top level has {keys}"
    raise FlowError([src.problem(where, message, key=True)])


def yaml_files(paths: Sequence[Path]) -> tuple[list[Path], list[FlowProblem]]:
    """The files to check: a folder gives every ``*.yaml`` and ``*.yml`` in it, sorted."""
    files: list[Path] = []
    problems: list[FlowProblem] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not found:
            problems.append(FlowProblem(str(path), 1, 1, "no .yaml or .yml file in this folder"))
        files.extend(found)
    return files, problems


def _check(path: Path, templates_dir: Path | None) -> Checked:
    checked = Checked(str(path))
    try:
        checked.src = load_located(read_source(path), str(path))
        checked.kind = detect_kind(checked.src)
        checked.value = checked.kind.load(checked.src, templates_dir)
    except FlowError as exc:
        checked.problems = list(exc.problems)
    return checked


def _catalog(files: Sequence[Checked], template: Callable[[str], bool] | None) -> Catalog:
    """Index what the files define; an id defined twice is a problem of the later file."""
    defined: dict[str, dict[str, Checked]] = {}
    for checked in files:
        if checked.kind is None:
            continue
        table = defined.setdefault(checked.kind.name, {})
        for name, path in checked.ids():
            first = table.setdefault(name, checked)
            if first is not checked and checked.src is not None:
                checked.problems.append(
                    checked.src.problem(
                        path, f"{checked.kind.name} id {name!r} is also defined in {first.path}"
                    )
                )
    return Catalog(defined, template)


def check_files(
    paths: Sequence[Path],
    *,
    templates_dir: Path | None = None,
    template: Callable[[str], bool] | None = None,
    context: Sequence[Path] = (),
) -> list[Checked]:
    """Check operator files (and folders of them) each by its kind, then what they name in
    each other: a form's flow and topics, a case's topics, an id defined twice.

    A kind none of ``paths`` is (e.g. flows, when only the forms file is checked) is taken
    from the ``context`` files (the configured ones), which are not reported. ``template``
    tells whether a reply email template exists. Every problem of every file is collected.
    """
    files, problems = yaml_files(paths)
    checked = [Checked(p.file, problems=[p]) for p in problems]
    checked += [_check(path, templates_dir) for path in files]
    given = {c.kind.name for c in checked if c.kind is not None}
    seen = {Path(c.path).resolve() for c in checked}
    extra = [_check(p, templates_dir) for p in context if p.resolve() not in seen and p.is_file()]
    extra = [c for c in extra if c.kind is not None and c.kind.name not in given]
    catalog = _catalog([*checked, *extra], template)
    for item in checked:
        if item.kind is not None and item.value is not None:
            item.problems.extend(item.kind.references(item, catalog))
    return checked
