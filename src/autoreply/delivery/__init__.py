"""Delivery from the outbox: the worker, and the transports it hands messages to."""
