"""Phone numbers as people read them, and as machines exchange them.

A lead's number is stored as cleaned (``domain.leads.clean_phone``: international format,
``+81 3-1234-5678``). People see it the way it is dialled from here: a number of the home
region (Japan) in its national format (``03-1234-5678``), a foreign one in international
format (``+1 415-555-0100``). Files for other systems (the handoff CSV) carry E.164
(``+81312345678``). What is not a phone number is shown as it was typed.
"""

from __future__ import annotations

import phonenumbers

__all__ = ["HOME_REGION", "e164_phone", "show_phone"]

HOME_REGION = "JP"
"""Where the company and its reps are: numbers of this region are shown nationally."""


def _parsed(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def show_phone(value: object, home: str = HOME_REGION) -> str:
    """The number as a person at ``home`` dials it; anything else as it was written.

    >>> show_phone("+81 3-1234-5678")
    '03-1234-5678'
    >>> show_phone("+1 415-555-0100")
    '+1 415-555-0100'
    """
    if value is None:
        return ""
    text = str(value)
    number = _parsed(text, home) if len(text) <= 40 else None
    if number is None:
        return text
    if phonenumbers.region_code_for_number(number) == home:
        style = phonenumbers.PhoneNumberFormat.NATIONAL
    else:
        style = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return str(phonenumbers.format_number(number, style))


def e164_phone(value: str | None, home: str = HOME_REGION) -> str | None:
    """The number in E.164 (``+81312345678``) for other systems; anything else unchanged."""
    if not value:
        return value
    number = _parsed(value, home) if len(value) <= 40 else None
    if number is None:
        return value
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
