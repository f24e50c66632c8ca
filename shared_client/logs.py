"""Logging for the console scripts: everything to stderr, with every secret value redacted."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # a shorter value would redact ordinary words


def redactable(secrets: Iterable[str]) -> tuple[str, ...]:
    """The values worth redacting (long enough), longest first: a secret that contains another goes whole."""
    return tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every one of ``secrets`` (from ``redactable``) replaced by ``[redacted]``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


# Secrets learnt while running (a Slack member's own UltraCart key, once connected): every RedactSecrets
# filter redacts them too, from the moment they are registered. Replaced whole, never changed in place: a
# filter in another thread reads one version or the next.
_registered: frozenset[str] = frozenset()
_registering = threading.Lock()


def register_secret(value: str) -> None:
    """Redact ``value`` from every log line of this process from now on (too short a value is ignored)."""
    global _registered
    if len(value) >= MIN_SECRET_LENGTH and value not in _registered:
        with _registering:
            _registered = _registered | {value}


def registered_secrets() -> frozenset[str]:
    return _registered


class RedactSecrets(logging.Filter):
    """Replace every secret value in a log line (message, arguments and traceback) with ``[redacted]``:
    those given here and those registered with :func:`register_secret`, before or after."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._given = tuple(secrets)
        self._seen: frozenset[str] | None = None
        self._secrets: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        registered = _registered
        if self._seen is not registered:
            self._secrets = redactable((*self._given, *registered))
            self._seen = registered
        return self._secrets

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
            if record.exc_info:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """One stderr handler on the root logger (never stdout: the stdio MCP transport owns it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
