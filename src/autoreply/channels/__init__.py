"""Channel adapters: each turns its wire format into neutral events and renders replies."""
