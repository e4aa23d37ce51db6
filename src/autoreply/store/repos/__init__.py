"""Every query the product runs, one function each, on an open ``AsyncSession``.

All SQL lives in ``store``: the use cases call these functions by name
(``repos.lock_conversation(...)``); the modules group them by table.
"""

from autoreply.store.repos.bookings import (
    add_booking,
    booking_in_context,
    bookings_between,
    confirmed_booking,
    rep_loads,
)
from autoreply.store.repos.conversations import (
    add_conversation,
    add_messages,
    conversation_by_id,
    conversation_by_public_id,
    flow_id_of,
    idle_conversations,
    latest_on_contact,
    lock_conversation,
    lock_conversation_and_lead,
    message_row,
    messages_of,
    token_hash_of,
)
from autoreply.store.repos.counters import (
    add_hit,
    clear_counters,
    counter_value,
    hold_until,
    prune_counters,
)
from autoreply.store.repos.forms import add_submission, earlier_submission
from autoreply.store.repos.handoffs import (
    add_handoff,
    handoff_of,
    handoff_with_channel,
    handoffs,
    lock_handoff,
)
from autoreply.store.repos.inbound import (
    claim_inbound,
    inbound_failed,
    pending_inbound,
    record_inbound,
)
from autoreply.store.repos.leads import (
    LEAD_FIELDS,
    add_identity,
    current_lead,
    get_lead,
    identities_of,
    lead_of_identity,
    resolve_lead,
    update_lead,
)
from autoreply.store.repos.queue import cancel_pending, enqueue, queued_in, recipients_of
from autoreply.store.repos.reps import (
    active_reps,
    add_rep,
    all_reps,
    count_reps,
    get_rep,
    rep_by_email,
    rep_by_token,
)

__all__ = [
    "LEAD_FIELDS",
    "active_reps",
    "add_booking",
    "add_conversation",
    "add_handoff",
    "add_hit",
    "add_identity",
    "add_messages",
    "add_rep",
    "add_submission",
    "all_reps",
    "booking_in_context",
    "bookings_between",
    "cancel_pending",
    "claim_inbound",
    "clear_counters",
    "confirmed_booking",
    "conversation_by_id",
    "conversation_by_public_id",
    "count_reps",
    "counter_value",
    "current_lead",
    "earlier_submission",
    "enqueue",
    "flow_id_of",
    "get_lead",
    "get_rep",
    "handoff_of",
    "handoff_with_channel",
    "handoffs",
    "hold_until",
    "identities_of",
    "idle_conversations",
    "inbound_failed",
    "latest_on_contact",
    "lead_of_identity",
    "lock_conversation",
    "lock_conversation_and_lead",
    "lock_handoff",
    "message_row",
    "messages_of",
    "pending_inbound",
    "prune_counters",
    "queued_in",
    "recipients_of",
    "record_inbound",
    "rep_by_email",
    "rep_by_token",
    "rep_loads",
    "resolve_lead",
    "token_hash_of",
    "update_lead",
]
