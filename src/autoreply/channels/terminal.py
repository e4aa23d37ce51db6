"""``autoreply chat``: hold a conversation with a flow in the terminal, stored like any other."""

from __future__ import annotations

import asyncio
import secrets
from typing import TextIO

from autoreply.flows.turns import Cards, Choices, Inbound, Reply, SlotPicker, Text
from autoreply.service.runtime import Runtime

__all__ = ["render_reply", "run_chat"]

QUIT = {"/quit", "/exit", "/q"}


Option = tuple[str, str, str]  # (event kind, value, label)


def render_reply(reply: Reply) -> tuple[str, list[Option]]:
    """Terminal text for a reply, and the numbered options it offers."""
    options: list[Option] = []
    if isinstance(reply, Text):
        return reply.text, options
    if isinstance(reply, Choices):
        lines = [reply.text]
        for i, option in enumerate(reply.options, 1):
            lines.append(f"  {i}) {option.label}")
            options.append(("choice", option.value, option.label))
        return "\n".join(lines), options
    if isinstance(reply, SlotPicker):
        lines = [reply.text]
        for i, slot in enumerate(reply.slots, 1):
            lines.append(f"  {i}) {slot.label}")
            options.append(("slot", slot.id, slot.label))
        lines.append(f"  {len(reply.slots) + 1}) {reply.decline.label}")
        options.append(("slot", reply.decline.value, reply.decline.label))
        return "\n".join(lines), options
    if not isinstance(reply, Cards):  # pragma: no cover - every reply kind is handled above
        raise TypeError(f"cannot show a {type(reply).__name__} in the terminal")
    lines = []
    for card in reply.cards:
        lines += [
            f"  ■ {card.title}",
            f"    {card.customer}（{card.industry}）",
            f"    {card.summary}",
            f"    {card.url}",
            f"    {card.explanation}",
        ]
    return "\n".join(lines), options


def _event(line: str, options: list[Option]) -> Inbound:
    """A number picks the numbered option; anything else is free text."""
    if line.isdigit() and 1 <= int(line) <= len(options):
        kind, value, label = options[int(line) - 1]
        return Inbound("slot" if kind == "slot" else "choice", text=label, value=value)
    return Inbound("text", text=line)


async def run_chat(runtime: Runtime, stdin: TextIO, out: TextIO) -> int:
    """Run a conversation until it ends or input runs out; print the handoff at the end."""
    engine = runtime.content.engine()
    locale = engine.flow.locale
    print(
        f"# {engine.flow.spec.title or engine.flow.id} (v{engine.flow.spec.version}) "
        f"- type a number or text; /quit to leave",
        file=out,
    )
    result = await runtime.service.start(
        channel="cli", identities=[("cli", secrets.token_hex(8))], source={"via": "cli"}
    )
    while True:
        options: list[Option] = []
        for reply in result.replies:
            text, reply_options = render_reply(reply)
            print(f"bot> {text}", file=out)
            options = reply_options or options
        if result.status != "active":
            break
        line: str | None = ""
        while line is not None and not line.strip():
            line = await asyncio.to_thread(_read_line, stdin, out)
        if line is None or line.strip() in QUIT:
            await runtime.service.close(result.conversation_id)
            break
        result = await runtime.service.handle(result.conversation_id, _event(line.strip(), options))
    record = await runtime.service.handoff_record(result.conversation_id)
    if record is None:
        print("(no handoff: nothing was collected)", file=out)
    else:
        print(runtime.content.texts.render("handoff/summary", locale, r=record), file=out)
    return 0


def _read_line(stdin: TextIO, out: TextIO) -> str | None:
    out.write("you> ")
    out.flush()
    line = stdin.readline()
    if not line:
        out.write("\n")
        return None
    if not stdin.isatty():
        out.write(line if line.endswith("\n") else line + "\n")
    return line.rstrip("\n")
