"""The servers the team-scale tests run on are real and reachable (``tests/services.py``)."""

from __future__ import annotations

import asyncpg
from redis import asyncio as aioredis
from redis import exceptions as redis_errors

from tests.services import RedisServer


async def test_redis_answers(redis_url: str) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        info = await client.info("server")
        assert int(str(info["redis_version"]).split(".")[0]) >= 6  # a real redis-server
    finally:
        await client.aclose()


async def test_a_private_redis_can_be_stopped(redis_server: RedisServer) -> None:
    client: aioredis.Redis = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await client.ping() is True
        redis_server.stop()
        try:
            await client.ping()
        except redis_errors.ConnectionError:
            pass
        else:
            raise AssertionError("a stopped Redis answered")
    finally:
        await client.aclose()


async def test_postgres_gives_each_test_a_fresh_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+asyncpg://")
    connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        assert await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        assert "PostgreSQL" in await connection.fetchval("SELECT version()")
    finally:
        await connection.close()
