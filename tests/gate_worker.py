"""A process of its own for the shared gate's tests: ``python -m tests.gate_worker MODE ...``.

- ``hold KIND WHERE FP TTL``: take the gate (KIND ``dir``: WHERE is a state directory; ``redis``: a URL;
  TTL the Redis holder's / waiter's TTL), say ``held`` on stdout and keep it until killed.
- ``wait KIND WHERE FP TTL``: queue for the gate (someone else holds it), say ``held`` if it ever gets it.
- ``fork KIND WHERE FP TTL hold|wait``: hold (or wait for) the gate, fork a child that sleeps until killed,
  say ``forked <child pid>``.
- ``calls BASE_URL COUNT LIMIT KEY``: COUNT distinct ``get_assignment_users`` calls, four at a time,
  through a client for KEY on the gate the environment's settings choose (``UC_WORKFLOW_STATE_DIR`` /
  ``UC_WORKFLOW_REDIS_URL``) with a budget of LIMIT an hour; prints ``{"ok": N, "refused": M}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from shared_client.client import WorkflowClient
from shared_client.errors import RateLimitError
from shared_client.pacing import BudgetSpec, Gate, GateBackend


def backend(kind: str, where: str, fingerprint: str, ttl: float) -> GateBackend:
    spec = BudgetSpec.none()
    if kind == "dir":
        from shared_client.gate_files import FileGateBackend

        return FileGateBackend(Path(where), fingerprint, spec)
    from shared_client.gate_redis import RedisGateBackend

    return RedisGateBackend(where, fingerprint, spec, holder_ttl=ttl, waiter_ttl=ttl)


async def hold(kind: str, where: str, fingerprint: str, ttl: float) -> None:
    async with Gate(backend(kind, where, fingerprint, ttl)).slot():
        print("held", flush=True)
        await asyncio.Event().wait()  # until killed


async def fork(kind: str, where: str, fingerprint: str, ttl: float, state: str) -> None:
    """Hold the gate (STATE ``hold``) or wait in its queue (``wait``), then fork a child that sleeps
    until killed (as a worker pool's process would live on), say ``forked <child pid>``, and stay."""
    gate = Gate(backend(kind, where, fingerprint, ttl))
    held = asyncio.Event()

    async def take() -> None:
        async with gate.slot():
            held.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(take())
    if state == "hold":
        await asyncio.wait_for(held.wait(), 10)
    else:
        queue = Path(where) / "queue" / fingerprint
        for _ in range(10_000):  # until its ticket is in the queue (10 s at most)
            if queue.exists() and any(name[0] != "." for name in os.listdir(queue)):
                break
            await asyncio.sleep(0.001)
        else:
            raise SystemExit("the worker's ticket never appeared")
    child = os.fork()
    if child == 0:
        signal.pause()
        os._exit(0)
    print(f"forked {child}", flush=True)
    await task


async def calls(base_url: str, count: int, limit: int, key: str) -> None:
    budget = BudgetSpec(limits=((limit, 3600.0),), background_share=1.0)
    ok = refused = 0
    async with WorkflowClient(api_key=key, base_url=base_url, budget=budget, call_deadline=5.0) as client:
        semaphore = asyncio.Semaphore(4)

        async def one(i: int) -> None:
            nonlocal ok, refused
            async with semaphore:
                try:
                    await client.get_assignment_users(limit=i + 1)  # distinct: none shares another's GET
                    ok += 1
                except RateLimitError:
                    refused += 1

        await asyncio.gather(*(one(i) for i in range(count)))
    print(json.dumps({"ok": ok, "refused": refused}), flush=True)


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode in ("hold", "wait"):
        asyncio.run(hold(args[0], args[1], args[2], float(args[3])))
    elif mode == "fork":
        asyncio.run(fork(args[0], args[1], args[2], float(args[3]), args[4]))
    elif mode == "calls":
        asyncio.run(calls(args[0], int(args[1]), int(args[2]), args[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
