"""The CRM webhooks: events POSTed as signed JSON (see docs/crm.md)."""
