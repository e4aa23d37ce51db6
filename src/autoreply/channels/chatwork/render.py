"""A ``Notice`` as a Chatwork message body in Chatwork's markup (pure).

``[To:<account id>]`` when the notice mentions someone, then one ``[info]`` box titled
with the notice's title: the intro, and per lead its name, its facts as 「ラベル: 値」
lines, the suggested first line and the two links (open the handoff, mark it contacted)
as plain URLs, ``[hr]`` between leads. A message may be 65,535 characters long: a digest
shows the leads that fit whole and then 「ほか{n}件」 with the next lead's link.

Chatwork reads ``[...]`` as markup anywhere, so text the lead wrote has its square
brackets made full-width (``[toall]`` shows as ［toall］): it can neither mention anyone
nor close the box.
"""

from __future__ import annotations

from autoreply.channels.layout import clip, fields
from autoreply.domain.notices import LeadLine, Notice, label

__all__ = ["MAX_LENGTH", "chatwork_body", "escape", "length"]

MAX_LENGTH = 65_535
MAX_TITLE = 500
MAX_VALUE = 2_000  # characters of one fact, so that one lead always fits
_CLOSE = "[/info]"


def escape(text: str) -> str:
    """Text shown as itself: square brackets made full-width, so no tag can form."""
    return text.replace("[", "［").replace("]", "］")


def length(text: str) -> int:
    """The length Chatwork's limit is held to, counted in UTF-16 units (an emoji is two),
    which is never less than the characters."""
    return len(text.encode("utf-16-le")) // 2


def _url(url: str) -> str:
    return url.replace("[", "%5B").replace("]", "%5D")


def _mention(account: str) -> str:
    """``[To:<id>]`` for an account id; anything else is shown as text (a
    misconfiguration a reader can see)."""
    return f"[To:{account}]" if account.isascii() and account.isdigit() else escape(f"@{account}")


def _lead(lead: LeadLine, locale: str) -> str:
    lines = [escape(clip(lead.who, MAX_VALUE))]
    lines += [f"{name}: {escape(clip(value, MAX_VALUE))}" for name, value in fields(lead, locale)]
    if lead.first_line.strip():
        line = escape(clip(lead.first_line.strip(), MAX_VALUE))
        lines.append(f"{label(locale, 'first_line')}: {line}")
    lines.append(f"{label(locale, 'open')}: {_url(lead.url)}")
    if lead.contacted_url is not None:
        lines.append(f"{label(locale, 'contacted')}: {_url(lead.contacted_url)}")
    return "\n".join(lines)


def _more(notice: Notice, shown: int) -> str:
    rest = notice.leads[shown:]
    if not rest:
        return ""
    return f"\n[hr]{label(notice.locale, 'more', count=len(rest))}: {_url(rest[0].url)}"


def chatwork_body(notice: Notice) -> str:
    """The ``body`` of the message for ``notice``, at most ``MAX_LENGTH`` long."""
    head = _mention(notice.mention) + "\n" if notice.mention else ""
    text = f"{head}[info][title]{escape(clip(notice.title, MAX_TITLE))}[/title]"
    intro = (notice.intro or "").strip()
    if intro:
        text += escape(clip(intro, MAX_VALUE)) + "\n\n"
    shown = 0
    for index, lead in enumerate(notice.leads):
        piece = ("\n[hr]" if index else "") + _lead(lead, notice.locale)
        after = _more(notice, index + 1)
        if shown and length(text + piece + after + _CLOSE) > MAX_LENGTH:
            break
        text += piece
        shown += 1
    return text + _more(notice, shown) + _CLOSE
