"""``CallerContexts`` (``--credentials per-request``) on the in-process sandbox: how long verdicts are
remembered (an injected clock), what is not remembered, and the LRU of callers' clients."""

from __future__ import annotations

import pytest

from server.per_request import CallerContexts, KeyRefused, KeyUnverified, key_fingerprint
from tests.conftest import MakeClient

ALICE = "user:alice@demo.example"
SAM = "user:sam@demo.example"
OWNER = "caller-contexts-owner-key"
REFUSED = "user:nobody@nowhere.example"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def contexts(make_client: MakeClient, clock: Clock, **options: object) -> CallerContexts:
    return CallerContexts(
        lambda key: make_client(key=key, **options).client,
        sandbox=True,
        description="the sandbox",
        verified_for=300.0,
        refused_for=120.0,
        clock=clock,
        max_clients=2,
    )


async def test_a_verdict_is_remembered_for_a_while(make_client: MakeClient) -> None:
    clock = Clock()
    callers = contexts(make_client, clock)
    first = await callers.acquire(ALICE)
    callers.release(first)
    again = await callers.acquire(ALICE)
    callers.release(again)
    assert again is first and callers.verifications == 1
    people = await first.people.get()
    me = people.user_by_id(people.my_user_id)
    assert me is not None and me.user == "Alice Carter"  # its own people directory: Alice is "me"

    clock.now += 301.0
    callers.release(await callers.acquire(ALICE))
    assert callers.verifications == 2

    for _ in range(2):
        with pytest.raises(KeyRefused):
            await callers.acquire(REFUSED)
    assert callers.verifications == 3 and callers.clients == 1  # refused once; no client kept for it
    clock.now += 121.0
    with pytest.raises(KeyRefused):
        await callers.acquire(REFUSED)
    assert callers.verifications == 4
    with pytest.raises(KeyRefused):
        await callers.acquire("x" * 600)  # no simple key is that long: UltraCart is not asked
    assert callers.verifications == 4
    await callers.aclose()


async def test_a_key_ultracart_cannot_be_asked_about_is_not_remembered(make_client: MakeClient) -> None:
    callers = contexts(make_client, Clock(), fault_rate=1.0, fault_kinds=("503",))
    for _ in range(2):
        with pytest.raises(KeyUnverified):
            await callers.acquire(ALICE)
    assert callers.verifications == 2
    await callers.aclose()


async def test_idle_clients_beyond_the_bound_are_closed(make_client: MakeClient) -> None:
    callers = contexts(make_client, Clock())
    held = await callers.acquire(ALICE)  # in use all along: never evicted
    sam = await callers.acquire(SAM)
    callers.release(sam)
    owner = await callers.acquire(OWNER)  # three clients, bound two: Sam's (idle, oldest) goes
    callers.release(owner)
    assert callers.clients == 2
    assert sam.client._http_client is None or sam.client._http_client.is_closed
    sam_again = await callers.acquire(SAM)  # a new client; the verdict (by fingerprint) is remembered
    assert sam_again is not sam and callers.verifications == 3
    assert held.client is (await callers.acquire(ALICE)).client
    assert key_fingerprint(ALICE) != key_fingerprint(SAM) and ALICE not in key_fingerprint(ALICE)
    await callers.aclose()
