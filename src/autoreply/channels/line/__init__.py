"""The LINE channel: webhook wire format, stored inbound events, Messaging API transport."""
