"""People: who am I, who can take tasks, and turning the way people name each other into ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools.base import Hints, InputModel, OutputModel, Tool, ToolInputError
from shared_client.tools.context import PeopleSnapshot, ToolContext

# --------------------------------------------------------------------------- outputs


class Person(OutputModel):
    user_id: int
    name: str | None = None
    email: str | None = None


class Group(OutputModel):
    group_id: int
    name: str | None = None


def person(user: WorkflowUser) -> Person:
    return Person(user_id=user.user_id or 0, name=user.user, email=user.email)


def group_out(group: WorkflowGroup) -> Group:
    return Group(group_id=group.group_id or 0, name=group.group)


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


def _norm(text: str) -> str:
    return " ".join(text.strip().lstrip("@").lower().split())


def match_users(snapshot: PeopleSnapshot, text: str) -> list[WorkflowUser]:
    """The assignable users a name, e-mail or id could mean (empty: nobody)."""
    return _user_matches(snapshot.users, text)


def _user_matches(users: list[WorkflowUser], text: str) -> list[WorkflowUser]:
    key = _norm(text)
    if key.isdigit():
        return [u for u in users if u.user_id == int(key)]
    exact = [u for u in users if _norm(u.user or "") == key or (u.email and u.email.lower() == key)]
    if exact:
        return exact
    # A unique first name, e-mail local part or substring is enough.
    return [
        u
        for u in users
        if key in _norm(u.user or "")
        or (u.email and u.email.lower().split("@")[0] == key)
        or any(part == key for part in _norm(u.user or "").split())
    ]


def _group_matches(groups: list[WorkflowGroup], text: str) -> list[WorkflowGroup]:
    key = _norm(text)
    if key.isdigit():
        return [g for g in groups if g.group_id == int(key)]
    exact = [g for g in groups if _norm(g.group or "") == key]
    return exact or [g for g in groups if key in _norm(g.group or "")]


def _candidates(users: list[WorkflowUser], groups: list[WorkflowGroup]) -> str:
    names = [f"{u.user} (user {u.user_id}{', ' + u.email if u.email else ''})" for u in users[:10]]
    names += [f"{g.group} (group {g.group_id})" for g in groups[:10]]
    return "; ".join(names)


def _me(snapshot: PeopleSnapshot, field: str) -> WorkflowUser:
    me = snapshot.user_by_id(snapshot.my_user_id)
    if me is None:
        if snapshot.my_user_id is None:
            raise ToolInputError(
                f"{field}: UltraCart did not say who 'me' is for this credential", field=field
            )
        return WorkflowUser(user_id=snapshot.my_user_id)
    return me


def resolve_user(snapshot: PeopleSnapshot, text: str, *, field: str = "assignee") -> WorkflowUser:
    if _norm(text) in ME_WORDS:
        return _me(snapshot, field)
    matches = _user_matches(snapshot.users, text)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ToolInputError(
            f"{field}: no assignable user matches {text!r}; use a name, e-mail, user id or 'me' "
            "(list_assignable_users shows who can take tasks)",
            field=field,
        )
    raise ToolInputError(f"{field}: {text!r} matches several users: {_candidates(matches, [])}", field=field)


def resolve_group(snapshot: PeopleSnapshot, text: str, *, field: str = "group") -> WorkflowGroup:
    matches = _group_matches(snapshot.groups, text)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ToolInputError(
            f"{field}: no group matches {text!r}; use a group name or id "
            "(list_assignable_groups shows the groups)",
            field=field,
        )
    raise ToolInputError(f"{field}: {text!r} matches several groups: {_candidates([], matches)}", field=field)


def resolve_assignee(snapshot: PeopleSnapshot, text: str, *, field: str = "assignee") -> Assignee:
    """A user or a group by name, e-mail or id; ``me``; or ``unassigned``. Prefixes ``user:``/``group:``
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
    exact_users = [u for u in users if _norm(u.user or "") == key or (u.email or "").lower() == key]
    exact_groups = [g for g in groups if _norm(g.group or "") == key]
    if len(exact_users) + len(exact_groups) == 1:
        users, groups = exact_users, exact_groups
    if len(users) + len(groups) == 1:
        return Assignee("user", user=users[0]) if users else Assignee("group", group=groups[0])
    if not users and not groups:
        raise ToolInputError(
            f"{field}: nobody matches {text!r}; use a user's name, e-mail or id, a group's name or id, "
            "'me' or 'unassigned'",
            field=field,
        )
    raise ToolInputError(
        f"{field}: {text!r} is ambiguous; it matches {_candidates(users, groups)}. "
        "Use the full name, the e-mail, or prefix user: or group:",
        field=field,
    )


# --------------------------------------------------------------------------- tools


class NoInput(InputModel):
    pass


class QueryInput(InputModel):
    query: str | None = Field(
        default=None,
        max_length=200,
        description="Optional filter: part of a name or e-mail (case-insensitive), e.g. 'sam' or 'Customer'.",
    )


class MeOutput(OutputModel):
    me: Person


class UsersOutput(OutputModel):
    users: list[Person]
    count: int


class GroupsOutput(OutputModel):
    groups: list[Group]
    count: int


async def _get_me(ctx: ToolContext, _params: NoInput) -> MeOutput:
    # A warm people cache already knows who "me" is (assignment_users carries my_user_id): no call.
    if ctx.people.is_fresh():
        snapshot = await ctx.people.get()
        cached = snapshot.user_by_id(snapshot.my_user_id)
        if cached is not None:
            return MeOutput(me=person(cached))
    response = await ctx.client.get_me()
    return MeOutput(me=person(response.user or WorkflowUser()))


async def _list_users(ctx: ToolContext, params: QueryInput) -> UsersOutput:
    snapshot = await ctx.people.get()
    users = snapshot.users
    if params.query:
        key = params.query.lower()
        users = [u for u in users if key in (u.user or "").lower() or key in (u.email or "").lower()]
    return UsersOutput(users=[person(u) for u in users], count=len(users))


async def _list_groups(ctx: ToolContext, params: QueryInput) -> GroupsOutput:
    snapshot = await ctx.people.get()
    groups = snapshot.groups
    if params.query:
        key = params.query.lower()
        groups = [g for g in groups if key in (g.group or "").lower()]
    return GroupsOutput(groups=[group_out(g) for g in groups], count=len(groups))


READ = Hints(read_only=True, destructive=False, idempotent=True, open_world=True)

GET_ME = Tool(
    name="get_me",
    title="Who am I",
    description=(
        "Return the UltraCart user behind the current credential (user_id, name, e-mail when known). "
        "Use it to learn who 'me' is before assigning or searching 'my' tasks."
    ),
    toolset="people",
    input_model=NoInput,
    output_model=MeOutput,
    hints=READ,
    handler=_get_me,
)

LIST_ASSIGNABLE_USERS = Tool(
    name="list_assignable_users",
    title="List assignable users",
    description=(
        "List the users tasks can be assigned to (user_id, name, e-mail). Optional `query` keeps those whose "
        "name or e-mail contains it, e.g. {'query': 'sam'}. Cached for a few minutes. Other tools already "
        "accept people by name or e-mail, so call this only to show choices or settle an ambiguity."
    ),
    toolset="people",
    input_model=QueryInput,
    output_model=UsersOutput,
    hints=READ,
    handler=_list_users,
)

LIST_ASSIGNABLE_GROUPS = Tool(
    name="list_assignable_groups",
    title="List assignable groups",
    description=(
        "List the groups tasks can be assigned to (group_id, name), e.g. 'Customer Service'. Optional "
        "`query` filters by part of the name. Cached for a few minutes."
    ),
    toolset="people",
    input_model=QueryInput,
    output_model=GroupsOutput,
    hints=READ,
    handler=_list_groups,
)

PEOPLE_TOOLS: tuple[Tool, ...] = (GET_ME, LIST_ASSIGNABLE_USERS, LIST_ASSIGNABLE_GROUPS)  # type: ignore[type-arg]
