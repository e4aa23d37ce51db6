"""Form submissions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import FormSubmission

__all__ = ["add_submission", "earlier_submission"]


async def earlier_submission(
    session: AsyncSession, form_id: str, email: str, since: datetime
) -> FormSubmission | None:
    """The newest first-time submission of this form from this address since ``since``."""
    return await session.scalar(
        select(FormSubmission)
        .where(
            FormSubmission.form_id == form_id,
            FormSubmission.email == email,
            FormSubmission.duplicate_of_id.is_(None),
            FormSubmission.received_at >= since,
        )
        .order_by(FormSubmission.id.desc())
        .limit(1)
    )


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
