"""The people directory: UltraCart's assignable users and groups, cached (in the process, and across
replicas in Redis when ``UC_WORKFLOW_REDIS_URL`` is set), and turning the way people name each other (a
name (an e-mail only where a user's name is one), an id, ``me``, ``unassigned``) into them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from shared_client import constants
from shared_client.client import WorkflowClient
from shared_client.models import WorkflowGroup, WorkflowUser, email_name
from shared_client.tools.errors import ToolInputError

if TYPE_CHECKING:
    from shared_client.shared_cache import SharedCache

T = TypeVar("T")
REFRESH_ON_MISS_AFTER = 30.0  # seconds: lists younger than this are not fetched again on a miss
SHARED_NEWER_BY = 1.0  # seconds: a shared copy this much newer than ours is another fetch, not ours read back


@dataclass
class PeopleSnapshot:
    users: list[WorkflowUser]
    groups: list[WorkflowGroup]
    my_user_id: int | None
    fetched_at: float

    def user_by_id(self, user_id: int | None) -> WorkflowUser | None:
        return next((u for u in self.users if user_id is not None and u.user_id == user_id), None)

    def group_by_id(self, group_id: int | None) -> WorkflowGroup | None:
        return next((g for g in self.groups if group_id is not None and g.group_id == group_id), None)


class PeopleDirectory:
    """Assignable users and groups, cached for a few minutes: a warm lookup costs no UltraCart call.

    Both lists are fetched together on a miss (all pages, 200 a page); concurrent misses share one fetch.
    With a ``shared`` cache (Redis), a miss here reads the lists another replica stored before asking
    UltraCart, and lists fetched here are stored there; they expire there when they expire here.
    """

    def __init__(
        self,
        client: WorkflowClient,
        ttl: float = constants.PEOPLE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedCache | None = None,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._shared = shared
        self._snapshot: PeopleSnapshot | None = None
        self._lock = asyncio.Lock()

    def is_fresh(self, snapshot: PeopleSnapshot | None = None) -> bool:
        """Whether ``snapshot`` (default: this process's) is young enough to use: no Redis asked."""
        snap = snapshot or self._snapshot
        return snap is not None and self._clock() - snap.fetched_at < self._ttl

    async def _load_shared(self) -> PeopleSnapshot | None:
        """The lists another replica stored, if fresh (their age carried over to this process's clock)."""
        if self._shared is None:
            return None
        found = await self._shared.load_people(self._ttl)
        if found is None:
            return None
        people, age = found
        snapshot = PeopleSnapshot(people.users, people.groups, people.my_user_id, self._clock() - age)
        return snapshot if self.is_fresh(snapshot) else None

    async def cached(self) -> PeopleSnapshot | None:
        """A fresh snapshot without asking UltraCart: this process's, else the shared cache's; else None."""
        if self._snapshot is not None and self.is_fresh():
            return self._snapshot
        shared = await self._load_shared()
        if shared is not None:
            self._snapshot = shared
        return shared

    async def get(self, *, refresh: bool = False) -> PeopleSnapshot:
        if not refresh and self._snapshot is not None and self.is_fresh():
            return self._snapshot
        stale = self._snapshot
        async with self._lock:
            # Someone else may have refreshed while we waited.
            if self._snapshot is not None and self._snapshot is not stale and self.is_fresh():
                return self._snapshot
            shared = await self._load_shared()
            # A refresh (someone was not found) takes another replica's lists only when they are newer
            # than ours and too young to be worth fetching again.
            if shared is not None and (
                not refresh
                or (
                    self._clock() - shared.fetched_at < REFRESH_ON_MISS_AFTER
                    and (stale is None or shared.fetched_at > stale.fetched_at + SHARED_NEWER_BY)
                )
            ):
                self._snapshot = shared
                return shared
            users, my_user_id = await self._client.list_all_users()
            groups = await self._client.list_all_groups()
            self._snapshot = PeopleSnapshot(users, groups, my_user_id, self._clock())
            if self._shared is not None:
                from shared_client.shared_cache import SharedPeople

                await self._shared.store_people(
                    SharedPeople(users=users, groups=groups, my_user_id=my_user_id), self._ttl
                )
            return self._snapshot

    async def resolve(self, pick: Callable[[PeopleSnapshot], T]) -> T:
        """``pick`` a person or group from the cached lists; when nobody matches and the lists are not
        brand new, fetch them once more (someone may have been added) and try again."""
        snapshot = await self.get()
        try:
            return pick(snapshot)
        except ToolInputError:
            if self._clock() - snapshot.fetched_at < REFRESH_ON_MISS_AFTER:
                raise
        return pick(await self.get(refresh=True))

    @property
    def latest(self) -> PeopleSnapshot | None:
        """The last snapshot fetched, fresh or not: for callers that must answer now (Slack pickers)
        and refresh behind."""
        return self._snapshot


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class Assignee:
    """Who a task goes to: a user, a group, or nobody."""

    kind: Literal["user", "group", "unassigned"]
    user: WorkflowUser | None = None
    group: WorkflowGroup | None = None

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.user or f"user {self.user.user_id}"
        if self.group is not None:
            return self.group.group or f"group {self.group.group_id}"
        return "nobody"


UNASSIGNED_WORDS = {"unassigned", "none", "nobody", "no one", "noone"}
ME_WORDS = {"me", "myself", "@me"}
SYSTEM_USER_NAME = "System"
"""The creator of the tasks UltraCart's rules make: known to UltraCart, never an assignable user."""


def _norm(text: str) -> str:
    return " ".join(text.strip().lstrip("@").lower().split())


def is_id(text: str) -> bool:
    """Whether ``text`` is an id ``int`` reads: ASCII digits (``isdigit`` also takes ``²`` and other
    scripts' digits, which ``int`` refuses), not more than 18 (Python refuses over 4,300)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def match_users(snapshot: PeopleSnapshot, text: str) -> list[WorkflowUser]:
    """The assignable users a name or id could mean (an e-mail where a name is one) (empty: nobody)."""
    return _user_matches(snapshot.users, text)


def _user_matches(users: list[WorkflowUser], text: str) -> list[WorkflowUser]:
    key = _norm(text)
    if is_id(key):
        return [u for u in users if u.user_id == int(key)]
    # UltraCart's users carry no e-mail: an e-mail finds a user only where their name is that address.
    exact = [u for u in users if _norm(u.user or "") == key]
    if exact:
        return exact
    # A unique first name, the local part of a name that is an e-mail address, or a substring is enough.
    return [
        u
        for u in users
        if key in _norm(u.user or "")
        or ((email_name(u) or "").split("@")[0] == key)
        or any(part == key for part in _norm(u.user or "").split())
    ]


def _group_matches(groups: list[WorkflowGroup], text: str) -> list[WorkflowGroup]:
    key = _norm(text)
    if is_id(key):
        return [g for g in groups if g.group_id == int(key)]
    exact = [g for g in groups if _norm(g.group or "") == key]
    return exact or [g for g in groups if key in _norm(g.group or "")]


def _candidates(users: list[WorkflowUser], groups: list[WorkflowGroup]) -> str:
    names = [f"{u.user} (user {u.user_id})" for u in users[:10]]
    names += [f"{g.group} (group {g.group_id})" for g in groups[:10]]
    return "; ".join(names)


def _me(snapshot: PeopleSnapshot, field: str) -> WorkflowUser:
    me = snapshot.user_by_id(snapshot.my_user_id)
    if me is None:
        if snapshot.my_user_id is None:
            raise ToolInputError.about(field, "UltraCart did not say who 'me' is for this credential")
        return WorkflowUser(user_id=snapshot.my_user_id)
    return me


M = TypeVar("M", WorkflowUser, WorkflowGroup)


def _only(matches: list[M], field: str, text: str, how: str, several: Callable[[list[M]], str]) -> M:
    """The one match, or the error that says there is none (and how to name one) or several (which)."""
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ToolInputError.about(field, f"no {how}")
    raise ToolInputError.about(field, f"{text!r} matches several {several(matches)}")


def resolve_user(snapshot: PeopleSnapshot, text: str, *, field: str = "assignee") -> WorkflowUser:
    if _norm(text) in ME_WORDS:
        return _me(snapshot, field)
    how = (
        f"assignable user matches {text!r}; use a name, user id or 'me' "
        "(list_assignable_users shows who can take tasks)"
    )
    return _only(
        _user_matches(snapshot.users, text),
        field,
        text,
        how,
        lambda found: "users: " + _candidates(found, []),
    )


def resolve_group(snapshot: PeopleSnapshot, text: str, *, field: str = "group") -> WorkflowGroup:
    how = f"group matches {text!r}; use a group name or id (list_assignable_groups shows the groups)"
    return _only(
        _group_matches(snapshot.groups, text),
        field,
        text,
        how,
        lambda found: "groups: " + _candidates([], found),
    )


def resolve_assignee(snapshot: PeopleSnapshot, text: str, *, field: str = "assignee") -> Assignee:
    """A user or a group by name or id (an e-mail where a user's name is one); ``me``; or ``unassigned``.
    Prefixes ``user:``/``group:``
    pick the kind when a name is both."""
    key = _norm(text)
    if key in UNASSIGNED_WORDS:
        return Assignee("unassigned")
    if key in ME_WORDS:
        return Assignee("user", user=_me(snapshot, field))
    if key.startswith("user:"):
        return Assignee("user", user=resolve_user(snapshot, text.split(":", 1)[1], field=field))
    if key.startswith("group:"):
        return Assignee("group", group=resolve_group(snapshot, text.split(":", 1)[1], field=field))
    users = _user_matches(snapshot.users, text)
    groups = _group_matches(snapshot.groups, text)
    # An exact group name beats a fuzzy user match and the other way round.
    exact_users = [u for u in users if _norm(u.user or "") == key]
    exact_groups = [g for g in groups if _norm(g.group or "") == key]
    if len(exact_users) + len(exact_groups) == 1:
        users, groups = exact_users, exact_groups
    if len(users) + len(groups) == 1:
        return Assignee("user", user=users[0]) if users else Assignee("group", group=groups[0])
    if not users and not groups:
        raise ToolInputError.about(
            field,
            f"nobody matches {text!r}; use a user's name or id, a group's name or id, 'me' or 'unassigned'",
        )
    raise ToolInputError.about(
        field,
        f"{text!r} is ambiguous; it matches {_candidates(users, groups)}. "
        "Use the full name or id, or prefix user: or group:",
    )
