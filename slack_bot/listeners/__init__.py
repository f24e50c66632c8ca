"""Listeners, one module per Slack surface; each has ``register(app, deps)`` and nothing else wires."""
