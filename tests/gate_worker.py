"""A process of its own for the shared gate's tests: ``python -m tests.gate_worker MODE ...``.

- ``hold KIND WHERE FP TTL``: take the gate (KIND ``dir``: WHERE is a state directory; ``redis``: a URL;
  TTL the Redis holder's / waiter's TTL), say ``held`` on stdout and keep it until killed.
- ``wait KIND WHERE FP TTL``: queue for the gate (someone else holds it), say ``held`` if it ever gets it.
- ``calls BASE_URL COUNT LIMIT KEY``: COUNT distinct ``get_assignment_users`` calls, four at a time,
  through a client for KEY on the gate the environment's settings choose (``UC_WORKFLOW_STATE_DIR`` /
  ``UC_WORKFLOW_REDIS_URL``) with a budget of LIMIT an hour; prints ``{"ok": N, "refused": M}``.
"""

from __future__ import annotations

import asyncio
import json
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
    elif mode == "calls":
        asyncio.run(calls(args[0], int(args[1]), int(args[2]), args[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
