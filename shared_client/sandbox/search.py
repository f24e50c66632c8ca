"""WorkflowTasksRequest, `_sort`, `_limit` and `_offset`, checked and turned into SQL conditions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .store.tasks import SORT_COLUMNS, SearchQuery
from .task_rules import check_int, check_list, check_str, check_user
from .wire import PRIORITIES, SEARCH_OBJECT_TYPES, SEARCH_STATUSES, bad_request, parse_dts

_RANGES = {
    "created_dts": "created_ts",
    "delay_until_dts": "delay_ts",
    "due_dts": "due_ts",
    "last_update_dts": "updated_ts",
}


def parse_page(params: dict[str, str], default: int, maximum: int) -> tuple[int, int]:
    """`_limit` (clamped to the maximum) and `_offset`; anything but a non-negative integer is a 400."""
    limit, offset = default, 0
    raw_limit = params.get("_limit")
    if raw_limit is not None and raw_limit.strip() != "":
        limit = _non_negative(raw_limit, "_limit")
        if limit == 0:
            raise bad_request(f"_limit must be between 1 and {maximum}")
        limit = min(limit, maximum)
    raw_offset = params.get("_offset")
    if raw_offset is not None and raw_offset.strip() != "":
        offset = _non_negative(raw_offset, "_offset")
    return limit, offset


def _non_negative(raw: str, name: str) -> int:
    text = raw.strip()
    if not text.isdigit() or not text.isascii():
        raise bad_request(f"{name} must be a non-negative integer, got {raw!r}")
    value = int(text)
    if value > 2**31 - 1:
        raise bad_request(f"{name} is too large")
    return value


def parse_sort(raw: str | None) -> list[tuple[str, bool]]:
    """`+field,-field,field` -> [(field, descending)]. A leading space is an unencoded `+`."""
    if raw is None or raw == "":
        return [("global_task_number", True)]
    result: list[tuple[str, bool]] = []
    for part in raw.split(","):
        if part.startswith(" "):
            raise bad_request(
                f"Invalid _sort {raw!r}: a '+' must be URL-encoded as %2B "
                "(an unencoded '+' arrives as a space)"
            )
        name, descending = part.strip(), False
        if name[:1] in ("+", "-"):
            descending = name[0] == "-"
            name = name[1:]
        if name not in SORT_COLUMNS:
            raise bad_request(
                f"Invalid _sort field {name!r}: sortable fields are {', '.join(sorted(SORT_COLUMNS))}"
            )
        result.append((name, descending))
    return result


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false")
    return value


def _enum(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise bad_request(f"{name} {value!r} is not a search value; use one of: {', '.join(allowed)}")
    return value


def _text(value: Any, name: str) -> str:
    return check_str(value, name).strip()


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any, str], str]:
    return lambda value, name: _enum(value, name, allowed)


# _Filters that are one SQL condition on one checked value: field -> (condition, check).
_Filters = dict[str, tuple[str, Callable[[Any, str], Any]]]
_ASSIGNEE_FILTERS: _Filters = {
    "assigned_to_group": ("group_id IN (SELECT group_id FROM groups WHERE name = ?)", _text),
    "assigned_to_group_id": ("group_id = ?", check_int),
    "assigned_to_user": ("user_id IN (SELECT user_id FROM users WHERE name = ? COLLATE NOCASE)", _text),
    "assigned_to_user_id": ("user_id = ?", check_int),
}
_TASK_FIELD_FILTERS: _Filters = {
    "object_email": ("object_email = ?", _text),
    "object_type": ("object_type = ?", _one_of(SEARCH_OBJECT_TYPES)),
    "priority": ("priority = ?", _one_of(PRIORITIES)),
    "status": ("status = ?", _one_of(SEARCH_STATUSES)),
}


def _match(query: SearchQuery, given: dict[str, Any], filters: _Filters) -> None:
    for name, (condition, check) in filters.items():
        if name in given:
            query.where.append(condition)
            query.params.append(check(given[name], name))


def build_search(body: Any, params: dict[str, str]) -> SearchQuery:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a WorkflowTasksRequest JSON object")
    limit, offset = parse_page(params, 100, 500)
    query = SearchQuery(sort=parse_sort(params.get("_sort")), limit=limit, offset=offset)
    where, args = query.where, query.params
    get = {k: v for k, v in body.items() if v is not None}

    _match(query, get, _ASSIGNEE_FILTERS)
    if "assigned_to_me" in get:
        query.assigned_to_me = _bool(get["assigned_to_me"], "assigned_to_me")
    if "unassigned" in get and _bool(get["unassigned"], "unassigned"):
        where.append("user_id IS NULL AND group_id IS NULL")
    if "created_by" in get:
        creator = check_user(get["created_by"], "created_by")
        if creator.get("user_id") is not None:
            where.append("created_by_id = ?")
            args.append(creator["user_id"])
        elif creator.get("user"):
            where.append("created_by_name = ?")
            args.append(creator["user"].strip())
    for field, column in _RANGES.items():
        begin, end = get.get(f"{field}_begin"), get.get(f"{field}_end")
        if begin is not None:
            where.append(f"{column} >= ?")
            args.append(parse_dts(begin, f"{field}_begin"))
        if end is not None:
            where.append(f"{column} <= ?")
            args.append(parse_dts(end, f"{field}_end"))
    _match(query, get, _TASK_FIELD_FILTERS)
    if "tags" in get:
        for tag in check_list(get["tags"], "tags"):
            where.append("gtn IN (SELECT gtn FROM task_tags WHERE tag = ?)")
            args.append(check_str(tag, "tags[]").strip())
    return query
