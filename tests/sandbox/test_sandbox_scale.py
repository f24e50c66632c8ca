"""Scale: 100,000 tasks seed once, and a three-filter search over them answers correctly. How fast is
measured by ``bench/sandbox_scale.py`` (timing targets are the bench's, not the suite's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sandbox_support import MakeClient

from shared_client.sandbox import SandboxConfig, create_app


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "big.sqlite3"
    create_app(SandboxConfig(db_path=path, seed_tasks=100_000))
    return path


async def test_three_filter_search_over_100k_tasks(big_db: Path, make_client: MakeClient) -> None:
    app = create_app(SandboxConfig(db_path=big_db, seed_tasks=100_000, rate_limit=None))
    body = {"status": "open", "priority": "3 - high", "assigned_to_group_id": 201}
    async with make_client(app) as client:
        total = (await client.post("/workflow/tasks/search", json={}, params={"_limit": 1})).json()
        assert total["metadata"]["result_set"]["total_records"] >= 100_000  # seeding again adds nothing
        response = await client.post("/workflow/tasks/search", json=body, params={"_sort": "-due_dts"})
        assert response.status_code == 200
    tasks = response.json()["tasks"]
    assert len(tasks) == 100
    assert all(
        t["status"] == "open" and t["priority"] == "3 - high" and t["assigned_to_group_id"] == 201
        for t in tasks
    )
    dues = [t["due_dts"] for t in tasks if t.get("due_dts")]
    assert dues == sorted(dues, reverse=True)


async def test_synthetic_seed_is_idempotent(big_db: Path, make_client: MakeClient) -> None:
    app = create_app(SandboxConfig(db_path=big_db, seed_tasks=100_000, rate_limit=None))
    async with make_client(app) as client:
        result = (
            await client.post("/workflow/tasks/search", json={"tags": ["bulk"]}, params={"_limit": 1})
        ).json()
        assert result["metadata"]["result_set"]["total_records"] == 100_000
