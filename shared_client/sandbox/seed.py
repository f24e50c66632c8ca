"""The demo account: users, groups and tasks. Deterministic; dates relative to `now`."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from .wire import MERCHANT_ID, OBJECT_TYPES, PRIORITIES, STATUSES, task_context_for, utc_iso

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True)
class SeedUser:
    """``name`` is UltraCart's ``user``, the only name on the wire. ``login`` is the sandbox's own way to
    pick a demo user (the credential ``user:LOGIN``); UltraCart's users carry no e-mail and neither does
    anything the sandbox answers."""

    user_id: int
    name: str
    login: str
    assignable: bool = True


SYSTEM_USER = SeedUser(1000, "System", "system@demo.example", assignable=False)
OWNER = SeedUser(1001, "Demo Owner", "owner@demo.example")
USERS: tuple[SeedUser, ...] = (
    SYSTEM_USER,
    OWNER,
    SeedUser(1002, "Alice Carter", "alice@demo.example"),
    SeedUser(1003, "Sam Rivera", "sam@demo.example"),
    SeedUser(1004, "Priya Shah", "priya@demo.example"),
    SeedUser(1005, "Marcus Lee", "marcus@demo.example"),
    SeedUser(1006, "Jordan Blake", "jordan@demo.example"),
    SeedUser(1007, "Elena Novak", "elena@demo.example"),
    # Some real accounts' user names are e-mail addresses: this one's is.
    SeedUser(1008, "tom@demo.example", "tom@demo.example"),
)
GROUPS: tuple[tuple[int, str], ...] = (
    (201, "Customer Service"),
    (202, "Accounts Receivable"),
    (203, "Fraud Review"),
    (204, "Warehouse"),
)
MEMBERSHIPS: tuple[tuple[int, int], ...] = (
    (201, 1002),
    (201, 1003),
    (201, 1006),
    (202, 1001),
    (202, 1002),
    (202, 1004),
    (203, 1004),
    (203, 1005),
    (204, 1003),
    (204, 1007),
    (204, 1008),
)
USER_BY_ID = {u.user_id: u for u in USERS}
GROUP_BY_ID = dict(GROUPS)

# (name, object_type, object_id, email, status, priority, assignee, due_days, age_days, system_type, tags)
# assignee: ("u", user_id) | ("g", group_id) | ("ug", user_id, group_id) | None. due_days < 0 = overdue.
_Spec = tuple[str, str, str, str | None, str, str, Any, float | None, float, str | None, list[str]]
SPECS: tuple[_Spec, ...] = (
    (
        "Collect payment for net-30 order",
        "order",
        "DEMO-0001234",
        "buyer@acme.example",
        "open",
        "3 - high",
        ("g", 202),
        -3,
        20,
        "order_accounts_receivable",
        ["accounts-receivable", "net30"],
    ),
    (
        "Review possible fraud on order",
        "order",
        "DEMO-0001240",
        "j.doe@mail.example",
        "open",
        "4 - critical",
        ("g", 203),
        -1,
        2,
        "order_fraud_review",
        ["fraud"],
    ),
    (
        "Auto order card declined",
        "auto order",
        "DEMO-AO-000551",
        "kim@shop.example",
        "open",
        "3 - high",
        ("g", 201),
        2,
        1,
        "auto_order_card_update_issue",
        ["card", "auto-order"],
    ),
    (
        "Auto order canceled: payment failed",
        "auto order",
        "DEMO-AO-000552",
        "lee@shop.example",
        "closed - expiration",
        "2 - medium",
        ("g", 202),
        -10,
        40,
        "auto_order_canceled_payment",
        ["auto-order"],
    ),
    (
        "Low stock: BLUE-MUG",
        "item",
        "BLUE-MUG",
        None,
        "open",
        "2 - medium",
        ("g", 204),
        5,
        1,
        "item_low_stock",
        ["inventory"],
    ),
    (
        "Out of stock: RED-TEE-L",
        "item",
        "RED-TEE-L",
        None,
        "open",
        "4 - critical",
        ("g", 204),
        -2,
        4,
        "item_out_of_stock",
        ["inventory", "urgent"],
    ),
    (
        "Out of stock: GREEN-CAP",
        "item",
        "GREEN-CAP",
        None,
        "closed - system",
        "3 - high",
        ("g", 204),
        None,
        30,
        "item_out_of_stock",
        ["inventory"],
    ),
    (
        "Call customer about damaged delivery",
        "order",
        "DEMO-0001250",
        "ann@home.example",
        "open",
        "3 - high",
        ("u", 1002),
        -2,
        6,
        None,
        ["vip", "shipping"],
    ),
    (
        "Refund partial shipment",
        "order",
        "DEMO-0001251",
        "bob@home.example",
        "awaiting customer feedback",
        "2 - medium",
        ("u", 1003),
        3,
        5,
        None,
        ["refund"],
    ),
    (
        "Confirm address change",
        "customer profile",
        "CUST-1001",
        "carla@home.example",
        "open",
        "1 - low",
        ("u", 1006),
        7,
        3,
        None,
        [],
    ),
    (
        "Update tax exemption certificate",
        "customer profile",
        "CUST-1002",
        "dave@biz.example",
        "delayed",
        "2 - medium",
        ("u", 1004),
        14,
        9,
        None,
        ["tax"],
    ),
    (
        "Storefront banner for spring sale",
        "storefront",
        "STORE-1",
        None,
        "open",
        "2 - medium",
        ("u", 1001),
        10,
        2,
        None,
        ["marketing"],
    ),
    (
        "Fix broken checkout link on storefront",
        "storefront",
        "STORE-1",
        None,
        "closed",
        "4 - critical",
        ("u", 1005),
        -5,
        12,
        None,
        ["bug"],
    ),
    (
        "Investigate chargeback",
        "order",
        "DEMO-0001260",
        "eve@mail.example",
        "open",
        "4 - critical",
        ("ug", 1005, 203),
        -4,
        8,
        None,
        ["fraud", "chargeback"],
    ),
    (
        "Reship lost package",
        "order",
        "DEMO-0001261",
        "fay@mail.example",
        "closed - customer",
        "2 - medium",
        ("u", 1007),
        None,
        25,
        None,
        ["shipping"],
    ),
    (
        "Unassigned: sort out duplicate order",
        "order",
        "DEMO-0001262",
        "gus@mail.example",
        "open",
        "1 - low",
        None,
        1,
        1,
        None,
        [],
    ),
    (
        "Unassigned: check item description typo",
        "item",
        "YELLOW-SOCKS",
        None,
        "open",
        "1 - low",
        None,
        None,
        2,
        None,
        ["content"],
    ),
)

_NAMES = (
    "Follow up on order question",
    "Verify shipping address",
    "Send replacement part",
    "Check backorder date",
    "Respond to product review",
    "Update item photos",
    "Approve wholesale pricing",
    "Confirm subscription change",
    "Apply loyalty discount",
    "Escalate late shipment",
)


def _user(user: SeedUser) -> dict[str, Any]:
    return {"user_id": user.user_id, "user": user.name, "user_icon_url": icon_url(user.login)}


def icon_url(login: str) -> str:
    import hashlib

    digest = hashlib.md5(login.lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?d=identicon"


def assign(doc: dict[str, Any], user_id: int | None, group_id: int | None) -> None:
    for key in ("assigned_to_user_id", "assigned_to_user", "assigned_to_group_id", "assigned_to_group"):
        doc.pop(key, None)
    doc.pop("assigned_to_user_or_group", None)
    if user_id is not None:
        doc["assigned_to_user_id"] = user_id
        doc["assigned_to_user"] = USER_BY_ID[user_id].name
    if group_id is not None:
        doc["assigned_to_group_id"] = group_id
        doc["assigned_to_group"] = GROUP_BY_ID[group_id]
    label = doc.get("assigned_to_user") or doc.get("assigned_to_group")
    if label:
        doc["assigned_to_user_or_group"] = label


def demo_files() -> list[tuple[str, str, str, bytes]]:
    """(file_uuid, file_name, mime_type, bytes) of the seeded attachments."""
    return [
        (
            "5eed0000-0000-4000-8000-000000000001",
            "packing-slip.txt",
            "text/plain",
            b"Packing slip DEMO-0001250\n1 x BLUE-MUG\n",
        ),
        (
            "5eed0000-0000-4000-8000-000000000002",
            "chargeback.csv",
            "text/csv",
            b"order,amount,reason\nDEMO-0001260,49.95,fraudulent\n",
        ),
    ]


def demo_tasks(now: float) -> list[dict[str, Any]]:
    """About forty tasks, numbered 1..N, covering every object type, status and priority."""
    rng = random.Random(20240518)
    specs: list[_Spec] = list(SPECS)
    assignees: list[Any] = [
        ("u", 1002),
        ("u", 1003),
        ("g", 201),
        ("u", 1004),
        None,
        ("g", 204),
        ("u", 1007),
        ("u", 1008),
        ("g", 202),
        ("u", 1001),
    ]
    tag_pool = ["vip", "wholesale", "shipping", "refund", "content", "follow-up"]
    for i in range(24):
        otype = OBJECT_TYPES[i % len(OBJECT_TYPES)]
        oid = {
            "order": f"DEMO-{2000 + i:07d}",
            "auto order": f"DEMO-AO-{700 + i:06d}",
            "item": f"ITEM-{100 + i}",
            "customer profile": f"CUST-{2000 + i}",
            "storefront": "STORE-1",
        }[otype]
        email = f"customer{i}@mail.example" if otype in ("order", "auto order", "customer profile") else None
        status = STATUSES[i % len(STATUSES)]
        due = None if i % 5 == 4 else float(rng.randint(-6, 12))
        tags = sorted(rng.sample(tag_pool, rng.randint(0, 2)))
        specs.append(
            (
                _NAMES[i % len(_NAMES)],
                otype,
                oid,
                email,
                status,
                PRIORITIES[(i * 3) % 4],
                assignees[i % len(assignees)],
                due,
                float(rng.randint(1, 45)),
                None,
                tags,
            )
        )

    files = demo_files()
    object_counts: dict[tuple[str, str], int] = {}
    docs: list[dict[str, Any]] = []
    for number, (name, otype, oid, email, status, priority, who, due, age, sys_type, tags) in enumerate(
        specs, start=1
    ):
        created = now - age * DAY - number * 60
        system = sys_type is not None
        creator = SYSTEM_USER if system else USERS[1 + number % (len(USERS) - 1)]
        object_counts[(otype, oid)] = object_counts.get((otype, oid), 0) + 1
        doc: dict[str, Any] = {
            "workflow_task_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "global_task_number": number,
            "object_task_number": object_counts[(otype, oid)],
            "merchant_id": MERCHANT_ID,
            "task_name": name if otype != "item" or "stock" in name else f"{name} ({oid})",
            "task_details": f"{name}. Seeded demo task {number}.",
            "object_type": otype,
            "object_id": oid,
            "object_url": f"https://secure.ultracart.com/merchant/{otype.replace(' ', '_')}/{oid}",
            "task_context": task_context_for(otype, oid, email),
            "status": status,
            "priority": priority,
            "created_by": _user(creator),
            "created_dts": utc_iso(created),
            "tags": tags,
        }
        if email:
            doc["object_email"] = email
        if due is not None:
            doc["due_dts"] = utc_iso(now + due * DAY)
        if status == "delayed":
            doc["delay_until_dts"] = utc_iso(now + 2 * DAY)
        if system:
            doc["system_task_type"] = sys_type
            doc["expiration_dts"] = utc_iso(created + 30 * DAY)
        if who is not None:
            user_id = who[1] if who[0] in ("u", "ug") else None
            group_id = who[1] if who[0] == "g" else (who[2] if who[0] == "ug" else None)
            assign(doc, user_id, group_id)
        histories = [_history(created, "Task created", creator)]
        updated = created
        notes: list[dict[str, Any]] = []
        if number % 3 == 0 or number in (8, 14):
            author = USERS[2 + number % 7]
            note_ts = created + 2 * HOUR
            notes.append(
                {
                    "note": f"Looked into this; waiting on {email or 'the team'}.",
                    "note_dts": utc_iso(note_ts),
                    "user": _user(author),
                }
            )
            histories.append(_history(note_ts, "Note added", author))
            updated = note_ts
        if number == 8:
            notes[0]["attachments"] = [
                {"file_uuid": files[0][0], "file_name": files[0][1], "mime_type": files[0][2]}
            ]
        if number == 14:
            doc["attachments"] = [
                {"file_uuid": files[1][0], "file_name": files[1][1], "mime_type": files[1][2]}
            ]
            doc["properties"] = [
                {"name": "chargeback_id", "value": "CB-99812"},
                {"name": "amount", "value": "49.95"},
            ]
        if number in (1, 2, 5):
            doc["properties"] = [{"name": "rule", "value": sys_type or ""}]
        if status != "open" and status != "delayed":
            ts = updated + HOUR
            histories.append(
                _history(
                    ts,
                    f"Status changed from open to {status}",
                    SYSTEM_USER if status.startswith("closed - ") else creator,
                )
            )
            updated = ts
        if notes:
            doc["notes"] = notes
        doc["histories"] = histories
        doc["last_update_dts"] = utc_iso(min(updated, now))
        docs.append(doc)
    return docs


def _history(ts: float, description: str, user: SeedUser) -> dict[str, Any]:
    return {
        "activity_dts": utc_iso(ts),
        "description": description,
        "ip_address": "127.0.0.1",
        "user": _user(user),
    }
