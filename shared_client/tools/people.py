"""The people tools: who am I, who can take tasks. Names become people in ``directory.py``."""

from __future__ import annotations

from pydantic import Field

from shared_client.models import WorkflowGroup, WorkflowUser
from shared_client.tools.base import READ, InputModel, NoInput, OutputModel, tool
from shared_client.tools.context import ToolContext

# --------------------------------------------------------------------------- outputs


class Person(OutputModel):
    """UltraCart's user: its id and its name (on some accounts an e-mail address); UltraCart has no
    other e-mail for a user."""

    user_id: int
    name: str | None = None


class Group(OutputModel):
    group_id: int
    name: str | None = None


def person(user: WorkflowUser) -> Person:
    return Person(user_id=user.user_id or 0, name=user.user)


def group_out(group: WorkflowGroup) -> Group:
    return Group(group_id=group.group_id or 0, name=group.group)


# --------------------------------------------------------------------------- tools


class QueryInput(InputModel):
    query: str | None = Field(
        default=None,
        max_length=200,
        description="Optional filter: part of a name (case-insensitive), e.g. 'sam' or 'Customer'.",
    )

    def matches(self, *texts: str | None) -> bool:
        key = (self.query or "").lower()
        return not key or any(key in (text or "").lower() for text in texts)


class MeOutput(OutputModel):
    me: Person


class UsersOutput(OutputModel):
    users: list[Person]
    count: int


class GroupsOutput(OutputModel):
    groups: list[Group]
    count: int


async def _get_me(ctx: ToolContext, _params: NoInput) -> MeOutput:
    """Who am I

    Return the UltraCart user behind the current credential (user_id, name). Use it to learn who 'me'
    is before assigning or searching 'my' tasks."""
    # A warm people cache (this process's or, with Redis, another replica's) already knows who "me" is
    # (assignment_users carries my_user_id): no call.
    snapshot = await ctx.people.cached()
    if snapshot is not None:
        cached = snapshot.user_by_id(snapshot.my_user_id)
        if cached is not None:
            return MeOutput(me=person(cached))
    response = await ctx.client.get_me()
    return MeOutput(me=person(response.user or WorkflowUser()))


GET_ME = tool(_get_me, name="get_me", toolset="people", hints=READ)


async def _list_users(ctx: ToolContext, params: QueryInput) -> UsersOutput:
    """List assignable users

    List the users tasks can be assigned to (user_id, name; UltraCart keeps no e-mail, though on some
    accounts a user's name is an e-mail address). Optional `query` keeps those whose name contains it,
    e.g. {'query': 'sam'}. Cached for a few minutes. Other tools already accept people by name or id,
    so call this only to show choices or settle an ambiguity."""
    users = [u for u in (await ctx.people.get()).users if params.matches(u.user)]
    return UsersOutput(users=[person(u) for u in users], count=len(users))


LIST_ASSIGNABLE_USERS = tool(_list_users, name="list_assignable_users", toolset="people", hints=READ)


async def _list_groups(ctx: ToolContext, params: QueryInput) -> GroupsOutput:
    """List assignable groups

    List the groups tasks can be assigned to (group_id, name), e.g. 'Customer Service'. Optional
    `query` filters by part of the name. Cached for a few minutes."""
    groups = [g for g in (await ctx.people.get()).groups if params.matches(g.group)]
    return GroupsOutput(groups=[group_out(g) for g in groups], count=len(groups))


LIST_ASSIGNABLE_GROUPS = tool(_list_groups, name="list_assignable_groups", toolset="people", hints=READ)
