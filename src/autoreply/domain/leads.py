"""What a lead types, checked and cleaned per slot type (email, phone, name, company).

Text from outside is cleaned at the edge in one of two ways: free text (a message, a
challenge) only loses its NUL characters, which PostgreSQL text cannot hold; a single-line
value (a name, a company, anything that may end up in an email header) also has every run
of control characters (CR, LF, tab, NUL, DEL, C1, the Unicode line separators) collapsed
into one space, so a header built from it can never be split.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

__all__ = [
    "MAX_ANSWER_CHARS",
    "clean_company",
    "clean_email",
    "clean_name",
    "clean_phone",
    "find_contact",
    "free_text",
    "one_line",
]

MAX_ANSWER_CHARS = 2000

_NAME_TAIL = re.compile(r"(と申します|ともうします|です|でございます)[。.!！\s]*$")
_NAME_HEAD = re.compile(r"^(私は|わたしは|my name is|i am|i'm)\s*", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


def free_text(text: str) -> str:
    """Text as a lead wrote it, without NUL characters (line breaks and tabs kept).

    >>> free_text("夜間の\\x00問い合わせ\\n")
    '夜間の問い合わせ\\n'
    """
    return text.replace("\x00", "")


def one_line(text: str) -> str:
    """A single-line value: control characters and runs of spaces become one space.

    >>> one_line("A\\r\\nBcc: x@example.com ")
    'A Bcc: x@example.com'
    """
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


# Where an address may sit inside a sentence (「taro@example.co.jpです」): ASCII local part and
# domain, after NFKC; the candidate is then validated like any typed address.
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def find_contact(text: str, region: str = "JP") -> str | None:
    """An email address or phone number written anywhere in the text (「電話で。090-1234-5678
    です」), cleaned; the email address when there are both; None when there is neither.

    >>> find_contact("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ です")
    'taro@example.co.jp'
    >>> find_contact("電話でお願いします。090-1234-5678です")
    '+81 90-1234-5678'
    """
    plain = _nfkc(text)
    if len(plain) > MAX_ANSWER_CHARS:
        return None
    whole = clean_email(plain)
    if whole:
        return whole
    for found in _EMAIL_IN_TEXT.finditer(plain):
        email = clean_email(found.group(0).rstrip("."))
        if email:
            return email
    for match in phonenumbers.PhoneNumberMatcher(plain, region):
        if phonenumbers.is_valid_number(match.number):
            return phonenumbers.format_number(
                match.number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
            )
    return None


def clean_email(text: str) -> str | None:
    """The normalised address, or None if it is not a usable email address.

    >>> clean_email(" Taro@Example.COM ")
    'Taro@example.com'
    """
    candidate = _nfkc(text)
    if not candidate or len(candidate) > 254:
        return None
    try:
        return validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def clean_phone(text: str, region: str = "JP") -> str | None:
    """A valid phone number in international format (+81...), or None.

    >>> clean_phone("０３－１２３４－５６７８")
    '+81 3-1234-5678'
    """
    candidate = _nfkc(text)
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def clean_name(text: str) -> str | None:
    """A person's name without 'と申します' and the like; None if empty or absurdly long."""
    candidate = _NAME_HEAD.sub("", _NAME_TAIL.sub("", one_line(_nfkc(text)))).strip()
    return candidate if 0 < len(candidate) <= 100 else None


def clean_company(text: str) -> str | None:
    """A company name as typed (NFKC, trimmed); None if empty or absurdly long."""
    candidate = one_line(_nfkc(text))
    candidate = re.sub(r"(です|でございます)[。.]*$", "", candidate).strip()
    return candidate if 0 < len(candidate) <= 200 else None
