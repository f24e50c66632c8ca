"""The ``/task`` grammar: a pure parser from the command's text to what to do.

Nothing here talks to Slack or UltraCart. The result is a tool call (the tool + arguments), a request to
open a form, or a usage error that points at the offending word. Slack user mentions stay as
:class:`SlackUser` values: only the listener can map a Slack user to an UltraCart user. What a task
reference is comes from the tools (``shared_client.tools.task_refs``): Slack accepts what they accept.

The command arrives as Slack sends it with ``should_escape`` (see manifest.yaml): ``&``, ``<``, ``>`` as
entities, mentions as ``<@U123|name>``, links as ``<url|label>``. Words are split on that raw text, a
``<...>`` run staying one word; values are read back as the person typed them (:func:`slack_to_plain`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from shared_client.feed.events import NOTIFIABLE
from shared_client.tools import ADD_TASK_NOTE, GET_TASK, SEARCH_TASKS, UPDATE_TASK, Tool
from shared_client.tools.directory import UNASSIGNED_WORDS
from shared_client.tools.task_refs import TASK_REF_ACCEPTS, is_task_ref, task_ref_problem
from slack_bot import ids
from slack_bot.text import slack_to_plain

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Word:
    """One word: ``text`` as the person typed it, ``raw`` as Slack sent it (quotes removed), and its
    place in the raw command."""

    text: str
    start: int
    end: int
    raw: str = ""


@dataclass(frozen=True)
class SlackUser:
    """A Slack user named in the command; ``user_id=None`` is the person who typed it (``me``)."""

    user_id: str | None = None


ArgValue = str | bool | list[str] | SlackUser


@dataclass(frozen=True)
class ToolCall:
    tool: Tool[Any, Any]
    args: dict[str, ArgValue]
    verb: str
    words: dict[str, Word] = field(default_factory=dict)  # argument → the word it came from
    note: str | None = None  # `close REF note`: added with add_task_note, as the closer


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class OpenCreate:
    title: str = ""


@dataclass(frozen=True)
class OpenSearch:
    pass


@dataclass(frozen=True)
class Mine:
    pass


@dataclass(frozen=True)
class SetIdentity:
    who: str | None  # None: show who I am; else ask the admins to link me to this UltraCart user


@dataclass(frozen=True)
class LinkMember:
    """``/task link @member USER`` (admins): ``member`` is a Slack user id."""

    member: str
    who: str


@dataclass(frozen=True)
class UnlinkMember:
    member: str


@dataclass(frozen=True)
class ShowPeople:
    pass


@dataclass(frozen=True)
class ConnectKey:
    connect: bool  # True: /task connect (the modal); False: /task disconnect


@dataclass(frozen=True)
class GroupMembership:
    action: str  # "join", "leave" or "list"
    group: str = ""


@dataclass(frozen=True)
class Subscribe:
    """``/task subscribe FILTERS [events:LIST]``: ``search`` is the filters as ``/task search`` parses
    them; ``events`` the subscription event names (:data:`SUBSCRIPTION_EVENTS`, default all)."""

    search: ToolCall
    events: tuple[str, ...]
    filters: str  # as typed, without the events word


@dataclass(frozen=True)
class Unsubscribe:
    which: str  # "": the channel's only subscription; "all"; or its number in /task subscriptions


@dataclass(frozen=True)
class ShowSubscriptions:
    pass


@dataclass(frozen=True)
class DigestSetting:
    """``/task digest on|off|HH:MM``: ``action`` is "on", "off", "at" (``at``: hour and minute, 24-hour)
    or "show" (``/task digest`` alone)."""

    action: str
    at: tuple[int, int] | None = None


@dataclass(frozen=True)
class UsageError:
    message: str
    text: str
    word: Word | None = None
    usage: str = ""

    def shown(self) -> str:
        """The command as the person typed it (entities and Slack's markup undone)."""
        return f"{ids.COMMAND} {slack_to_plain(self.text)}"

    def pointer(self) -> str:
        """Marks the offending word under :meth:`shown`, e.g. ``/task statsu #12`` and ``^^^^^^``."""
        if self.word is None:
            return ""
        before = len(slack_to_plain(self.text[: self.word.start]))
        width = len(slack_to_plain(self.text[self.word.start : self.word.end]))
        return " " * (len(ids.COMMAND) + 1 + before) + "^" * max(1, width)


Parsed = (
    ToolCall
    | ShowHelp
    | OpenCreate
    | OpenSearch
    | Mine
    | SetIdentity
    | GroupMembership
    | ConnectKey
    | UsageError
    | LinkMember
    | UnlinkMember
    | ShowPeople
    | Subscribe
    | Unsubscribe
    | ShowSubscriptions
    | DigestSetting
)

# --------------------------------------------------------------------------- usage text

USAGE: dict[str, str] = {
    "new": "/task new [title]",
    "mine": "/task mine",
    "search": '/task search [status:open priority:high assignee:@alice|me|unassigned group:"Customer '
    'Service" type:order object:12345 tag:vip due:overdue|DATE..DATE created:DATE.. sort:-due]',
    "show": "/task show REF",
    "assign": '/task assign REF @user|"group"|me|unassigned',
    "status": "/task status REF open|closed|delayed|awaiting",
    "priority": "/task priority REF low|medium|high|critical",
    "close": "/task close REF [note]",
    "reopen": "/task reopen REF",
    "note": "/task note REF TEXT",
    "iam": "/task iam USER (asks the workspace's admins to link you; /task iam alone: who am I)",
    "groups": '/task groups | /task join "GROUP" | /task leave "GROUP"',
    "connect": "/task connect (your own UltraCart key) | /task disconnect",
    "link": "/task link @member USER (admins)",
    "unlink": "/task unlink @member (admins)",
    "people": "/task people (admins: who is who)",
    "subscribe": "/task subscribe FILTERS [events:created,assigned,status,priority,due,note,closed,overdue] "
    "(in a channel: post matching tasks as they change; FILTERS as for search)",
    "unsubscribe": "/task unsubscribe [N|all]",
    "subscriptions": "/task subscriptions (this channel's)",
    "digest": "/task digest on|off|HH:MM (a daily DM: your overdue, due today and newly assigned tasks)",
}
REF_HELP = f"REF is {TASK_REF_ACCEPTS}"
ALIASES = {
    "create": "new",
    "add": "new",
    "list": "search",
    "find": "search",
    "view": "show",
    "open": "show",
    "reassign": "assign",
    "comment": "note",
    "done": "close",
    "me": "mine",
    "my": "mine",
    "join": "join",
    "leave": "leave",
    "whoami": "iam",
}
VERBS = (*USAGE, "join", "leave", "disconnect", "help")

SEARCH_KEYS = {
    "status": "status",
    "is": "status",
    "priority": "priority",
    "prio": "priority",
    "assignee": "assignee",
    "assigned": "assignee",
    "to": "assignee",
    "who": "assignee",
    "group": "group",
    "type": "object_type",
    "object_type": "object_type",
    "object": "object_id",
    "id": "object_id",
    "order": "object_id",
    "email": "object_email",
    "tag": "tags",
    "tags": "tags",
    "due": "due",
    "created": "created",
    "sort": "sort",
    "by": "created_by",
    "creator": "created_by",
}
SEARCH_KEY_LIST = "status, priority, assignee, group, type, object, email, tag, due, created, by, sort"

# --------------------------------------------------------------------------- tokens

_QUOTES = {'"': '"', "“": "”", "”": "”", "'": "'", "‘": "’"}  # Slack clients turn quotes curly
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


class _Unclosed(Exception):
    def __init__(self, word: Word) -> None:
        self.word = word


def tokenize(text: str) -> list[Word]:
    """Split on spaces; a quoted run (straight or curly quotes) is one word, also after ``key:``, and so
    is Slack's markup (``<@U1|Sam Lee>``, ``<http://x|a b>``)."""
    words: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        buf: list[str] = []
        while i < n and not text[i].isspace():
            ch = text[i]
            markup_end = text.find(">", i) if ch == "<" else -1
            if markup_end > 0:
                buf.append(text[i : markup_end + 1])
                i = markup_end + 1
                continue
            if ch in _QUOTES:
                close = _QUOTES[ch]
                end = text.find(close, i + 1)
                if end < 0 and close != ch:
                    end = text.find(ch, i + 1)
                if end < 0:
                    raise _Unclosed(Word(text[start:], start, n))
                buf.append(text[i + 1 : end])
                i = end + 1
                continue
            buf.append(ch)
            i += 1
        raw = "".join(buf)
        words.append(Word(slack_to_plain(raw), start, i, raw))
    return words


def _code(text: str) -> str:
    """A word as inline code in a one-line message (a quoted word may hold a line break)."""
    return "`" + re.sub(r"\s+", " ", text) + "`"


def _error(message: str, text: str, word: Word | None, verb: str | None = None) -> UsageError:
    return UsageError(message, text, word, USAGE.get(verb or "", ""))


def _person(word: Word) -> ArgValue:
    """``<@U123|alice>`` → SlackUser; ``me`` → the caller; anything else (a name, an e-mail, a group,
    a Slack user group's handle) stays text for the tool to resolve."""
    mention = _MENTION.match((word.raw or word.text).strip())
    if mention:
        return SlackUser(mention.group(1))
    if word.text.strip().lower() in {"me", "@me", "myself"}:
        return SlackUser(None)
    return word.text.strip().lstrip("@") if word.text.startswith("@") else word.text.strip()


def _words(text: str) -> str:
    return " ".join(text.lower().split())


def _assignee(word: Word) -> ArgValue:
    """As :func:`_person`, but of the words the tools read as nobody only the plain word ``unassigned``
    unassigns here: ``@none``, ``nobody`` and the like are names (a user's, looked up as one), so that a
    typo of a name never unassigns a task in front of the channel."""
    person = _person(word)
    typed = word.text.strip().lower()
    if isinstance(person, str) and typed != ids.UNASSIGNED_VALUE and _words(person) in UNASSIGNED_WORDS:
        return f"user:{person}"
    return person


def _ref(words: list[Word], text: str, verb: str) -> Word | UsageError:
    if len(words) < 2:
        return _error(f"`{verb}` needs a task: {REF_HELP}.", text, None, verb)
    ref = words[1]
    if not is_task_ref(ref.text):
        problem = task_ref_problem(ref.text)
        return _error(f"{_code(ref.text)} is not a task reference: {problem}.", text, ref, verb)
    return ref


def _rest(text: str, words: list[Word], index: int) -> str:
    """The raw text from word ``index`` on (notes and titles keep their spacing and quotes)."""
    return slack_to_plain(text[words[index].start :]).strip() if len(words) > index else ""


# --------------------------------------------------------------------------- parser


def parse(text: str) -> Parsed:
    text = text.strip()
    try:
        words = tokenize(text)
    except _Unclosed as exc:
        return _error("A quote is not closed.", text, exc.word)
    if not words:
        return ShowHelp()
    first = words[0]
    verb = first.text.lower()
    verb = ALIASES.get(verb, verb)
    if verb in {"help", "?", "usage"}:
        return ShowHelp()
    if verb not in VERBS:
        commands = ", ".join(USAGE)
        return _error(f"{_code(first.text)} is not a /task command; use one of {commands}.", text, first)
    if verb == "new":
        return OpenCreate(title=_rest(text, words, 1))
    if verb == "mine":
        if len(words) > 1:
            return _error(
                "`mine` takes no filters; use `/task search assignee:me ...`.", text, words[1], verb
            )
        return Mine()
    if verb == "search":
        return OpenSearch() if len(words) == 1 else parse_search(text, words[1:])
    if verb == "iam":
        return SetIdentity(_rest(text, words, 1) or None)
    if verb in {"connect", "disconnect"}:
        if len(words) > 1:  # a key pasted here would be in the channel's history: the modal takes it
            return _error(
                f"`{verb}` takes nothing after it; the form asks for your key.", text, words[1], "connect"
            )
        return ConnectKey(verb == "connect")
    if verb in {"link", "unlink"}:
        return _link(text, words, verb)
    if verb == "people":
        if len(words) > 1:
            return _error("`people` takes nothing after it.", text, words[1], verb)
        return ShowPeople()
    if verb == "subscribe":
        return _subscribe(text, words)
    if verb in {"unsubscribe", "subscriptions"}:
        return _subscriptions(text, words, verb)
    if verb == "digest":
        return _digest(text, words)
    if verb in {"groups", "join", "leave"}:
        group = _rest(text, words, 1).strip("\"“”'")
        if verb != "groups" and not group:
            return _error(f"`{verb}` needs a group name.", text, None, "groups")
        return GroupMembership("list" if verb == "groups" else verb, group)

    ref = _ref(words, text, verb)
    if isinstance(ref, UsageError):
        return ref
    task_words = {"task": ref}
    if verb in {"show", "reopen"}:
        if len(words) > 2:
            return _error(f"`{verb}` takes only a task reference.", text, words[2], verb)
        if verb == "show":
            return ToolCall(GET_TASK, {"task": ref.text}, verb, task_words)
        return ToolCall(UPDATE_TASK, {"task": ref.text, "status": "open"}, verb, task_words)
    if verb == "close":
        args: dict[str, ArgValue] = {"task": ref.text, "status": "closed"}
        return ToolCall(UPDATE_TASK, args, verb, task_words, note=_rest(text, words, 2) or None)
    if len(words) < 3:
        needs = {
            "assign": "someone",
            "status": "a status",
            "priority": "a priority",
            "note": "the note's text",
        }
        return _error(f"`{verb}` needs {needs[verb]} after the task.", text, None, verb)
    if verb == "note":
        return ToolCall(ADD_TASK_NOTE, {"task": ref.text, "text": _rest(text, words, 2)}, verb, task_words)
    if len(words) > 3:
        return _error(f"`{verb}` takes one value; quote names with spaces.", text, words[3], verb)
    value = words[2]
    if verb == "assign":
        return ToolCall(
            UPDATE_TASK,
            {"task": ref.text, "assignee": _assignee(value)},
            verb,
            {**task_words, "assignee": value},
        )
    return ToolCall(UPDATE_TASK, {"task": ref.text, verb: value.text}, verb, {**task_words, verb: value})


def _link(text: str, words: list[Word], verb: str) -> LinkMember | UnlinkMember | UsageError:
    """``link @member USER`` / ``unlink @member``: the member must be a Slack mention."""
    if len(words) < 2:
        return _error(f"`{verb}` needs a Slack member: @mention them.", text, None, verb)
    mention = _MENTION.match((words[1].raw or words[1].text).strip())
    if mention is None:
        return _error(f"{_code(words[1].text)} is not a Slack member: @mention them.", text, words[1], verb)
    if verb == "unlink":
        if len(words) > 2:
            return _error("`unlink` takes only the member.", text, words[2], verb)
        return UnlinkMember(mention.group(1))
    who = _rest(text, words, 2).strip().strip("\"“”'")
    if not who:
        return _error("`link` needs the UltraCart user (a name or id) after the member.", text, None, verb)
    return LinkMember(mention.group(1), who)


# Subscription event names (CONTRACT: created,assigned,status,priority,due,note,closed,overdue).
SUBSCRIPTION_EVENTS: tuple[str, ...] = tuple(NOTIFIABLE)
EVENTS_KEY = "events"


def _subscribe(text: str, words: list[Word]) -> Subscribe | UsageError:
    """The search's filters (the same parser, so the same errors) and an ``events:LIST`` word."""
    given = [w for w in words[1:] if w.text.split(":", 1)[0].strip().lower() == EVENTS_KEY and ":" in w.text]
    every = ",".join(SUBSCRIPTION_EVENTS)
    events = SUBSCRIPTION_EVENTS
    if len(given) > 1:
        return _error(
            "`events:` is given twice; list them in one, e.g. `events:assigned,closed`.",
            text,
            given[1],
            "subscribe",
        )
    if given:
        names = [n.strip().lower() for n in given[0].text.split(":", 1)[1].split(",") if n.strip()]
        unknown = [n for n in names if n not in NOTIFIABLE and n != "all"]
        if not names or unknown:
            what = f"{_code(unknown[0])} is not an event" if unknown else "`events:` needs a list"
            return _error(f"{what}; use some of {every} (default: all).", text, given[0], "subscribe")
        if "all" not in names:
            events = tuple(e for e in SUBSCRIPTION_EVENTS if e in names)
    filters = [w for w in words[1:] if w not in given]
    search = parse_search(text, filters)
    if isinstance(search, UsageError):
        return dataclasses.replace(search, usage=USAGE["subscribe"])
    if "sort" in search.args:
        return _error(
            "`sort:` means nothing to a subscription; leave it out.", text, search.words["sort"], "subscribe"
        )
    shown = " ".join(slack_to_plain(text[w.start : w.end]) for w in filters)
    return Subscribe(search, events, shown)


def _subscriptions(text: str, words: list[Word], verb: str) -> Unsubscribe | ShowSubscriptions | UsageError:
    if verb == "subscriptions":
        if len(words) > 1:
            return _error("`subscriptions` takes nothing after it.", text, words[1], verb)
        return ShowSubscriptions()
    if len(words) > 2:
        return _error("`unsubscribe` takes one number, or `all`.", text, words[2], verb)
    which = words[1].text.strip().lower().lstrip("#") if len(words) > 1 else ""
    number = len(which) <= 9 and which.isascii() and which.isdigit()  # int() refuses "²" and 4,300 digits
    if which and which != "all" and not (number and int(which) > 0):
        return _error(
            f"{_code(words[1].text)} is not a subscription: give its number in `/task subscriptions` "
            "or `all`.",
            text,
            words[1],
            verb,
        )
    return Unsubscribe(which)


DIGEST_TIMES = "on, off, or a time such as 09:00, 17:30, 9am or 5:30pm"
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?(am|pm|a\.m\.|p\.m\.)?$")


def parse_clock(text: str) -> tuple[int, int] | None:
    """``09:00``, ``9:30``, ``17:45`` (24-hour), ``9`` (an hour), ``8am``, ``5:30pm``, ``12am`` (midnight):
    the hour and minute, or None."""
    found = _CLOCK.match("".join(text.lower().split()))
    if found is None:
        return None
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    half = found.group(3)
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def _digest(text: str, words: list[Word]) -> DigestSetting | UsageError:
    value = _rest(text, words, 1)
    if not value:
        return DigestSetting("show")
    if value.lower() in {"on", "off"}:
        return DigestSetting(value.lower())
    at = parse_clock(value)
    if at is None:
        word = Word(value, words[1].start, words[-1].end)
        return _error(f"{_code(value)} is not a digest setting; use {DIGEST_TIMES}.", text, word, "digest")
    return DigestSetting("at", at)


def _date_range(
    value: Word, key: str, args: dict[str, ArgValue], words: dict[str, Word], text: str
) -> UsageError | None:
    """``DATE..DATE``, ``DATE..``, ``..DATE``, ``<DATE``, ``>DATE``, ``DATE`` (that day), ``overdue``."""
    raw = value.text.split(":", 1)[1].strip()
    if key == "due" and raw.lower() == "overdue":
        args["overdue"] = True
        words["overdue"] = value
        return None
    after = before = None
    if ".." in raw:
        after, before = (part.strip() or None for part in raw.split("..", 1))
    elif raw.startswith(("<", "≤")):
        before = raw[1:].lstrip("=").strip()
    elif raw.startswith((">", "≥")):
        after = raw[1:].lstrip("=").strip()
    else:
        after = before = raw
    if not (after or before):
        return _error(
            f"{_code(value.text)}: give a date, e.g. {key}:2026-12-01..2026-12-31"
            + (" or due:overdue" if key == "due" else ""),
            text,
            value,
            "search",
        )
    if after:
        args[f"{key}_after"] = after
        words[f"{key}_after"] = value
    if before:
        args[f"{key}_before"] = before
        words[f"{key}_before"] = value
    return None


def parse_search(text: str, filters: list[Word]) -> ToolCall | UsageError:
    args: dict[str, ArgValue] = {}
    words: dict[str, Word] = {}
    for word in filters:
        if ":" not in word.text:
            return _error(
                f"{_code(word.text)} is not a filter; filters look like key:value ({SEARCH_KEY_LIST}).",
                text,
                word,
                "search",
            )
        key_text, value = word.text.split(":", 1)
        raw_value = (word.raw or word.text).split(":", 1)[1].strip()
        key = SEARCH_KEYS.get(key_text.strip().lower())
        if key is None:
            return _error(
                f"{_code(key_text)} is not a search filter; use {SEARCH_KEY_LIST}.", text, word, "search"
            )
        value = value.strip()
        if not value:
            return _error(f"{_code(word.text)} has no value.", text, word, "search")
        if key in {"due", "created"}:
            problem = _date_range(word, key, args, words, text)
            if problem:
                return problem
            continue
        if key == "tags":
            tags = [t.strip() for t in value.split(",") if t.strip()]
            existing = args.get("tags")
            args["tags"] = [*(existing if isinstance(existing, list) else []), *tags]
        elif key in {"assignee", "created_by"}:
            person = Word(value, word.start, word.end, raw_value)
            args[key] = _assignee(person) if key == "assignee" else _person(person)
        else:
            if key in args:
                return _error(f"{_code(key_text)} is given twice.", text, word, "search")
            args[key] = value
        words[key] = word
    return ToolCall(SEARCH_TASKS, args, "search", words)


def help_lines() -> list[str]:
    """Each command's usage, with its other names: ``/task new [title]   (also: create, add)``."""
    lines = []
    for verb, usage in USAGE.items():
        others = [alias for alias, target in ALIASES.items() if target == verb and alias != verb]
        lines.append(usage + (f"   (also: {', '.join(others)})" if others else ""))
    return lines
