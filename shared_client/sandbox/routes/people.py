"""People: who am I, who tasks can go to, and the agent websocket's authorization."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from typing import Any

from ..calls import Call, Sandbox
from ..search import parse_page
from ..wire import MERCHANT_ID, result_set


async def me(sb: Sandbox, call: Call) -> dict[str, Any]:
    return {"user": dict(call.caller)}


async def assignment_users(sb: Sandbox, call: Call) -> dict[str, Any]:
    limit, offset = parse_page(call.query, 100, 200)
    users, total = await sb.run(sb.people.list_users, limit, offset)
    return {
        "users": users,
        "my_user_id": call.caller["user_id"],
        "metadata": {"result_set": result_set(len(users), offset, limit, total)},
    }


async def assignment_groups(sb: Sandbox, call: Call) -> dict[str, Any]:
    limit, offset = parse_page(call.query, 100, 200)
    groups, total = await sb.run(sb.people.list_groups, limit, offset)
    return {"groups": groups, "metadata": {"result_set": result_set(len(groups), offset, limit, total)}}


async def agent_auth(sb: Sandbox, call: Call) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"merchant_id": MERCHANT_ID, "user_id": call.caller["user_id"], "exp": int(time.time()) + 3600}
    token = f"{header}.{b64(json.dumps(claims).encode())}.{b64(os.urandom(32))}"
    ws_url = re.sub(r"^http", "ws", call.base_url) + "/_sandbox/agent"
    return {"agent_auth": {"jwt": token, "merchant_id": MERCHANT_ID, "websocket_url": ws_url}}
