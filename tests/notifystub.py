"""A loopback HTTP server standing in for the three chat notification targets at once.

- Slack incoming webhooks: ``POST /slack/<anything>`` (JSON), answered 200 ``ok``;
- Teams Workflows webhooks: ``POST /teams/<anything>`` (JSON), answered 202 Accepted;
- the Chatwork API: ``POST /v2/rooms/<digits>/messages`` (form), answered 200 with a
  ``message_id``, or 401 when ``X-ChatWorkToken`` is not ``token``.

It records every request (path, headers, parsed body, when it came, what it was answered)
and can be told to answer a target's next requests with a status (429 with
``Retry-After``, 500, 400, 403 ...) or to hang until the test ends (for timeouts).
``seen(target)`` is what a person reads of each delivered message: the text as the app
shows it (markup resolved, escapes undone), its buttons and links, and who it mentions.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from autoreply.domain.notices import LeadLine, Notice

TARGETS = ("slack", "teams", "chatwork")
HANG = 0  # the status of a failure that never answers

_DEFAULT_BODIES = {  # what each far end says with a status (their documented error words)
    "slack": {
        400: "invalid_payload",
        403: "invalid_token",
        404: "no_service",
        410: "channel_is_archived",
        429: "rate_limited",
        500: "rollup_error",
    },
    "chatwork": {
        400: '{"errors": ["Invalid arguments"]}',
        401: '{"errors": ["Invalid API token"]}',
        403: '{"errors": ["You don\'t have permission to send messages in this room"]}',
        404: '{"errors": ["Room not found"]}',
        429: '{"errors": ["Rate limit exceeded"]}',
        500: '{"errors": ["Internal server error"]}',
    },
}


@dataclass
class Request:
    """One request the stand-in received, and the status it was answered (None: it hung)."""

    target: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON (Slack, Teams) or the form's fields (Chatwork)
    received_at: datetime
    status: int | None = None


@dataclass
class Seen:
    """What a person reads of one delivered message."""

    text: str  # every text shown, one line each, as the app displays it
    buttons: list[tuple[str, str]]  # (label, url)
    links: list[tuple[str, str]]  # (text, url) links inside the text
    mentions: list[str]  # who it notifies: user ids, "channel", "here", "toall"


@dataclass
class _Failure:
    status: int
    body: str
    headers: dict[str, str]


@dataclass
class NotifyStub:
    """State of the stand-in; ``url`` is its base (``http://127.0.0.1:<port>``)."""

    token: str = "test-chatwork-token"
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    failures: dict[str, list[_Failure]] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    # --- telling it what to do -------------------------------------------------------

    def fail(
        self,
        target: str,
        status: int,
        *,
        times: int = 1,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the target's next ``times`` requests with ``status`` (and the far end's
        usual words for it unless ``body``)."""
        words = body if body is not None else _DEFAULT_BODIES.get(target, {}).get(status, "")
        failure = _Failure(status, words, dict(headers or {}))
        self.failures.setdefault(target, []).extend([failure] * times)

    def hang(self, target: str, *, times: int = 1) -> None:
        """Never answer the target's next ``times`` requests (until the test ends)."""
        self.fail(target, HANG, times=times, body="")

    def slack_url(self, name: str = "T0001/B0001/secret") -> str:
        """An incoming webhook URL that points here."""
        return f"{self.url}/slack/{name}"

    def teams_url(self, name: str = "workflows/abc/triggers/manual/paths/invoke") -> str:
        """A Workflows webhook URL that points here."""
        return f"{self.url}/teams/{name}"

    # --- reading what happened -------------------------------------------------------

    def calls(self, target: str) -> list[Request]:
        """Every request to one target, in order."""
        return [r for r in self.requests if r.target == target]

    def delivered(self, target: str) -> list[Request]:
        """The requests to one target that the far end accepted (2xx)."""
        return [r for r in self.calls(target) if r.status is not None and 200 <= r.status < 300]

    def seen(self, target: str) -> list[Seen]:
        """What a person reads of each message delivered to ``target``."""
        read = {"slack": slack_seen, "teams": teams_seen, "chatwork": chatwork_seen}[target]
        return [read(r.body) for r in self.delivered(target)]

    # --- serving ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.match_info.get("target", "chatwork")
        raw = await request.read()
        if target == "chatwork":
            body: Any = {k: v for k, v in (await request.post()).items()}
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        record = Request(
            target,
            request.method,
            request.path,
            dict(request.headers),
            body,
            datetime.now(UTC),
        )
        self.requests.append(record)
        response = await self._answer(target, request, body)
        record.status = response.status
        return response

    async def _answer(self, target: str, request: web.Request, body: Any) -> web.Response:
        queue = self.failures.get(target) or []
        if queue:
            failure = queue.pop(0)
            if failure.status == HANG:
                await self.release.wait()
                return web.Response(status=504, text="hung")
            return web.Response(status=failure.status, text=failure.body, headers=failure.headers)
        if request.method != "POST":
            return web.Response(status=405)
        if target == "slack":
            ok = isinstance(body, dict) and bool(body.get("text") or body.get("blocks"))
            return web.Response(text="ok" if ok else "no_text", status=200 if ok else 400)
        if target == "teams":
            ok = isinstance(body, dict) and body.get("type") == "message"
            return web.Response(status=202 if ok else 400)
        if request.headers.get("X-ChatWorkToken") != self.token:
            return web.json_response({"errors": ["Invalid API token"]}, status=401)
        if not body.get("body"):
            return web.json_response({"errors": ["Parameter [body] is required"]}, status=400)
        return web.json_response({"message_id": str(len(self.delivered("chatwork")) + 1)})


# --- what a person reads -------------------------------------------------------------

_SLACK_CONTROL = re.compile(r"<([^<>]*)>")


def _slack_line(mrkdwn: str, seen: Seen) -> str:
    """One mrkdwn text as Slack shows it: <@U1> and <!channel> notify, <url|text> links,
    &lt; &gt; &amp; are the characters, *bold* and > quotes are styling."""

    def control(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("@"):
            seen.mentions.append(inner[1:])
            return "@" + inner[1:]
        if inner.startswith("!"):
            seen.mentions.append(inner[1:].split("|")[0])
            return "@" + inner[1:]
        url, _, text = inner.partition("|")
        url = url.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
        shown = (text or url).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        seen.links.append((shown, url))
        return shown

    text = _SLACK_CONTROL.sub(control, mrkdwn)
    text = re.sub(r"\*([^*\n]+)\*", r"\1", text)
    text = re.sub(r"^>", "", text, flags=re.M)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_seen(message: dict[str, Any]) -> Seen:
    """A Block Kit message flattened: header, sections and their fields, buttons."""
    seen = Seen("", [], [], [])
    lines: list[str] = []
    for block in message.get("blocks", []):
        texts = [block["text"]] if "text" in block else []
        texts += block.get("fields", [])
        for text in texts:
            if text["type"] == "plain_text":
                lines.append(text["text"])
            else:
                lines.append(_slack_line(text["text"], seen))
        for element in block.get("elements", []):
            if element.get("type") == "button":
                seen.buttons.append((element["text"]["text"], element["url"]))
    seen.text = "\n".join(lines)
    return seen


_MD_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)(?<!\\)\]\(([^)\s]+)\)")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _teams_line(text: str, seen: Seen, mentions: dict[str, str]) -> str:
    """One TextBlock text as Teams shows it: [text](url) links, <at> mentions with an
    entity notify, backslash escapes are the characters."""
    for at, who in mentions.items():
        if at in text:
            seen.mentions.append(who)
            text = text.replace(at, "@" + who)

    def link(match: re.Match[str]) -> str:
        shown = _MD_ESCAPE.sub(r"\1", match.group(1))
        seen.links.append((shown, match.group(2)))
        return shown

    text = _MD_LINK.sub(link, text)
    return _MD_ESCAPE.sub(r"\1", text)


def teams_seen(message: dict[str, Any]) -> Seen:
    """A message's Adaptive Card flattened: text blocks, facts as 「title: value」, buttons."""
    seen = Seen("", [], [], [])
    card = message["attachments"][0]["content"]
    entities = card.get("msteams", {}).get("entities", [])
    mentions = {e["text"]: e["mentioned"]["id"] for e in entities if e.get("type") == "mention"}
    lines: list[str] = []

    def walk(elements: list[dict[str, Any]]) -> None:
        for element in elements:
            kind = element.get("type")
            if kind == "TextBlock":
                lines.append(_teams_line(element["text"], seen, mentions))
            elif kind == "FactSet":
                for fact in element["facts"]:
                    value = _teams_line(fact["value"], seen, mentions)
                    lines.append(f"{fact['title']}: {value}")
            elif kind == "Container":
                walk(element.get("items", []))
            elif kind == "ActionSet":
                for action in element["actions"]:
                    if action["type"] == "Action.OpenUrl":
                        seen.buttons.append((action["title"], action["url"]))

    walk(card.get("body", []))
    for action in card.get("actions", []):
        if action["type"] == "Action.OpenUrl":
            seen.buttons.append((action["title"], action["url"]))
    seen.text = "\n".join(lines)
    return seen


_CW_TAG = re.compile(r"\[(/?)(info|title|hr|To:(\d+)|toall|code|qt|piconname:\d+)\]")


def chatwork_seen(form: dict[str, str]) -> Seen:
    """A Chatwork message as the room shows it: markup tags gone (their mentions noted),
    URLs as links."""
    seen = Seen("", [], [], [])

    def tag(match: re.Match[str]) -> str:
        if match.group(3):
            seen.mentions.append(match.group(3))
            return ""
        if match.group(2) == "toall":
            seen.mentions.append("toall")
            return ""
        return "\n" if match.group(2) == "hr" else ""

    text = _CW_TAG.sub(tag, form["body"])
    seen.links = [(url, url) for url in re.findall(r"https?://\S+", text)]
    seen.text = "\n".join(line for line in text.splitlines() if line.strip())
    return seen


def chatwork_tags(body: str) -> list[str]:
    """The markup tags of a Chatwork body, in order (``[info]``, ``[To:1]``, ``[hr]`` ...)."""
    return [m.group(0) for m in _CW_TAG.finditer(body)]


# --- notices as the service writes them ----------------------------------------------

BASE = "https://autoreply.example.com"


def sample_lead(n: int = 1, **changes: Any) -> LeadLine:
    """A handoff line as a notice carries it (handoff ``n``), with ``changes``."""
    values: dict[str, Any] = {
        "handoff_id": n,
        "url": f"{BASE}/rep/handoffs/{n}",
        "contacted_url": f"{BASE}/rep/handoffs/{n}/contacted?s=sig{n}",
        "who": f"山田 太郎{n} 様（サンプル商事）",
        "tier": "A",
        "tier_why": "料金ページを2回閲覧、1か月以内",
        "channel_text": "Webチャット",
        "timing_text": "1か月以内（「来月には決めたい」）",
        "challenge_text": "夜間の問い合わせ対応が遅れています",
        "first_line": (
            "夜分にお問い合わせいただきありがとうございます。夜間対応の件でご連絡いたしました。"
        ),
        "booking_text": "12月8日(火) 10:00 デモ担当 山田",
        "owner_text": "担当: 佐藤（インサイドセールス）",
        "deadline_text": "初回連絡の期限: 12月8日(火) 9:05",
        "deadline_at": "2026-12-08T09:05:00+09:00",
        "trigger_text": "事例を最後まで閲覧",
    }
    values.update(changes)
    return LeadLine(**values)


def sample_notice(*leads: LeadLine, **changes: Any) -> Notice:
    """A notice of ``leads`` (one sample lead if none), with ``changes``."""
    values: dict[str, Any] = {
        "kind": "tier_a",
        "title": "【Tier A】新しいリード: 山田 太郎1 様（サンプル商事）",
        "intro": "営業時間外に新しいリードが届きました。",
        "leads": leads or (sample_lead(),),
        "mention": None,
    }
    values.update(changes)
    return Notice(**values)


@asynccontextmanager
async def notify_stub(token: str = "test-chatwork-token") -> AsyncIterator[NotifyStub]:
    """The stand-in, listening on loopback for one test."""
    stub = NotifyStub(token=token)
    app = web.Application()
    app.router.add_route("*", "/{target:slack|teams}/{tail:.*}", stub.handle)
    app.router.add_route("*", r"/v2/rooms/{room:\d+}/messages", stub.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # port 0: the system picks a free one
    stub.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield stub
    finally:
        stub.release.set()
        await runner.cleanup()
