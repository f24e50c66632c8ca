"""Walking UltraCart's pages: iterate while ``more`` is true (UltraCart leaves it out on the last page).

Each walk takes a ``fetch(limit, offset)`` for one page, so it knows nothing of the request behind it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from shared_client.models import (
    BaseResponse,
    WorkflowGroup,
    WorkflowGroupsResponse,
    WorkflowTask,
    WorkflowTasksResponse,
    WorkflowUser,
    WorkflowUsersResponse,
)

__all__ = ["PageFetch", "all_groups", "all_tasks", "all_users", "paginate"]

R = TypeVar("R", bound=BaseResponse)
PageFetch = Callable[[int, int], Awaitable[R]]
"""One page: ``fetch(limit, offset)``."""


async def paginate(fetch: PageFetch[R], page_size: int) -> AsyncIterator[R]:
    """Every page, from offset 0, ``page_size`` at a time."""
    offset = 0
    while True:
        page = await fetch(page_size, offset)
        yield page
        result_set = page.result_set
        if not result_set or not result_set.more:
            return
        next_offset = result_set.next_offset
        if next_offset is None:
            next_offset = offset + (result_set.count or 0)
        if next_offset <= offset:
            return
        offset = next_offset


async def all_users(
    fetch: PageFetch[WorkflowUsersResponse], page_size: int
) -> tuple[list[WorkflowUser], int | None]:
    """Every user of every page, and the caller's own user id (the last page that says it)."""
    users: list[WorkflowUser] = []
    my_user_id: int | None = None
    async for page in paginate(fetch, page_size):
        users.extend(page.users or [])
        my_user_id = page.my_user_id if page.my_user_id is not None else my_user_id
    return users, my_user_id


async def all_groups(fetch: PageFetch[WorkflowGroupsResponse], page_size: int) -> list[WorkflowGroup]:
    return [group async for page in paginate(fetch, page_size) for group in page.groups or []]


async def all_tasks(fetch: PageFetch[WorkflowTasksResponse], page_size: int) -> AsyncIterator[WorkflowTask]:
    async for page in paginate(fetch, page_size):
        for task in page.tasks or []:
            yield task
