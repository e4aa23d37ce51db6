"""A Mermaid diagram of a flow, for reviews and docs."""

from __future__ import annotations

from autoreply.flows.loader import Flow
from autoreply.flows.spec import (
    AskStep,
    BranchElse,
    BranchStep,
    GotoStep,
    OfferSlotsStep,
    step_kind,
)

__all__ = ["mermaid"]


def _node_id(step_id: str) -> str:
    return "s_" + "".join(c if c.isalnum() else "_" for c in step_id)


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")[:60]


def mermaid(flow: Flow) -> str:
    """The flow as a Mermaid ``flowchart``: one node per step, one edge per way on.

    Input steps (ask, offer_slots) are drawn as rounded boxes, branches as diamonds,
    the end as a circle; global intents are listed as a note.
    """
    lines = ["flowchart TD"]
    for step_id in flow.order:
        step = flow.step(step_id)
        kind = step_kind(step) or "?"
        detail = f"{kind}: {step.ask}" if isinstance(step, AskStep) else kind
        text = _label(f"{step_id}<br/>{detail}")
        node = _node_id(step_id)
        if kind in ("ask", "offer_slots"):
            lines.append(f'    {node}("{text}")')
        elif kind == "branch":
            lines.append(f'    {node}{{"{text}"}}')
        elif kind == "end":
            lines.append(f'    {node}(("{text}"))')
        else:
            lines.append(f'    {node}["{text}"]')
    for step_id in flow.order:
        step = flow.step(step_id)
        node = _node_id(step_id)
        if isinstance(step, BranchStep):
            for rule in step.branch:
                if isinstance(rule, BranchElse):
                    lines.append(f"    {node} -->|else| {_node_id(rule.else_)}")
                else:
                    lines.append(f'    {node} -->|"{_label(rule.if_)}"| {_node_id(rule.goto)}')
            continue
        if isinstance(step, GotoStep):
            lines.append(f"    {node} --> {_node_id(step.goto)}")
            continue
        nxt = flow.successor.get(step_id)
        if nxt is not None:
            lines.append(f"    {node} --> {_node_id(nxt)}")
        if isinstance(step, AskStep) and step.on_fail:
            lines.append(f"    {node} -.->|on_fail| {_node_id(step.on_fail)}")
        if isinstance(step, OfferSlotsStep) and step.on_decline:
            lines.append(f"    {node} -.->|decline| {_node_id(step.on_decline)}")
        if isinstance(step, OfferSlotsStep) and step.on_booked:
            lines.append(f"    {node} -.->|booked before| {_node_id(step.on_booked)}")
    start = _node_id(flow.start)
    lines.append(f"    start([start]) --> {start}")
    intents = flow.spec.intents
    for name in ("human", "stop", "restart"):
        target = getattr(intents, name).goto
        if target:
            lines.append(f"    intent_{name}>{name}] -.-> {_node_id(target)}")
    return "\n".join(lines) + "\n"
