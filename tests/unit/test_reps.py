"""Rep accounts without a database: password hashes, API tokens, hours, login throttling."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from autoreply.errors import BadRequestError, ConfigError
from autoreply.service import reps
from autoreply.signing import new_token, token_hash, verify_token
from autoreply.web.routes.rep import elapsed

NOW = datetime(2026, 11, 21, 14, 10, tzinfo=UTC)


def test_a_password_verifies_against_its_hash_and_nothing_else() -> None:
    """The stored hash is argon2id, not the password; only the right password matches it."""
    stored = reps.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert reps.check_password("correct horse battery", stored) == (True, None)
    assert reps.check_password("correct horse batterY", stored) == (False, None)
    assert reps.check_password("anything", None) == (False, None)
    assert reps.check_password("anything", "not-a-hash") == (False, None)


def test_an_outdated_hash_is_upgraded_on_a_successful_check() -> None:
    """A hash made with weaker parameters verifies and comes back rehashed with today's."""
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("old-password-1")
    ok, upgraded = reps.check_password("old-password-1", weak)
    assert ok and upgraded is not None and upgraded != weak
    assert reps.check_password("old-password-1", upgraded) == (True, None)
    assert reps.check_password("wrong-password", weak) == (False, None)


def test_passwords_must_be_long_enough_and_generated_ones_are() -> None:
    """Short passwords are refused; generated ones are long and differ every time."""
    with pytest.raises(BadRequestError, match="at least 10"):
        reps.validate_password("short")
    generated = {reps.new_password() for _ in range(20)}
    assert len(generated) == 20
    assert all(len(p) >= reps.MIN_PASSWORD_LENGTH for p in generated)


def test_only_the_token_hash_is_kept_and_it_verifies_the_token() -> None:
    """An API token is checked against its SHA-256; another token does not match."""
    token = new_token()
    stored = token_hash(token)
    assert len(stored) == 64 and token not in stored
    assert verify_token(token, stored)
    assert not verify_token(new_token(), stored)
    assert not verify_token(token, None)


def test_hours_are_validated_and_stored_in_canonical_form() -> None:
    """Working hours parse like business hours; nonsense or never-working hours are refused."""
    assert reps.normalise_hours("Mon-Fri 10:00-16:00") == "mon-fri 10:00-16:00"
    assert reps.normalise_hours("mon 9:00-12:00; mon 12:00-15:00") == "mon 09:00-15:00"
    for bad in ("mon-fri 25:00-26:00", "weekdays", "mon 10:00", ""):
        with pytest.raises(ConfigError):
            reps.normalise_hours(bad)


def test_emails_are_normalised_and_checked() -> None:
    """Addresses are stored in lower case; a non-address is a clear error."""
    assert reps.normalise_email(" Sato@Example.COM ") == "sato@example.com"
    with pytest.raises(ConfigError, match="not an email address"):
        reps.normalise_email("sato")


def test_the_demo_password_is_made_once_and_kept_private(tmp_path: Path) -> None:
    """The first seed writes an owner-only file; later seeds reuse the same password."""
    path = tmp_path / "var" / "demo-rep-password.txt"
    password, stored = reps.demo_password(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert reps.check_password(password, stored)[0]
    assert reps.demo_password(path)[0] == password


def test_time_to_first_contact_is_whole_hours_and_minutes() -> None:
    """「初回対応まで」 counts from the handoff to the contact."""
    assert elapsed(NOW, NOW + timedelta(hours=58, minutes=25, seconds=59)) == (58, 25)
    assert elapsed(NOW, NOW - timedelta(minutes=1)) == (0, 0)
