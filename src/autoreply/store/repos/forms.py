"""Form submissions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import FormSubmission

__all__ = ["add_submission", "earlier_submission"]


async def earlier_submission(
    session: AsyncSession,
    form_id: str,
    email: str,
    since: datetime,
    fields: Mapping[str, Any],
) -> FormSubmission | None:
    """The newest first-time submission of this form from this address since ``since``
    that said exactly the same (``fields``, compared as stored JSON): a resubmission. A
    different document or message is a new request."""
    wanted = _canonical(fields)
    rows = await session.scalars(
        select(FormSubmission)
        .where(
            FormSubmission.form_id == form_id,
            FormSubmission.email == email,
            FormSubmission.duplicate_of_id.is_(None),
            FormSubmission.received_at >= since,
        )
        .order_by(FormSubmission.id.desc())
        .limit(_RECENT)
    )
    return next((row for row in rows if _canonical(row.fields) == wanted), None)


_RECENT = 50  # first-time submissions of one form from one address in a window: few


def _canonical(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)


def add_submission(
    session: AsyncSession,
    *,
    form_id: str,
    email: str,
    lead_id: int,
    fields: Mapping[str, Any],
    source: Mapping[str, Any],
    now: datetime,
    duplicate_of: FormSubmission | None,
) -> FormSubmission:
    """A received submission, added to the session (a repeat of ``duplicate_of``
    belongs to its conversation)."""
    row = FormSubmission(
        form_id=form_id,
        email=email,
        lead_id=lead_id,
        fields=dict(fields),
        source=dict(source),
        received_at=now,
        duplicate_of_id=duplicate_of.id if duplicate_of else None,
        conversation_id=duplicate_of.conversation_id if duplicate_of else None,
    )
    session.add(row)
    return row
