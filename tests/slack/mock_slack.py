"""A local mock of Slack's Web API (and of response_url webhooks) on 127.0.0.1, recording every call.

Tests wait on calls with :meth:`MockSlack.wait_for`: an asyncio condition with a timeout, no sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

BOT_TOKEN = "xoxb-test-token-not-real"
MANIFEST = Path(__file__).resolve().parents[2] / "slack_bot" / "manifest.yaml"

# The bot scopes each Web API method needs (docs.slack.dev/reference/methods); methods not listed need
# none. The mock grants only the manifest's scopes, so the suite fails when the manifest lacks one.
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    # A notification that may have reached Slack is looked for before it is posted again: in a channel's
    # history (or a card's thread). A public channel's; private channels and the app's DMs need the
    # scopes in HISTORY_SCOPES.
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
}
# Reading a conversation takes the scope of its kind: public (C), private (G), the app's DMs (D).
HISTORY_SCOPES = {"C": "channels:history", "G": "groups:history", "D": "im:history"}
SCOPE_FREE = {
    "auth.test",
    "apps.connections.open",  # takes the app-level token (its connections:write), not a bot scope
    "views.open",
    "views.push",
    "views.update",
    "views.publish",
    "chat.getPermalink",
}


def signed_form(fields: dict[str, str], secret: str) -> tuple[bytes, dict[str, str]]:
    """A form body (a slash command, or ``payload=`` of an interaction) and the headers Slack signs it
    with: ``X-Slack-Signature`` is HMAC-SHA256 of ``v0:{timestamp}:{body}`` under the signing secret."""
    body = urllib.parse.urlencode(fields).encode()
    timestamp = int(time.time())
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }


def manifest_scopes() -> set[str]:
    manifest = yaml.safe_load(MANIFEST.read_text())
    return set(manifest["oauth_config"]["scopes"]["bot"])


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    index: int

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.args.get("blocks")
        if blocks is None and isinstance(self.args.get("view"), dict):
            blocks = self.args["view"].get("blocks")
        return list(blocks or [])

    def text_of_blocks(self) -> str:
        return json.dumps(self.blocks, ensure_ascii=False)


@dataclass
class SlackUser:
    id: str
    name: str
    email: str | None
    tz: str = "UTC"  # users.info's tz and tz_offset (seconds east of UTC)
    tz_offset: int = 0
    is_admin: bool = False  # users.info's is_admin (a workspace admin)
    is_owner: bool = False
    is_restricted: bool = False  # a guest (multi-channel); is_ultra_restricted: single-channel
    is_ultra_restricted: bool = False
    is_stranger: bool = False  # from another organization (Slack Connect), seen in a shared channel
    is_email_confirmed: bool = True

    def info(self, with_email: bool) -> dict[str, Any]:
        """The user object of users.info and users.list."""
        profile: dict[str, Any] = {"real_name": self.name, "display_name": self.name}
        if self.email and with_email:
            profile["email"] = self.email
        found: dict[str, Any] = {
            "id": self.id,
            "name": self.name.lower(),
            "real_name": self.name,
            "tz": self.tz,
            "tz_offset": self.tz_offset,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "is_bot": False,
            "deleted": False,
            "is_email_confirmed": self.is_email_confirmed,
            "profile": profile,
        }
        if self.is_stranger:
            found["is_stranger"] = True
        return found


@dataclass
class MockSlack:
    users: dict[str, SlackUser] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    rate_limit: dict[str, int] = field(default_factory=dict)  # method → how many 429s to answer first
    fail: dict[str, str] = field(default_factory=dict)  # method → Slack error code to answer
    # method → how many calls take effect and then lose their answer (the connection drops before it)
    drop: dict[str, int] = field(default_factory=dict)
    root: str = ""
    token: str = BOT_TOKEN
    scopes: set[str] = field(default_factory=manifest_scopes)
    # What was posted, per channel (a member's id is their DM "D…"), oldest first: for the history.
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ server

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.root}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.root}/response/{name}"

    # ------------------------------------------------------------------ recording

    async def _record(self, method: str, args: dict[str, Any]) -> Call:
        async with self._cond:
            call = Call(method, args, len(self.calls))
            self.calls.append(call)
            self._cond.notify_all()
        return call

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str,
        where: Callable[[Call], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 10.0,  # noqa: ASYNC109 - a test helper's deadline
    ) -> Call:
        """The first call to ``method`` (recorded at index >= ``after``) that satisfies ``where``."""

        def find() -> Call | None:
            for call in self.calls[after:]:
                if call.method == method and (where is None or where(call)):
                    return call
            return None

        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: find() is not None), timeout)
            except TimeoutError:
                seen = [c.method for c in self.calls[after:]]
                raise AssertionError(f"no {method} call within {timeout}s; calls since: {seen}") from None
            found = find()
            assert found is not None
            return found

    def mark(self) -> int:
        return len(self.calls)

    @staticmethod
    def dm_channel(channel: str) -> str:
        """A user id as a channel is the app's DM with them (as conversations.open answers)."""
        return "D" + channel[1:] if channel.startswith(("U", "W")) else channel

    def posted(self, channel: str, *, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """The channel's top-level messages (or one thread's replies), oldest first."""
        found = self.messages.get(self.dm_channel(channel), [])
        if thread_ts is None:
            return [m for m in found if m.get("thread_ts") in {None, m["ts"]}]
        return [m for m in found if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def _history(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """conversations.history (top-level messages, newest first) and conversations.replies (the parent,
        then its replies), after ``oldest``, one page of ``limit``; metadata only with
        ``include_all_metadata``."""
        channel = str(args.get("channel") or "")
        if channel not in self.messages and not channel.startswith(("C", "G", "D")):
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(args.get("oldest") or 0)
        if method == "conversations.history":
            found = list(reversed(self.posted(channel)))
        else:
            parent = str(args.get("ts") or "")
            top = [m for m in self.posted(channel) if m["ts"] == parent]
            if not top:
                return {"ok": False, "error": "thread_not_found"}
            found = top + self.posted(channel, thread_ts=parent)
        found = [m for m in found if float(m["ts"]) > oldest]
        start = int(str(args.get("cursor") or "0") or "0")
        limit = int(args.get("limit") or 100)
        page = found[start : start + limit]
        metadata = str(args.get("include_all_metadata", "")).lower() in {"1", "true"}
        shown = [m if metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = str(start + limit) if start + limit < len(found) else ""
        return {
            "ok": True,
            "messages": shown,
            "has_more": bool(more),
            "response_metadata": {"next_cursor": more},
        }

    # ------------------------------------------------------------------ handlers

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        for key in ("blocks", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await request.json()
        args["_name"] = request.match_info["name"]
        await self._record("response_url", args)
        if self.rate_limit.get("response_url", 0) > 0:
            self.rate_limit["response_url"] -= 1
            return web.Response(status=429, headers={"Retry-After": "0"}, text="rate_limited")
        if "response_url" in self.fail:  # e.g. "expired_url": 30 minutes or 5 answers are over
            return web.Response(status=404, text=self.fail["response_url"])
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        await self._record(method, args)
        needed = METHOD_SCOPES.get(method)
        if method in {"conversations.history", "conversations.replies"}:
            needed = HISTORY_SCOPES.get(str(args.get("channel") or "")[:1], needed)
        if needed is not None and needed not in self.scopes:
            return web.json_response({"ok": False, "error": "missing_scope", "needed": needed})
        if self.rate_limit.get(method, 0) > 0:
            self.rate_limit[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"}
            )
        if method in self.fail:
            return web.json_response({"ok": False, "error": self.fail[method]})
        answer = self._answer(method, args)
        if self.drop.get(method, 0) > 0 and request.transport is not None:
            self.drop[method] -= 1
            request.transport.abort()  # done, but the caller never hears so
            raise asyncio.CancelledError
        return web.json_response(answer)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "taskbot",
                "team_id": "T1",
                "user_id": "UBOT",
                "bot_id": "BBOT",
            }
        if method == "chat.postMessage":
            channel = self.dm_channel(str(args.get("channel") or ""))
            ts = f"{int(time.time())}.{n:06d}"  # as Slack's: the time it was posted
            message: dict[str, Any] = {"type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": ts}
            message.update({k: args[k] for k in ("text", "blocks", "thread_ts", "metadata") if args.get(k)})
            self.messages.setdefault(channel, []).append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            for message in self.messages.get(self.dm_channel(str(args.get("channel") or "")), []):
                if message["ts"] == args.get("ts"):
                    message.update({k: args[k] for k in ("text", "blocks") if k in args})
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method in {"conversations.history", "conversations.replies"}:
            return self._history(method, args)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000000.{n:06d}"}
        if method in {"views.open", "views.push", "views.update", "views.publish"}:
            view_id = args.get("view_id") or f"V{n:05d}"
            return {"ok": True, "view": {"id": view_id, "hash": f"h{n}", **(args.get("view") or {})}}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user.info("users:read.email" in self.scopes)}
        if method == "users.list":  # one page per `limit` members, as Slack pages
            members = [u.info("users:read.email" in self.scopes) for u in self.users.values()]
            limit = int(args.get("limit") or 200)
            start = int(str(args.get("cursor") or "0") or "0")
            page = members[start : start + limit]
            more = str(start + limit) if start + limit < len(members) else ""
            return {"ok": True, "members": page, "response_metadata": {"next_cursor": more}}
        if method == "users.lookupByEmail":
            email = str(args.get("email", "")).lower()
            for user in self.users.values():
                if (user.email or "").lower() == email:
                    return {"ok": True, "user": user.info(True)}
            return {"ok": False, "error": "users_not_found"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "")).lstrip("U")}}
        if method == "chat.getPermalink":
            ts = str(args.get("message_ts", "")).replace(".", "")
            return {"ok": True, "permalink": f"https://test.slack.com/archives/{args.get('channel')}/p{ts}"}
        return {"ok": False, "error": "unknown_method"}
