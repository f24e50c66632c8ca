"""A password given as a query parameter of UC_WORKFLOW_REDIS_URL or UC_WORKFLOW_DATABASE_URL
(``unix:///run/redis.sock?password=…`` is redis-py's documented form for a socket; SQLAlchemy hands
``?password=…`` to asyncpg) never appears in an error, a log line, or escapes the redaction."""

from __future__ import annotations

import logging

import pytest

from shared_client.redis_support import describe_redis, unavailable
from shared_client.settings import ConfigurationError, Settings
from slack_bot.store import open_database, shown_url
from tests.services import free_port

SECRET = "hunter2-query"


@pytest.mark.parametrize(
    "url",
    [
        f"unix:///run/redis/redis.sock?db=0&password={SECRET}",
        f"redis://127.0.0.1:6379/0?password={SECRET}",
        f"rediss://cache.example:6380/0?ssl_cert_reqs=none&Password={SECRET}",
    ],
)
def test_a_redis_password_in_the_query_is_never_shown(url: str) -> None:
    shown = describe_redis(url)
    assert SECRET not in shown and "password=***" in shown.lower()
    assert shown.split("?")[0] == url.split("?")[0]  # the rest as given
    assert SECRET not in str(unavailable(url, ConnectionRefusedError()))


def test_query_passwords_are_secrets_to_redact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UC_WORKFLOW_REDIS_URL", f"unix:///run/redis.sock?password={SECRET}")
    monkeypatch.setenv("UC_WORKFLOW_DATABASE_URL", "postgresql+asyncpg://bot@db/bot?password=pg%40secret")
    secrets = Settings(_env_file=None).secrets()  # type: ignore[call-arg]
    assert SECRET in secrets and "pg@secret" in secrets


async def test_a_database_password_in_the_query_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    url = f"postgresql+asyncpg://bot@127.0.0.1:{port}/bot?password={SECRET}&ssl=disable"
    assert shown_url(url) == f"postgresql+asyncpg://bot@127.0.0.1:{port}/bot?password=***&ssl=disable"
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as caught:
        await open_database(url)
    assert SECRET not in str(caught.value) and "password=***" in str(caught.value)
    assert not any(SECRET in r.getMessage() for r in caplog.records)
