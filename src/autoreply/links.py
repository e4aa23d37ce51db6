"""Every link handed to a lead, built and checked in one place.

Links live under ``AUTOREPLY_PUBLIC_URL`` and carry an HMAC signature over what they are
for and what they point at, so they can be neither forged nor re-aimed. Links sent by
email (continue the chat, book a slot) also expire after ``link_days``: the expiry is part
of what is signed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from autoreply.signing import sign, verify

__all__ = ["SHORT_DAYS", "Links", "ShortLink", "absolute_url"]

Purpose = Literal["continue", "book"]
ShortKind = Literal["cancel", "reschedule"]
CONTACTED_DAYS = 7
"""How long the 連絡済みにする link of a notification stays valid."""

SHORT_DAYS = 120
"""How long a short link in a chat or LINE message (``/b/<token>``) leads to its page."""
_SHORT_KINDS: dict[str, ShortKind] = {"c": "cancel", "r": "reschedule"}
_SHORT_SIGNATURE = 20  # hex digits of the HMAC kept in a short link: 80 bits
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_MAX_ROW_ID = 2**31 - 1  # an INTEGER primary key


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
        if number == 0:
            return digits


def _from_base36(text: str) -> int | None:
    """The number, or None for anything that is not 1-12 lowercase base-36 digits."""
    if not 0 < len(text) <= 12 or any(c not in _BASE36 for c in text):
        return None
    return int(text, 36)


@dataclass(frozen=True)
class ShortLink:
    """What an opened short link is: its page (cancel or reschedule) for one conversation
    (its row id), and whether it has expired (a forged link opens as None)."""

    kind: ShortKind
    conversation: int
    expired: bool


CASE_PAGES = "cases"
"""The demo site's case-study pages live at ``<public URL>/cases/<id>``."""


def absolute_url(public_url: str, url: str) -> str:
    """An operator file's URL as a lead's browser needs it.

    A URL starting with one ``/`` is a path under ``AUTOREPLY_PUBLIC_URL``
    (``/cases/x`` with ``https://host/app`` is ``https://host/app/cases/x``); anything else
    (``https://…``) is kept as written.
    """
    if url.startswith("/") and not url.startswith("//"):
        return public_url.rstrip("/") + url
    return url


class Links:
    """Builds and verifies the links of one deployment (secret and public URL)."""

    def __init__(self, secret: str, public_url: str, valid_for: timedelta) -> None:
        self.secret = secret
        self.base = public_url.rstrip("/")
        self.valid_for = valid_for

    def _url(self, path: str, *signed: str) -> str:
        return f"{self.base}/{path}?s={sign(self.secret, *signed)}"

    def cancel(self, conversation_id: str) -> str:
        """The link a lead uses to cancel this conversation's booking."""
        return self._url(f"bookings/{quote(conversation_id)}/cancel", "cancel", conversation_id)

    def cancel_valid(self, conversation_id: str, signature: str) -> bool:
        """Whether a cancel link's signature is ours."""
        return verify(self.secret, signature, "cancel", conversation_id)

    def reschedule(self, conversation_id: str) -> str:
        """The link a lead uses to move this conversation's booking to another free slot
        (signed like the cancel link; it follows the meeting through every move)."""
        return self._url(
            f"bookings/{quote(conversation_id)}/reschedule", "reschedule", conversation_id
        )

    def reschedule_valid(self, conversation_id: str, signature: str) -> bool:
        """Whether a reschedule link's signature is ours."""
        return verify(self.secret, signature, "reschedule", conversation_id)

    def short(self, kind: ShortKind, conversation_row_id: int, now: datetime) -> str:
        """A short link for a chat or LINE message: ``<public URL>/b/c2s.tc9k1c.<signature>``
        (about 30 characters after the host, where the signed page link has about 90). It
        redirects to the cancel or reschedule page of the conversation; it is signed (kind,
        row id and expiry), so it can be neither guessed nor re-aimed, and expires after
        ``SHORT_DAYS``."""
        letter = next(k for k, v in _SHORT_KINDS.items() if v == kind)
        expires = int((now + timedelta(days=SHORT_DAYS)).timestamp())
        head = f"{letter}{_base36(conversation_row_id)}.{_base36(expires)}"
        return f"{self.base}/b/{head}.{self._short_signature(head)}"

    def _short_signature(self, head: str) -> str:
        return sign(self.secret, "short", head)[:_SHORT_SIGNATURE]

    def short_opened(self, token: str, now: datetime) -> ShortLink | None:
        """What a short link's token is for (see ``short``); None if it is not ours."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0] or parts[0][0] not in _SHORT_KINDS:
            return None
        row_id, expires = _from_base36(parts[0][1:]), _from_base36(parts[1])
        if row_id is None or expires is None or row_id > _MAX_ROW_ID:
            return None
        head = f"{parts[0]}.{parts[1]}"
        given = parts[2].encode("utf-8", "replace")
        if not hmac.compare_digest(self._short_signature(head).encode("ascii"), given):
            return None
        return ShortLink(_SHORT_KINDS[parts[0][0]], row_id, expires <= now.timestamp())

    def absolute(self, url: str) -> str:
        """An operator file's URL made absolute under this deployment (see ``absolute_url``)."""
        return absolute_url(self.base, url)

    def case_page(self, case_id: str) -> str:
        """The demo site's own page of a case study."""
        return f"{self.base}/{CASE_PAGES}/{quote(case_id)}"

    def case_view(self, conversation_id: str, case_id: str) -> str:
        """Our own case page, signed so that serving it records "viewed" for this conversation."""
        signature = sign(self.secret, "case-view", conversation_id, case_id)
        return f"{self.case_page(case_id)}?c={quote(conversation_id)}&v={signature}"

    def case_view_valid(self, conversation_id: str, case_id: str, signature: str) -> bool:
        """Whether a case page's view signature is ours."""
        return verify(self.secret, signature, "case-view", conversation_id, case_id)

    def case(self, conversation_id: str, case_id: str) -> str:
        """The tracked link to a case study sent in a conversation (records the click)."""
        path = f"r/{quote(conversation_id)}/{quote(case_id)}"
        return self._url(path, "case", conversation_id, case_id)

    def case_valid(self, conversation_id: str, case_id: str, signature: str) -> bool:
        """Whether a case-study link's signature is ours."""
        return verify(self.secret, signature, "case", conversation_id, case_id)

    def token(self, purpose: Purpose, conversation_id: str, now: datetime) -> str:
        """``<conversation>.<expiry>.<signature>``: a capability for one conversation."""
        expires = str(int((now + self.valid_for).timestamp()))
        return f"{conversation_id}.{expires}.{sign(self.secret, purpose, conversation_id, expires)}"

    def opened(self, purpose: Purpose, token: str, now: datetime) -> str | None:
        """The conversation a token is for, if it is ours, for this purpose, and not expired."""
        parts = token.split(".")
        # str.isdigit() also takes "²" and "٣", which int() refuses or reads.
        if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()):
            return None
        conversation_id, expires, signature = parts
        if not verify(self.secret, signature, purpose, conversation_id, expires):
            return None
        return conversation_id if int(expires) > now.timestamp() else None

    def continue_chat(self, conversation_id: str, now: datetime) -> str:
        """Continue this conversation in the web chat (from an email), while valid."""
        return f"{self.base}/c/{self.token('continue', conversation_id, now)}"

    def book(self, conversation_id: str, now: datetime) -> str:
        """The booking page of this conversation's lead (from an email), while valid."""
        return f"{self.base}/book/{self.token('book', conversation_id, now)}"

    def handoff_page(self, handoff_id: int) -> str:
        """The rep page of a handoff (login required)."""
        return f"{self.base}/rep/handoffs/{handoff_id}"

    def contacted(self, handoff_id: int, rep_id: int, now: datetime) -> str:
        """The link in a notification that marks a handoff contacted by that rep, without a
        login (it is signed for this handoff and rep, and expires after a week). Opening
        it shows a confirmation; only the button there records the contact, so a link
        previewer fetching it changes nothing."""
        expires = str(int((now + timedelta(days=CONTACTED_DAYS)).timestamp()))
        ids = (str(handoff_id), str(rep_id), expires)
        return f"{self.base}/rep/contacted/{'.'.join(ids)}.{sign(self.secret, 'contacted', *ids)}"

    def contacted_opened(self, token: str, now: datetime) -> tuple[int, int] | None:
        """(handoff id, rep id) of a 連絡済み link, if it is ours and not expired."""
        parts = token.split(".")
        if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[:3]):
            return None
        handoff_id, rep_id, expires, signature = parts
        if not verify(self.secret, signature, "contacted", handoff_id, rep_id, expires):
            return None
        return (int(handoff_id), int(rep_id)) if int(expires) > now.timestamp() else None
