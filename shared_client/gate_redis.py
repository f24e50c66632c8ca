"""The gate and budget shared by every machine that uses one ``UC_WORKFLOW_REDIS_URL``.

For a credential's fingerprint ``fp`` (a hash: no secret in any key), all in one hash slot:

- ``uc-workflow:{fp}:holder``: the gate, ``SET NX PX`` to a token of the holder's, renewed every third of
  its TTL while the request is in flight, released by compare-and-delete. A holder that dies frees the gate
  within the TTL; one whose TTL ran out while its request was still in flight is found out (the renewal or
  the release finds another token, or none) and logged: the request had already gone.
- ``uc-workflow:{fp}:queue``: waiters, a sorted set scored by priority then a ticket (``INCR``
  ``uc-workflow:{fp}:seq``); ``uc-workflow:{fp}:alive`` holds each waiter's expiry, pushed back on each of
  its polls, and any script purges the waiters whose expiry passed (a process that died waiting).
- ``uc-workflow:{fp}:budget``: the buckets' levels, a hash updated only by the scripts below.

Every step is one Lua script (atomic), on Redis's clock (``TIME``) unless a ``clock`` is injected. The
budget's arithmetic is ``pacing.BucketSet``'s, written again in Lua. Redis not answering raises
``SharedStateUnavailable`` (nothing is sent to UltraCart), except when a request's answer is already in:
then its budget count is lost with a warning and the gate frees itself within its TTL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import Any

from redis import asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from shared_client.pacing import (
    Binding,
    BudgetSpec,
    Hold,
    Priority,
    bucket_name,
    rate_limited_period,
    still_waiting,
)
from shared_client.redis_support import redis_client, unavailable

__all__ = ["DEFAULT_HOLDER_TTL", "DEFAULT_WAITER_TTL", "RedisGateBackend"]

logger = logging.getLogger("uc_workflow.client")

DEFAULT_HOLDER_TTL = 10.0  # seconds a crashed holder keeps the gate
DEFAULT_WAITER_TTL = 3.0  # seconds a crashed waiter keeps its place
_HEAD_POLL = 0.0005
_HEAD_MAX_POLL = 0.001
_QUEUED_POLL = 0.005

# Redis away, or answering with an error: out of memory (maxmemory with noeviction), a read-only replica
# after a failover, a user not allowed scripts. Either way the gate cannot be kept (SharedStateUnavailable
# before a request is sent), and once one is sent its answer still reaches its caller.
_UNREACHABLE = (RedisError, OSError)

# The budget's arithmetic (pacing.BucketSet). A bucket spec is 4 arguments from BUCKETS on: name,
# capacity, period, background (1) or not (0). Levels live in the hash as "<name>|l" and "<name>|t".
_PRELUDE = """
local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function drained(key, name, capacity, period, now)
  local saved = redis.call('HMGET', key, name .. '|l', name .. '|t')
  local level = tonumber(saved[1]) or 0
  local updated = tonumber(saved[2]) or now
  local elapsed = math.max(0, now - updated)
  return math.max(0, level - elapsed * capacity / period)
end
local function binding(key, now, priority, first)
  local wait, period, wait_bg, period_bg = 0, 0, 0, 0
  for i = first, #ARGV, 4 do
    local capacity, per, bg = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3] == '1'
    if not bg or priority == 1 then
      local overflow = drained(key, ARGV[i], capacity, per, now) + 1 - capacity
      local w = 0
      if overflow > 0 then w = overflow * per / capacity end
      if bg then
        if w > wait_bg or (w == wait_bg and per > period_bg) then wait_bg, period_bg = w, per end
      elseif w > wait or (w == wait and per > period) then wait, period = w, per end
    end
  end
  if wait_bg > wait then return {tostring(wait_bg), tostring(period_bg), '1'} end
  return {tostring(wait), tostring(period), '0'}
end
"""

# KEYS: queue, alive, holder, seq, budget. ARGV: waiter (= token), priority, holder ttl ms, waiter ttl ms,
# now or '', then the buckets from 6. Returns {'0', wait, period, background} once the gate is this
# waiter's, else {'<place in the queue, 1 = first>'}.
_ENTER = (
    _PRELUDE
    + """
local now = clock(ARGV[5])
local now_ms = math.floor(now * 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms)
for _, waiter in ipairs(dead) do
  redis.call('ZREM', KEYS[1], waiter)
  redis.call('ZREM', KEYS[2], waiter)
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local ticket = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) * 10000000000000 + ticket, ARGV[1])
end
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[4]), ARGV[1])
-- A waiter ahead without an expiry (evicted under allkeys-* maxmemory policies, deleted by hand) would
-- never be purged, and the queue would stay blocked behind it for good.
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not head or head == ARGV[1] or redis.call('ZSCORE', KEYS[2], head) then break end
  redis.call('ZREM', KEYS[1], head)
end
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if rank == 0 and redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  local b = binding(KEYS[5], now, tonumber(ARGV[2]), 6)
  return {'0', b[1], b[2], b[3]}
end
return {tostring(rank + 1)}
"""
)

# KEYS: budget. ARGV: now or '', priority, then the buckets from 3.
_BINDING = (
    _PRELUDE
    + """
return binding(KEYS[1], clock(ARGV[1]), tonumber(ARGV[2]), 3)
"""
)

# KEYS: holder, budget. ARGV: token, now or '', priority, sent (1/0), the period to fill or '', the
# longest period (s), then the buckets from 7. Returns 1 when the gate was still this token's.
_LEAVE = (
    _PRELUDE
    + """
local now = clock(ARGV[2])
local priority, sent, fill = tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5])
-- Freed first: a Redis out of memory refuses the HSETs below (the script stops there) but not a DEL.
local still = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  still = 1
end
if sent or fill then
  for i = 7, #ARGV, 4 do
    local name, capacity, per, bg = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3] == '1'
    local level = drained(KEYS[2], name, capacity, per, now)
    if sent and (not bg or priority == 1) then level = level + 1 end
    if fill and not bg and per == fill then level = capacity end
    redis.call('HSET', KEYS[2], name .. '|l', tostring(level), name .. '|t', tostring(now))
  end
  redis.call('PEXPIRE', KEYS[2], math.floor((tonumber(ARGV[6]) + 60) * 1000))
end
return still
"""
)

# KEYS: holder. ARGV: token, ttl ms. Returns 1 while the gate is still this token's.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: queue, alive, holder. ARGV: waiter. A waiter that gives up: out of the queue, and the gate freed
# if the answer that gave it the gate was lost to a cancellation.
_ABANDON = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""


def _binding(reply: Sequence[Any]) -> Binding:
    wait, period, background = (item.decode() if isinstance(item, bytes) else str(item) for item in reply)
    return Binding(float(wait), float(period), background_share=background == "1")


_SCRIPTS_ATTRIBUTE = "_uc_workflow_gate_scripts"


class _Scripts:
    def __init__(self, client: aioredis.Redis) -> None:
        self.enter: AsyncScript = client.register_script(_ENTER)
        self.binding: AsyncScript = client.register_script(_BINDING)
        self.leave: AsyncScript = client.register_script(_LEAVE)
        self.renew: AsyncScript = client.register_script(_RENEW)
        self.abandon: AsyncScript = client.register_script(_ABANDON)


class _RedisHold:
    def __init__(self, backend: RedisGateBackend, scripts: _Scripts, token: str, binding: Binding) -> None:
        self._backend = backend
        self._scripts = scripts
        self._token = token
        self._first: Binding | None = binding
        self.lost = False
        """Whether the gate's TTL ran out while this holder had it (found on renewal or release)."""
        self._renewal = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        backend = self._backend
        ttl_ms = str(round(backend.holder_ttl * 1000))
        while True:
            await asyncio.sleep(backend.holder_ttl / 3)
            try:
                still = await self._scripts.renew(keys=[backend.holder_key], args=[self._token, ttl_ms])
            except _UNREACHABLE as exc:
                logger.warning("The shared gate in Redis could not be renewed (%s)", type(exc).__name__)
                continue
            if not still:
                self._lose()
                return

    def _lose(self) -> None:
        if not self.lost:
            self.lost = True
            logger.warning(
                "The shared gate's lease (%.1f s) ran out while a request was still in flight: another "
                "process may have sent one at the same time (Redis too slow, or this process stalled)",
                self._backend.holder_ttl,
            )

    async def binding(self, priority: Priority) -> Binding:
        if self._first is not None:  # read by the script that gave the gate: no second round trip
            first, self._first = self._first, None
            return first
        backend = self._backend
        try:
            reply = await self._scripts.binding(
                keys=[backend.budget_key], args=[backend.now(), int(priority), *backend.buckets]
            )
        except _UNREACHABLE as exc:
            raise unavailable(backend.url, exc) from None
        return _binding(reply)

    async def leave(self, priority: Priority, *, sent: bool, rate_limited: str | None) -> None:
        self._renewal.cancel()
        backend = self._backend
        period = rate_limited_period(rate_limited) if rate_limited is not None else None
        try:
            still = await self._scripts.leave(
                keys=[backend.holder_key, backend.budget_key],
                args=[
                    self._token,
                    backend.now(),
                    int(priority),
                    "1" if sent else "0",
                    "" if period is None else repr(period),
                    repr(backend.longest_period),
                    *backend.buckets,
                ],
            )
        except _UNREACHABLE as exc:
            logger.warning(
                "The shared gate in Redis could not be released (%s): it frees itself within %.1f s, and "
                "this request is not counted in the shared budget",
                type(exc).__name__,
                backend.holder_ttl,
            )
            return
        if not still:
            self._lose()


class RedisGateBackend:
    """The gate of credential ``fingerprint`` for every process using ``url`` (see the module).
    ``holder_ttl``: how long a crashed holder keeps the gate; ``waiter_ttl``: a crashed waiter its place;
    ``clock``: the budget's clock (default Redis's ``TIME``)."""

    def __init__(
        self,
        url: str,
        fingerprint: str,
        spec: BudgetSpec,
        *,
        holder_ttl: float = DEFAULT_HOLDER_TTL,
        waiter_ttl: float = DEFAULT_WAITER_TTL,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.url = url
        self.holder_ttl = holder_ttl
        self.waiter_ttl = waiter_ttl
        self._clock = clock
        base = f"uc-workflow:{{{fingerprint}}}"
        self.holder_key = f"{base}:holder"
        self.queue_key = f"{base}:queue"
        self.alive_key = f"{base}:alive"
        self.seq_key = f"{base}:seq"
        self.budget_key = f"{base}:budget"
        self.buckets: list[str] = []
        for limits, background in ((spec.limits, "0"), (spec.background_limits(), "1")):
            for capacity, period in limits:
                name = bucket_name(period, background=background == "1")  # pacing.BucketSet's names
                self.buckets += [name, str(capacity), repr(float(period)), background]
        self.longest_period = max((period for _, period in spec.limits), default=0.0)
        self._guard = threading.Lock()

    def now(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    def _scripts_for(self) -> _Scripts:
        client = redis_client(self.url)  # this event loop's
        with self._guard:
            # Kept on the client, not in a dict keyed by it: the scripts hold their client, so such a
            # key would never be dropped (nor the client, its connections and its event loop).
            scripts = getattr(client, _SCRIPTS_ATTRIBUTE, None)
            if not isinstance(scripts, _Scripts):
                scripts = _Scripts(client)
                setattr(client, _SCRIPTS_ATTRIBUTE, scripts)
            return scripts

    async def enter(
        self, priority: Priority, remaining: Callable[[], float | None], outranked: Callable[[], bool]
    ) -> Hold:
        scripts = self._scripts_for()
        token = secrets.token_hex(16)
        keys = [self.queue_key, self.alive_key, self.holder_key, self.seq_key, self.budget_key]
        args: list[str | int] = [
            token,
            int(priority),
            round(self.holder_ttl * 1000),
            round(self.waiter_ttl * 1000),
            "",
            *self.buckets,
        ]
        allowed = remaining()
        delay = _HEAD_POLL
        done = False
        try:
            while True:
                args[4] = self.now()
                try:
                    reply = await scripts.enter(keys=keys, args=args)
                except _UNREACHABLE as exc:
                    raise unavailable(self.url, exc) from None
                place = int(reply[0])
                if place == 0:
                    done = True
                    return _RedisHold(self, scripts, token, _binding(reply[1:]))
                left = still_waiting(remaining, allowed, outranked)
                near = place <= 2  # first, or next: it polls often, so the gate is never left idle
                pause = delay if near else _QUEUED_POLL
                await asyncio.sleep(pause if left is None else min(pause, left))
                delay = min(delay * 2, _HEAD_MAX_POLL) if near else _HEAD_POLL
        finally:
            if not done:
                await self._abandon(scripts, token)

    async def _abandon(self, scripts: _Scripts, token: str) -> None:
        try:
            await scripts.abandon(keys=[self.queue_key, self.alive_key, self.holder_key], args=[token])
        except (*_UNREACHABLE, asyncio.CancelledError):
            pass  # its place expires within waiter_ttl anyway
