"""People by name, e-mail, id, 'me' or 'unassigned', for users and groups; ambiguity lists the
candidates; the user and group lists are cached so a warm lookup costs no UltraCart call."""

from __future__ import annotations

from typing import Any

import pytest
from tool_support import PEOPLE_CALLS, Tools, assert_nothing_written, assert_one_line, delta

from shared_client.tools import ToolContext, ToolInputError

SAM, ALICE, OWNER, MARCUS, TOM = 1003, 1002, 1001, 1005, 1008
CUSTOMER_SERVICE, ACCOUNTS_RECEIVABLE, FRAUD, WAREHOUSE = 201, 202, 203, 204


async def new_task(tools: Tools, **args: Any) -> str:
    return str((await tools.run("create_task", {"name": "People check", **args}))["task"]["uuid"])


def assigned(raw: dict[str, Any]) -> tuple[Any, Any]:
    return raw.get("assigned_to_user_id"), raw.get("assigned_to_group_id")


@pytest.mark.parametrize(
    ("who", "user_id"),
    [
        ("Sam Rivera", SAM),
        ("sam rivera", SAM),
        ("Sam", SAM),
        # An e-mail finds the user whose UltraCart name is that address (and only that one).
        ("tom@demo.example", TOM),
        ("TOM@DEMO.EXAMPLE", TOM),
        ("user:tom", TOM),  # the local part of a name that is an e-mail
        ("@sam", SAM),
        ("1003", SAM),
        ("Alice", ALICE),
        ("me", OWNER),
        ("user:Marcus", MARCUS),
    ],
)
async def test_create_assignee_user(tools: Tools, who: str, user_id: int) -> None:
    uuid = await new_task(tools, assignee=who)
    assert assigned(await tools.raw(uuid)) == (user_id, None)


@pytest.mark.parametrize(
    ("who", "group_id"),
    [
        ("Customer Service", CUSTOMER_SERVICE),
        ("customer service", CUSTOMER_SERVICE),
        ("Fraud", FRAUD),
        ("204", WAREHOUSE),
        ("group:Accounts Receivable", ACCOUNTS_RECEIVABLE),
    ],
)
async def test_create_assignee_group(tools: Tools, who: str, group_id: int) -> None:
    uuid = await new_task(tools, assignee=who)
    assert assigned(await tools.raw(uuid)) == (None, group_id)


async def test_create_group_argument(tools: Tools) -> None:
    uuid = await new_task(tools, group="Warehouse")
    assert assigned(await tools.raw(uuid)) == (None, WAREHOUSE)


async def test_me_follows_the_credential(make_client: Any) -> None:
    """'me' is whoever the key acts as: user:EMAIL keys act as that demo user."""
    sandbox = make_client(key="user:priya@demo.example")
    tools = Tools(sandbox, ToolContext(sandbox.client, sandbox=True))
    assert (await tools.run("get_me"))["me"]["user_id"] == 1004
    uuid = await new_task(tools, assignee="me")
    assert assigned(await tools.raw(uuid)) == (1004, None)


async def test_ambiguous_user_lists_candidates_and_writes_nothing(tools: Tools) -> None:
    # 'ar' is in Alice cARter, MARcus Lee and the WARehouse group.
    before = await tools.counts()
    error = await tools.fail_input("create_task", {"name": "x", "assignee": "ar"})
    assert_one_line(
        error, "assignee", "ambiguous", "Alice Carter", "Marcus Lee", "Warehouse", "user:", "group:"
    )
    assert "user 1002" in error.message and "group 204" in error.message
    assert error.field == "assignee"
    assert_nothing_written(before, await tools.counts())


async def test_ambiguous_user_only_filter(tools: Tools) -> None:
    error = await tools.fail_input("search_tasks", {"created_by": "ar"})
    assert_one_line(error, "created_by", "several users", "Alice Carter", "Marcus Lee")
    assert "Warehouse" not in error.message


async def test_ambiguous_group(tools: Tools) -> None:
    # 'e' is in every group name ('Customer Service', 'Accounts Receivable', 'Fraud Review', 'Warehouse').
    error = await tools.fail_input("search_tasks", {"group": "e"})
    assert_one_line(error, "group", "several groups", "Customer Service", "Fraud Review", "Warehouse")


async def test_prefix_settles_ambiguity(tools: Tools) -> None:
    uuid = await new_task(tools, assignee="group:ar")
    assert assigned(await tools.raw(uuid)) == (None, WAREHOUSE)


async def test_unknown_person(tools: Tools) -> None:
    before = await tools.counts()
    error = await tools.fail_input("update_task", {"task": "#3", "assignee": "Zebulon Q"})
    assert_one_line(error, "assignee", "Zebulon Q", "'me'", "'unassigned'")
    assert_nothing_written(before, await tools.counts())
    error = await tools.fail_input("update_task", {"task": "#3", "group": "Legal"})
    assert_one_line(error, "group", "Legal", "list_assignable_groups")


async def test_unknown_user_id_and_group_id(tools: Tools) -> None:
    error = await tools.fail_input("create_task", {"name": "x", "assignee": "999999"})
    assert_one_line(error, "assignee", "999999")
    error = await tools.fail_input("create_task", {"name": "x", "group": "999"})
    assert_one_line(error, "group", "999")


@pytest.mark.parametrize("who", ["unassigned", "Unassigned", "nobody", "none"])
async def test_update_unassigned_clears_both(tools: Tools, who: str) -> None:
    uuid = await new_task(tools, assignee="Sam")
    out = await tools.run("update_task", {"task": uuid, "assignee": who})
    raw = await tools.raw(uuid)
    assert assigned(raw) == (None, None)
    assert "assigned_to_user" not in raw and "assigned_to_group" not in raw
    assert out["changes"] == ["assigned to nobody"]


async def test_assigning_user_clears_group_and_back(tools: Tools) -> None:
    uuid = await new_task(tools, group="Fraud Review")
    await tools.run("update_task", {"task": uuid, "assignee": "Alice Carter"})
    raw = await tools.raw(uuid)
    assert assigned(raw) == (ALICE, None) and "assigned_to_group" not in raw
    assert raw["assigned_to_user"] == "Alice Carter"
    await tools.run("update_task", {"task": uuid, "group": "Warehouse"})
    raw = await tools.raw(uuid)
    assert assigned(raw) == (None, WAREHOUSE) and "assigned_to_user" not in raw
    await tools.run("update_task", {"task": uuid, "assignee": "me"})
    assert assigned(await tools.raw(uuid)) == (OWNER, None)


async def test_assigning_user_clears_seeded_user_and_group(tools: Tools) -> None:
    """Seeded task #14 is assigned to a user *and* a group (Marcus in Fraud Review)."""
    uuid = (await tools.run("get_task", {"task": "#14"}))["task"]["uuid"]
    assert assigned(await tools.raw(uuid)) == (MARCUS, FRAUD)
    await tools.run("update_task", {"task": uuid, "assignee": "Sam"})
    assert assigned(await tools.raw(uuid)) == (SAM, None)


async def test_assignee_and_group_together_refused(tools: Tools) -> None:
    error = await tools.fail_input("update_task", {"task": "#3", "assignee": "Sam", "group": "Warehouse"})
    assert_one_line(error, "assignee or group, not both")


async def test_search_by_person(tools: Tools) -> None:
    for who in ("Sam Rivera", "sam", "1003"):
        out = await tools.run("search_tasks", {"assignee": who, "limit": 100, "detail": True})
        assert out["count"] > 0
        assert {t["assigned"].get("user_id") for t in out["tasks_detail"]} == {SAM}
    out = await tools.run("search_tasks", {"group": "Warehouse", "limit": 100, "detail": True})
    assert out["count"] > 0 and {t["assigned"].get("group_id") for t in out["tasks_detail"]} == {WAREHOUSE}
    out = await tools.run("search_tasks", {"assignee": "Warehouse", "limit": 100, "detail": True})
    assert {t["assigned"].get("group_id") for t in out["tasks_detail"]} == {WAREHOUSE}


async def test_search_unassigned(tools: Tools) -> None:
    out = await tools.run("search_tasks", {"assignee": "unassigned", "limit": 100, "detail": True})
    assert out["count"] > 0
    assert all(t["assigned"] == {} for t in out["tasks_detail"])


async def test_people_lists_are_cached(tools: Tools) -> None:
    first = await tools.counts()
    await tools.run("create_task", {"name": "a", "assignee": "Sam"})
    cold = await tools.counts()
    assert delta(first, cold).get("getWorkflowAssignmentUsers", 0) >= 1
    assert delta(first, cold).get("getWorkflowAssignmentGroups", 0) >= 1

    # Warm: every kind of people lookup, in every tool, costs no people call.
    await tools.run("create_task", {"name": "b", "assignee": "Warehouse"})
    await tools.run("search_tasks", {"assignee": "Alice Carter", "limit": 1})
    await tools.run("search_tasks", {"assignee": "tom@demo.example", "limit": 1})
    await tools.run("search_tasks", {"group": "Fraud", "created_by": "me", "limit": 1})
    await tools.run("list_assignable_users", {"query": "sam"})
    await tools.run("list_assignable_groups")
    await tools.run("get_me")
    warm = await tools.counts()
    made = delta(cold, warm)
    assert not any(op in made for op in PEOPLE_CALLS), made


async def test_cache_expires(tools: Tools) -> None:
    clock = [1000.0]
    tools.ctx.people._clock = lambda: clock[0]  # a fake clock instead of waiting
    await tools.run("list_assignable_users")
    before = await tools.counts()
    clock[0] += 60
    await tools.run("list_assignable_users")
    assert delta(before, await tools.counts()) == {}
    clock[0] += 3600
    await tools.run("list_assignable_users")
    assert delta(before, await tools.counts()).get("getWorkflowAssignmentUsers", 0) >= 1


async def test_list_users_and_groups(tools: Tools) -> None:
    users = await tools.run("list_assignable_users")
    ids = {u["user_id"] for u in users["users"]}
    assert {OWNER, ALICE, SAM, MARCUS} <= ids and 1000 not in ids  # System is not assignable
    assert users["count"] == len(users["users"])
    sam = await tools.run("list_assignable_users", {"query": "SAM R"})
    assert [u["user_id"] for u in sam["users"]] == [SAM]
    assert (await tools.run("list_assignable_users", {"query": "sam@"}))["count"] == 0  # no e-mails
    tom = await tools.run("list_assignable_users", {"query": "TOM@"})
    assert tom["users"] == [{"user_id": TOM, "name": "tom@demo.example"}]
    groups = await tools.run("list_assignable_groups", {"query": "review"})
    assert groups == {"groups": [{"group_id": FRAUD, "name": "Fraud Review"}], "count": 1}
    assert (await tools.run("list_assignable_users", {"query": "nobody-like-this"}))["count"] == 0


async def test_get_me(tools: Tools) -> None:
    assert (await tools.run("get_me")) == {"me": {"user_id": OWNER, "name": "Demo Owner"}}


@pytest.mark.parametrize("who", ["no one", "noone"])
async def test_search_unassigned_synonyms(tools: Tools, who: str) -> None:
    expected = await tools.run("search_tasks", {"assignee": "unassigned", "limit": 100})
    out = await tools.run("search_tasks", {"assignee": who, "limit": 100})
    assert out["total"] == expected["total"]


async def test_a_miss_fetches_the_lists_again_once_they_are_not_brand_new() -> None:
    """Someone added to UltraCart after the lists were cached is found without waiting for the TTL."""
    from shared_client.models import WorkflowUser
    from shared_client.tools.directory import PeopleDirectory, resolve_user

    class Upstream:
        def __init__(self) -> None:
            self.users = [WorkflowUser(user_id=1, user="Alice Carter")]
            self.fetches = 0

        async def list_all_users(self) -> tuple[list[WorkflowUser], int]:
            self.fetches += 1
            return list(self.users), 1

        async def list_all_groups(self) -> list[Any]:
            return []

    now = [0.0]
    upstream = Upstream()
    people = PeopleDirectory(upstream, clock=lambda: now[0])  # type: ignore[arg-type]
    assert (await people.resolve(lambda s: resolve_user(s, "alice"))).user_id == 1
    upstream.users.append(WorkflowUser(user_id=2, user="Nina Park"))
    # Brand-new lists: a miss is a miss, no second fetch.
    with pytest.raises(ToolInputError):
        await people.resolve(lambda s: resolve_user(s, "nina"))
    assert upstream.fetches == 1
    now[0] = 60.0
    assert (await people.resolve(lambda s: resolve_user(s, "nina"))).user_id == 2
    assert upstream.fetches == 2


async def test_created_by_the_system_user_by_name_or_id(tools: Tools) -> None:
    """Creators need not be assignable: the System user of rule-made tasks is found by name and by id."""
    by_name = await tools.run("search_tasks", {"created_by": "system", "limit": 1})
    by_id = await tools.run("search_tasks", {"created_by": "1000", "limit": 1})
    assert by_name["total"] == by_id["total"] and by_name["total"] > 0


async def test_an_unknown_creator_is_an_error_not_an_empty_result(tools: Tools) -> None:
    await tools.run("list_assignable_users")  # warm the people cache
    before = await tools.counts()
    error = await tools.fail_input("search_tasks", {"created_by": "Nobody Like This"})
    assert_one_line(
        error, "created_by", "no user matches", "Nobody Like This", "list_assignable_users", "System"
    )
    assert error.field == "created_by"
    assert "getWorkflowTasks" not in delta(before, await tools.counts())


async def test_an_email_is_no_one_when_no_users_name_is_that_address(tools: Tools) -> None:
    """UltraCart keeps no e-mail for its users: Sam's sandbox login is not a way to name him."""
    error = await tools.fail_input("create_task", {"name": "x", "assignee": "sam@demo.example"})
    assert_one_line(error, "assignee")
    assert "e-mail" not in error.message.split("nobody matches")[-1].split(";")[1]
