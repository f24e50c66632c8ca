"""Text that people wrote, made safe for Slack: escaped (no pings, no forged links) and cut to Slack's
limits without breaking an escape sequence."""

from __future__ import annotations

import re

ELLIPSIS = "…"
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")


def escape(text: str | None) -> str:
    """Escape for mrkdwn: ``&``, ``<``, ``>`` become entities, so ``<!channel>``, ``<@U123>`` and
    ``<https://evil|bank>`` show as typed; a bare ``@here`` gets a zero-width joiner so it cannot ping."""
    if not text:
        return ""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), escaped)


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending with ``…`` when cut, never in the middle of ``&amp;``."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    cut = _ENTITY_TAIL.sub("", cut)
    return cut + ELLIPSIS


def pieces(text: str, size: int) -> list[str]:
    """``text`` (already escaped) in pieces of at most ``size`` characters, none ending inside an
    ``&amp;``-style entity: for values longer than one block may hold, so nothing is cut away."""
    found: list[str] = []
    while len(text) > size:
        cut = text[:size]
        tail = _ENTITY_TAIL.search(cut)
        if tail and tail.start() > 0:
            cut = cut[: tail.start()]
        found.append(cut)
        text = text[len(cut) :]
    return [*found, text] if text or not found else found


def plain(text: str | None, limit: int) -> str:
    """For plain_text fields (Slack does not parse them): only whitespace folded and length cut."""
    folded = " ".join((text or "").split())
    return truncate(folded, limit)


def mrkdwn(text: str | None, limit: int) -> str:
    return truncate(escape(text), limit)


def one_line(text: str | None, limit: int) -> str:
    return truncate(escape(" ".join((text or "").split())), limit)


_SLACK_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def slack_to_plain(text: str | None) -> str:
    """A Slack message's text as a person would retype it: ``<@U1>`` → ``@U1``, ``<url|label>`` →
    ``label (url)``, ``<#C1|general>`` → ``#general``, entities decoded. For prefilling forms."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#")):
            return (target[0] + label) if label else target
        if target.startswith("!"):  # <!here>, <!subteam^S1|@team>, <!date^…|fallback>
            if label and (label.startswith("@") or target.startswith("!date")):
                return label
            return "@" + (label or target[1:].split("^")[0])
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        if not label or label == target or target.split("://", 1)[-1] == label:  # Slack's auto-links
            return label or target
        return f"{label} ({target})"

    plain_text = _SLACK_LINK.sub(link, text or "")
    return plain_text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
