"""Argument types shared by the tools: friendly values (``values.py``) as pydantic types, so a tool's
input model is the single source of its schema and its validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from shared_client.tools.values import (
    parse_object_type,
    parse_priority,
    parse_search_status,
    parse_sort,
    parse_status,
    parse_when,
    parse_when_ago,
    visible_text,
)


def _number_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# 1-4 arrive as JSON numbers as often as strings: the schema says both.
Priority = Annotated[
    str,
    BeforeValidator(_number_as_text),
    AfterValidator(parse_priority),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1, "maximum": 4}]}),
]
TaskStatus = Annotated[str, AfterValidator(parse_status)]
SearchStatus = Annotated[str, AfterValidator(parse_search_status)]
ObjectType = Annotated[str, AfterValidator(parse_object_type)]
SortSpec = Annotated[str, AfterValidator(parse_sort)]

PropertyMap = dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=1000)]]


def _date_field(end_of_day: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        parse_when(value, end_of_day=end_of_day)  # raises with the accepted forms
        return value

    return check


def _when_ago_field(end_of_day: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        parse_when_ago(value, end_of_day=end_of_day, now=datetime.now(UTC))  # the handler uses its clock
        return value

    return check


DueDate = Annotated[str, AfterValidator(_date_field(True))]
StartDate = Annotated[str, AfterValidator(_date_field(False))]
# A date, a date-time, or a time ago ("24 hours ago"): the bounds of "what changed since ...".
SinceTime = Annotated[str, Field(max_length=100), AfterValidator(_when_ago_field(False))]
UntilTime = Annotated[str, Field(max_length=100), AfterValidator(_when_ago_field(True))]
CLEAR_WORDS = {"", "none", "null", "clear", "no"}

Tag = Annotated[str, Field(min_length=1, max_length=100)]
Tags = list[Tag]
TaskName = Annotated[str, Field(min_length=1, max_length=250), AfterValidator(visible_text)]
