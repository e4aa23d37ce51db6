"""The application layer: one use case per module, each a transaction over the store."""
