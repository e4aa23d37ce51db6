"""The pure parts of email: form declarations and checks, invites, scheduling, backoff, messages."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from icalendar import Calendar

from autoreply.channels.email.render import MailRenderer, parse_sender, serialize
from autoreply.domain.forms import parse_forms
from autoreply.domain.invites import Invite, Person, invite_ics
from autoreply.errors import ConfigError, FlowError
from autoreply.service.content import Content
from autoreply.service.meetings import pre_meeting_at
from autoreply.store.outbox import MAX_BACKOFF, backoff
from tests.conftest import ROOT, tokyo

GOOD = """\
forms:
  demo:
    title: 資料請求
    fields:
      email: {type: email, label: メール, required: true}
      name: {type: name, label: お名前, required: true}
      plan:
        type: choice
        label: プラン
        choices: [{value: basic, label: ベーシック}]
      note: {type: textarea, label: ご相談, max_length: 10, challenge: true}
"""


def test_a_broken_forms_file_names_file_line_and_problem() -> None:
    """Every problem is reported at its place, not just the first."""
    text = """\
forms:
  demo:
    title: 資料請求
    colour: red
    fields:
      name: {type: name, label: お名前}
      kind: {type: choice, label: 種類}
"""
    with pytest.raises(FlowError) as caught:
        parse_forms(text, "forms.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert "forms.yaml:4:5: unknown key 'colour'" in problems


def test_semantic_problems_are_located_too() -> None:
    """No email field, a choice without choices, a honeypot that is a field."""
    text = """\
forms:
  demo:
    title: 資料請求
    honeypot: name
    fields:
      name: {type: name, label: お名前}
      kind: {type: choice, label: 種類}
"""
    with pytest.raises(FlowError) as caught:
        parse_forms(text, "forms.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert "forms.yaml:5:5: a form needs exactly one email field" in problems
    assert "forms.yaml:7:13: a choice field needs choices" in problems
    assert "forms.yaml:4:15: the honeypot must not be one of the fields" in problems


def test_submissions_are_cleaned_or_refused_field_by_field() -> None:
    """Addresses are normalised, names lose と申します, unknown choices and long text are
    refused with a code per field; fields the form does not have are ignored."""
    forms = parse_forms(GOOD, "forms.yaml")
    form = forms.get("demo")
    assert form is not None
    ok, errors = forms.check(
        form,
        {"email": " Taro@Example.COM ", "name": "山田太郎と申します", "x": "y", "consent": "yes"},
    )
    assert errors == {} and ok is not None
    assert ok.values == {"email": "taro@example.com", "name": "山田太郎"}
    assert ok.lead_facts() == {"email": "taro@example.com", "name": "山田太郎"}
    _, errors = forms.check(form, {"email": "taro@", "plan": "gold", "note": "長" * 11})
    assert {k: e.code for k, e in errors.items()} == {
        "email": "invalid_email",
        "name": "required",
        "plan": "unknown_choice",
        "note": "too_long",
        "consent": "consent_required",  # 個人情報の取り扱い not agreed
    }


def test_the_shipped_forms_fit_the_shipped_flows(content: Content) -> None:
    """flows/forms.yaml passes the checks against flows, topics and templates."""
    from autoreply.bootstrap import check_forms, load_checked_forms

    renderer = MailRenderer(ROOT / "templates", parse_sender("A <a@example.com>"))
    forms = load_checked_forms(content, renderer)
    assert {"document-request", "inquiry"} <= set(forms.by_id)
    broken = parse_forms(GOOD.replace("title: 資料請求", "title: x\n    flow: nope"), "f.yaml")
    assert check_forms(broken, content, renderer) == [
        "f.yaml:4:11: form 'demo': unknown flow 'nope'"
    ]


def test_a_bad_sender_names_the_setting() -> None:
    """AUTOREPLY_MAIL_FROM must hold an address."""
    assert parse_sender("営業部 <sales@example.com>") == Person("営業部", "sales@example.com")
    with pytest.raises(ConfigError, match="AUTOREPLY_MAIL_FROM"):
        parse_sender("営業部")


def test_the_pre_meeting_email_goes_the_business_day_before_or_now(content: Content) -> None:
    """Wednesday's meeting: Tuesday 17:00. Tuesday's (after the 11/23 holiday): Friday
    17:00, which on Saturday night has passed, so now. Over the year end: 12/28."""
    calendar = content.calendar
    at = time(17, 0)
    saturday_night = tokyo(2026, 11, 21, 23, 10)
    wednesday = tokyo(2026, 11, 25, 10, 0)
    assert pre_meeting_at(calendar, wednesday, saturday_night, at) == tokyo(2026, 11, 24, 17, 0)
    tuesday = tokyo(2026, 11, 24, 10, 0)
    assert pre_meeting_at(calendar, tuesday, saturday_night, at) == saturday_night
    january = tokyo(2027, 1, 4, 13, 0)
    assert pre_meeting_at(calendar, january, saturday_night, at) == tokyo(2026, 12, 28, 17, 0)


def test_backoff_doubles_up_to_an_hour_with_a_little_spread() -> None:
    """30 s, 60 s, 120 s ... never more than an hour (±10%)."""
    first = [backoff(1, 30).total_seconds() for _ in range(50)]
    assert all(27 <= s <= 33 for s in first) and len(set(first)) > 1
    assert 108 <= backoff(3, 30).total_seconds() <= 132
    assert backoff(30, 30) <= MAX_BACKOFF * 1.1


def test_an_invite_parses_with_the_meeting_in_tokyo_time() -> None:
    """REQUEST and CANCEL share the UID; CANCEL has a higher sequence; CRLF throughout."""
    meeting = Invite(
        uid="booking-1@example.com",
        start=tokyo(2026, 11, 24, 10, 0),
        end=tokyo(2026, 11, 24, 10, 30),
        summary="オンライン打ち合わせ",
        description="担当：山田",
        organizer=Person("山田 花子", "rep@example.com"),
        attendees=(Person("佐藤太郎", "taro@example.com"),),
        stamp=tokyo(2026, 11, 21, 23, 10),
    )
    request = invite_ics(meeting, "REQUEST")
    assert request.count(b"\r\n") == request.count(b"\n")
    parsed = Calendar.from_ical(request)
    [event] = parsed.walk("VEVENT")
    assert parsed["METHOD"] == "REQUEST" and parsed.walk("VTIMEZONE")
    assert event.decoded("DTSTART") == tokyo(2026, 11, 24, 10, 0)
    assert event["ATTENDEE"].params["CN"] == "佐藤太郎"
    cancel = Calendar.from_ical(invite_ics(Invite(**{**meeting.__dict__, "sequence": 1}), "CANCEL"))
    [gone] = cancel.walk("VEVENT")
    assert str(gone["UID"]) == str(event["UID"]) and int(gone["SEQUENCE"]) == 1
    assert str(gone["STATUS"]) == "CANCELLED"


def test_html_parts_escape_what_the_lead_wrote(tmp_path: object) -> None:
    """A lead's text is text in the HTML part, and the message is 7-bit on the wire."""
    renderer = MailRenderer(ROOT / "templates", parse_sender("営業部 <sales@example.com>"))
    rendered = renderer.render(
        "form_reply",
        "ja",
        to=Person("<b>山田</b>", "taro@example.com"),
        now=tokyo(2026, 11, 21, 23, 10),
        variables={
            "form": {"title": "資料請求"},
            "lead": {"name": "<b>山田</b>"},
            "quote": "<script>alert(1)</script>",
            "documents": [],
            "cases": [],
            "open_now": False,
            "next_opening": tokyo(2026, 11, 24, 9, 0),
            "continue_url": "http://127.0.0.1:8000/c/x",
            "book_url": "http://127.0.0.1:8000/book/x",
            "link_days": 14,
        },
    )
    html = rendered.message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "&lt;script&gt;" in content and "<script>" not in content
    wire = serialize(rendered.message)
    assert max(wire.encode("utf-8")) < 128 and "\r\n" in wire
    plain = rendered.message.get_body(("plain",))
    assert plain is not None and "> <script>alert(1)</script>" in plain.get_content()
    assert timedelta(0) == rendered.message["Date"].datetime.utcoffset() - timedelta(hours=9)


@pytest.mark.parametrize(
    ("locale", "now", "expected"),
    [
        ("ja", tokyo(2026, 12, 2, 17, 2), "担当者より本日中にご連絡いたします。"),
        (
            "ja",
            tokyo(2026, 12, 2, 17, 45),
            "本日中、遅くとも12月3日(木) 9:15までにご連絡いたします。",
        ),
        ("ja", tokyo(2026, 11, 21, 23, 10), "担当者より11月24日(火) 9:00以降にご連絡いたします。"),
        ("en", tokyo(2026, 12, 2, 17, 2), "A member of our team will contact you today."),
    ],
)
def test_the_form_reply_email_makes_the_same_promise_as_the_chat(
    content: Content, locale: str, now: datetime, expected: str
) -> None:
    """Both parts of the form reply say the one promise: today in hours, the opening after."""
    from autoreply.domain.promise import follow_up

    renderer = MailRenderer(ROOT / "templates", parse_sender("営業部 <sales@example.com>"))
    rendered = renderer.render(
        "form_reply",
        locale,
        to=Person("山田", "taro@example.com"),
        now=now,
        variables={
            "form": {"title": "資料請求"},
            "lead": {"name": "山田"},
            "documents": [],
            "cases": [],
            "open_now": content.calendar.is_open(now),
            "follow_up": follow_up(content.calendar, now),
            "continue_url": "http://127.0.0.1:8000/c/x",
            "book_url": "http://127.0.0.1:8000/book/x",
            "link_days": 14,
        },
    )
    for kind in ("plain", "html"):
        body = rendered.message.get_body((kind,))
        assert body is not None and expected in body.get_content()
