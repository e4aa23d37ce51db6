"""Phone numbers as people read them (national at home, international abroad) and as the
handoff CSV carries them (E.164); what is not a number is shown as typed."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from autoreply.channels.email.render import MailRenderer
from autoreply.domain.crm_export import csv_lines, header
from autoreply.domain.invites import Person
from autoreply.domain.leads import clean_phone, find_contact
from autoreply.domain.phones import e164_phone, show_phone
from autoreply.web.pages import Pages
from tests.conftest import ROOT

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("typed", "shown", "e164"),
    [
        ("03-1234-5678", "03-1234-5678", "+81312345678"),
        ("０３－１２３４－５６７８", "03-1234-5678", "+81312345678"),  # full-width
        ("090-1234-5678", "090-1234-5678", "+819012345678"),
        ("0120-123-456", "0120-123-456", "+81120123456"),
        ("06 6123 4567", "06-6123-4567", "+81661234567"),
        ("+81 3 1234 5678", "03-1234-5678", "+81312345678"),
        ("+1 415 555 0100", "+1 415-555-0100", "+14155550100"),
        ("+44 20 7946 0958", "+44 20 7946 0958", "+442079460958"),
    ],
)
def test_a_cleaned_number_is_shown_nationally_at_home_and_internationally_abroad(
    typed: str, shown: str, e164: str
) -> None:
    stored = clean_phone(typed)
    assert stored is not None and stored.startswith("+")  # stored as before: international
    assert show_phone(stored) == shown
    assert e164_phone(stored) == e164


@pytest.mark.parametrize("junk", ["", "電話は後ほど", "12", "03-1234-567890123", "+", "x" * 500])
def test_what_is_not_a_number_is_shown_as_written(junk: str) -> None:
    assert show_phone(junk) == junk
    assert e164_phone(junk) == junk
    assert show_phone(None) == ""


def test_a_number_found_in_a_sentence_is_shown_nationally() -> None:
    found = find_contact("電話でお願いします。090-1234-5678です")
    assert found is not None and show_phone(found) == "090-1234-5678"


def test_the_csv_carries_e164_and_people_see_it_nationally() -> None:
    text = csv_lines([{"handoff_id": 1, "phone": "+81 3-1234-5678"}], TOKYO, first=True)
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    cell = rows[1][header().index("電話番号")]
    assert cell == "'+81312345678"  # E.164, guarded so a spreadsheet keeps the "+"
    junk = csv_lines([{"handoff_id": 2, "phone": "後で"}], TOKYO, first=False)
    assert "後で" in junk


def test_every_template_environment_has_the_phone_filters(tmp_path: Path) -> None:
    """Rep pages, emails and flow texts all show a phone with the same ``phone`` filter
    (and ``tel`` for a tel: link)."""
    pages = Pages(ROOT / "templates", TOKYO)
    mail = MailRenderer(ROOT / "templates", Person("営業", "sales@example.com"))
    for env in (pages.env, mail.text, mail.html):
        out = env.from_string("{{ p | phone }} <{{ p | tel }}>").render(p="+81 3-1234-5678")
        assert out in ("03-1234-5678 <+81312345678>", "03-1234-5678 &lt;+81312345678&gt;")


def test_the_rep_pages_and_the_rep_email_use_it() -> None:
    """No template shows a lead's phone raw (the stored +81 form)."""
    for path in [
        *sorted((ROOT / "templates" / "rep").glob("*.html")),
        *sorted((ROOT / "templates" / "email").glob("rep_notice.*")),
    ]:
        text = path.read_text(encoding="utf-8")
        for raw in ("{{ r.lead.phone }}", "r.lead.phone or '"):
            assert raw not in text, f"{path.name}: {raw}"
