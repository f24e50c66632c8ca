"""Harness for the Slack bot end to end: the real app over HTTP on 127.0.0.1, signed requests
shaped like Slack's, a mock Slack Web API on 127.0.0.1, and the sandbox in process."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from mock_slack import BOT_TOKEN, Call, MockSlack, SlackUser

from shared_client.client import WorkflowClient
from shared_client.pacing import BudgetSpec
from shared_client.retry import RetryPolicy
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.tools import ToolContext, get_tool
from slack_bot.app import build_app
from slack_bot.deps import Deps, slack_web_client
from slack_bot.identity import LINK, IdentityStore
from slack_bot.store import open_database, sqlite_url

SANDBOX_URL = "http://sandbox.test/rest/v2"
FAST_RETRIES = RetryPolicy(
    max_retries=3,
    max_rate_limit_retries=3,
    base_delay=0.005,
    max_delay=0.02,
    rate_limit_base_delay=0.005,
    rate_limit_max_delay=0.02,
)
SIGNING_SECRET = "test-signing-secret-0123456789"
TEAM = "T1"
CHANNEL = "C0GENERAL"

SLACK_USERS = {
    # The workspace's owner, the credential's own UltraCart user.
    "UOWNER": SlackUser("UOWNER", "Demo Owner", "owner@demo.example", is_owner=True),
    "UALICE": SlackUser("UALICE", "Alice", "alice@demo.example"),
    "USAM": SlackUser("USAM", "Sam", "sam@demo.example"),
    "UPRIYA": SlackUser("UPRIYA", "Priya", "priya@demo.example"),
    "USTRANGER": SlackUser("USTRANGER", "Stranger", "stranger@elsewhere.example"),
    # UltraCart's user 1008 is named tom@demo.example: the member with that Slack e-mail is him, unlinked.
    "UTOM": SlackUser("UTOM", "Tom", "tom@demo.example"),
    "UGUEST": SlackUser("UGUEST", "Gus Guest", "gus@elsewhere.example", is_restricted=True),
}
# Who the harness links (as an admin would, with /task link) at start: UltraCart's users carry no e-mail,
# so nothing else says who these members are.
LINKED = {"UOWNER": 1001, "UALICE": 1002, "USAM": 1003, "UPRIYA": 1004}


def sign(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """What Slack sends as X-Slack-Signature: HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)  # names lowercased

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class Bot:
    url: str
    slack: MockSlack
    ctx: ToolContext
    deps: Deps
    http: aiohttp.ClientSession
    secret: str = SIGNING_SECRET
    db: Path | None = None
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _n: Any = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------ raw requests

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        signed: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts), **(headers or {})}
        if signed:
            headers["X-Slack-Signature"] = signature or sign(body, ts, self.secret)
        async with self.http.post(self.url, data=body, headers=headers) as response:
            return Reply(
                response.status, await response.text(), {k.lower(): v for k, v in response.headers.items()}
            )  # names lowercased

    async def form(self, fields: dict[str, str], **kw: Any) -> Reply:
        return await self.post(
            urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded", **kw
        )

    async def interactive(self, payload: dict[str, Any], **kw: Any) -> Reply:
        return await self.form({"payload": json.dumps(payload)}, **kw)

    # ------------------------------------------------------------------ Slack's payload shapes

    def new_response_url(self) -> tuple[str, str]:
        name = f"r{next(self._n)}"
        return name, self.slack.response_url(name)

    async def command(self, text: str, user: str = "UALICE", channel: str = CHANNEL) -> tuple[Reply, str]:
        """A slash command, form-encoded as Slack sends it. Returns the reply and the response_url name."""
        name, response_url = self.new_response_url()
        fields = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/task",
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
        }
        return await self.form(fields), name

    def _base(self, kind: str, user: str) -> dict[str, Any]:
        return {
            "type": kind,
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": "A1",
            "token": "legacy-verification-token",
            "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
            "is_enterprise_install": False,
        }

    async def block_action(
        self,
        action: dict[str, Any],
        *,
        user: str = "UALICE",
        message: Call | None = None,
        ephemeral: bool = False,
        channel: str = CHANNEL,
        home: bool = False,
    ) -> tuple[Reply, str]:
        """A block_actions payload from a message (``message``: the call that posted it) or App Home."""
        name, response_url = self.new_response_url()
        payload = self._base("block_actions", user)
        payload["actions"] = [{"action_ts": str(time.time()), **action}]
        if home:
            payload["container"] = {"type": "view", "view_id": "VHOME"}
            payload["view"] = {
                "id": "VHOME",
                "type": "home",
                "blocks": [],
                "private_metadata": "",
                "callback_id": "",
                "state": {"values": {}},
            }
        else:
            ts = "1700000000.000999"
            if message is not None and message.method == "chat.postMessage":
                ts = str(message.args.get("ts") or ts)
            payload["container"] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            }
            payload["channel"] = {"id": channel, "name": "general"}
            payload["message"] = {
                "type": "message",
                "ts": ts,
                "text": "",
                "blocks": message.blocks if message else [],
            }
            payload["response_url"] = response_url
        return await self.interactive(payload), name

    async def assign_me_click(self, task_uuid: str, *, user: str, message: Call) -> tuple[Reply, str]:
        """A click on a task card's "Assign to me" button."""
        from slack_bot import ids

        action = {
            "action_id": ids.ASSIGN_ME,
            "block_id": f"{ids.CARD_ACTIONS}:{task_uuid}",
            "value": task_uuid,
            "type": "button",
        }
        return await self.block_action(action, user=user, message=message)

    async def view_submission(
        self,
        view: dict[str, Any],
        values: dict[str, Any],
        *,
        user: str = "UALICE",
    ) -> Reply:
        payload = self._base("view_submission", user)
        payload["view"] = {**view, "id": view.get("id", "V999"), "state": {"values": values}}
        payload["response_urls"] = []
        return await self.interactive(payload)

    async def block_suggestion(
        self, action_id: str, value: str, *, view_callback: str = "task_create", user: str = "UALICE"
    ) -> Reply:
        payload = self._base("block_suggestion", user)
        payload.update(
            {
                "action_id": action_id,
                "block_id": action_id,
                "value": value,
                "view": {
                    "id": "V1",
                    "type": "modal",
                    "callback_id": view_callback,
                    "private_metadata": "",
                    "state": {"values": {}},
                },
            }
        )
        return await self.interactive(payload)

    async def message_shortcut(self, text: str, *, user: str = "UALICE", channel: str = CHANNEL) -> Reply:
        _, response_url = self.new_response_url()
        payload = self._base("message_action", user)
        payload.update(
            {
                "callback_id": "create_task_from_message",
                "action_ts": str(time.time()),
                "message_ts": "1700000123.000200",
                "response_url": response_url,
                "channel": {"id": channel, "name": "general"},
                "message": {"type": "message", "user": "USAM", "ts": "1700000123.000200", "text": text},
            }
        )
        return await self.interactive(payload)

    def event_body(self, event: dict[str, Any]) -> bytes:
        body = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:8]}",
            "event_time": int(time.time()),
        }
        return json.dumps(body).encode()

    async def event(self, event: dict[str, Any] | bytes, *, retry_num: int | None = None) -> Reply:
        """An event (or the body of one sent before, to send it again as Slack's retry ``retry_num``)."""
        body = event if isinstance(event, bytes) else self.event_body(event)
        retry = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(body, "application/json", headers=retry if retry_num is not None else None)

    # ------------------------------------------------------------------ reading results

    async def response(self, name: str, *, after: int = 0, timeout: float = 10.0) -> Call:  # noqa: ASYNC109
        return await self.slack.wait_for(
            "response_url", lambda c: c.args.get("_name") == name, after=after, timeout=timeout
        )

    async def task(self, ref: str) -> Any:
        return (await get_tool("get_task").run(self.ctx, {"task": ref})).task  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ UltraCart failing

    def break_ultracart(self, kinds: tuple[str, ...] = ("500",)) -> Callable[[], None]:
        """From now on every UltraCart call the bot makes fails (``kinds`` as the sandbox's
        ``--fault-kinds``, after the client's retries); the test's own look-ups (``ctx``) still work and
        the people cache is kept. Returns what mends it."""
        assert self.db is not None
        working = self.deps.tools
        client = sandbox_client(
            SandboxConfig(db_path=self.db, rate_limit=None, fault_rate=1.0, fault_kinds=kinds)
        )
        self.cleanups.append(client.aclose)
        broken = ToolContext(client, sandbox=True)
        broken.people = working.people
        self.deps.tools = broken

        def mend() -> None:
            self.deps.tools = working

        return mend


MakeBot = Callable[..., Awaitable[Bot]]


class GatedTransport(httpx.AsyncBaseTransport):
    """UltraCart that answers nothing until ``gate`` opens: what the bot does before its first UltraCart
    answer is all it can do. ``asked`` is set when the first request reaches it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, gate: asyncio.Event) -> None:
        self.inner, self.gate, self.asked = inner, gate, asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.set()
        await self.gate.wait()
        return await self.inner.handle_async_request(request)


def sandbox_client(
    config: SandboxConfig, api_key: str = "slack-test-owner", gate: asyncio.Event | None = None
) -> WorkflowClient:
    transport: httpx.AsyncBaseTransport = SandboxTransport(create_app(config))
    return WorkflowClient(
        api_key=api_key,
        base_url=SANDBOX_URL,
        transport=GatedTransport(transport, gate) if gate is not None else transport,
        gate_key=uuid.uuid4().hex,
        budget=BudgetSpec(),
        retry_policy=FAST_RETRIES,
    )


async def start_bot(
    tmp_path: Path,
    cleanups: list[Callable[[], Awaitable[None]]],
    *,
    latency: float = 0.0,
    warm_people: bool = True,
    bot_token: str = BOT_TOKEN,
    signing_secret: str = SIGNING_SECRET,
    api_key: str = "slack-test-owner",
    gate: asyncio.Event | None = None,
    database_url: str | None = None,
    linked: dict[str, int] | None = None,
    allow_guests: bool = False,
    channels: frozenset[str] | None = None,
) -> Bot:
    already_running = asyncio.all_tasks()

    async def end_leftover_work() -> None:
        # Runs last, once the servers and clients are closed: what the app started and is still running
        # (work after ack that no test waited for) is cancelled, and awaited until it has stopped.
        leftover = [
            t
            for t in asyncio.all_tasks() - already_running
            if t is not asyncio.current_task() and not t.done()
        ]
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)

    cleanups.append(end_leftover_work)

    slack = MockSlack(users={k: dataclasses.replace(u) for k, u in SLACK_USERS.items()}, token=bot_token)
    await slack.start()
    cleanups.append(slack.stop)
    db = tmp_path / "sandbox.sqlite3"

    def client_for(config: SandboxConfig) -> WorkflowClient:
        return sandbox_client(config, api_key)

    client = sandbox_client(SandboxConfig(db_path=db, rate_limit=None, latency=latency), api_key, gate)
    ctx = ToolContext(client, sandbox=True)
    if warm_people:
        # As at start-up (the CLI warms the cache): a fast client fills the shared people cache.
        fast = ToolContext(client_for(SandboxConfig(db_path=db, rate_limit=None)), sandbox=True)
        await fast.people.get()
        ctx.people = fast.people
        cleanups.append(fast.client.aclose)
    cleanups.append(client.aclose)
    web_client = slack_web_client(bot_token, slack.api_url)  # the app's own client, retry handlers included
    own_file = sqlite_url(tmp_path / f"slack-{uuid.uuid4().hex[:6]}.sqlite3")
    database = await open_database(database_url or own_file)
    cleanups.insert(0, database.aclose)  # last: after the app's leftover work is cancelled and done
    identities = IdentityStore(database)
    for member, uc_user_id in (LINKED if linked is None else linked).items():
        await identities.set(TEAM, member, uc_user_id, LINK)
    deps = Deps(
        ctx,
        web_client,
        signing_secret,
        identities,
        response_url_prefixes=(slack.root,),
        allow_guests=allow_guests,
        channels=channels,
    )
    app = build_app(deps)
    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    cleanups.append(runner.cleanup)
    port = runner.addresses[0][1]
    http = aiohttp.ClientSession()
    cleanups.append(http.close)

    return Bot(f"http://127.0.0.1:{port}/slack/events", slack, ctx, deps, http, signing_secret, db, cleanups)
