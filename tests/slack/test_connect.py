"""``/task connect`` and ``/task disconnect`` through signed requests against the running bot: a member's own
UltraCart key, verified, stored encrypted, used for their actions, and reported once when it stops working."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from slack_harness import FAST_RETRIES, SANDBOX_URL, Bot, MakeBot
from sqlalchemy import select

from shared_client.client import WorkflowClient
from shared_client.logs import RedactSecrets, registered_secrets
from shared_client.pacing import BudgetSpec
from shared_client.sandbox import SandboxConfig, SandboxTransport, create_app
from shared_client.sandbox.wire import error_body
from shared_client.settings import Settings
from shared_client.tools import get_tool
from slack_bot import grammar
from slack_bot.keys import KEY_STOPPED, KeyVault, MemberKeys
from slack_bot.listeners.connect import CONNECT_MODAL, KEY_ACTION, KEY_BLOCK, REFUSED
from slack_bot.store import connected_keys

# How the sandbox is told which demo user a key is (``shared_client/sandbox/rest.py``: a ``user:EMAIL``
# key acts as the demo user with that e-mail). The one place that knows the form.
ALICE_KEY = "user:alice@demo.example"
ALICE = "Alice Carter"
UNKNOWN_KEY = "user:nobody-at-all@demo.example"  # the sandbox answers 401: no such demo user
MEMBER = "USTRANGER"  # a member the bot cannot match by e-mail: only their key says who they are
SECRET = Fernet.generate_key().decode()


@dataclass
class MemberUltraCart(httpx.AsyncBaseTransport):
    """The sandbox as members' keys reach it (an app of its own on the bot's sandbox database): each request's
    key and path recorded; a key in ``revoked`` is refused with 401, as UltraCart does once it is deleted."""

    inner: httpx.AsyncBaseTransport
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("x-ultracart-simple-key", "")
        self.seen.append((key, request.method, request.url.path))
        if key in self.revoked:
            body = error_body(401, "Invalid credentials")
            return httpx.Response(401, json=body, headers={"UC-REST-ERROR": "Invalid credentials"})
        return await self.inner.handle_async_request(request)

    def by(self, key: str, method: str, path_part: str) -> int:
        return sum(1 for k, m, p in self.seen if k == key and m == method and path_part in p)


@dataclass
class Rig:
    bot: Bot
    ultracart: MemberUltraCart
    members: MemberKeys


async def connect_rig(bot: Bot, secret: str | None) -> Rig:
    assert bot.db is not None
    ultracart = MemberUltraCart(SandboxTransport(create_app(SandboxConfig(db_path=bot.db, rate_limit=None))))

    def client_for(key: str) -> WorkflowClient:
        return WorkflowClient(
            api_key=key,
            base_url=SANDBOX_URL,
            transport=ultracart,
            gate_key=uuid.uuid4().hex,
            budget=BudgetSpec(),
            retry_policy=FAST_RETRIES,
        )

    members = MemberKeys(KeyVault(bot.deps.identities.db, secret), client_for, sandbox=True)
    bot.deps.member_keys = members
    bot.deps.connected_user = members.vault.connected_user
    bot.deps.connected_members = members.vault.connected_members
    bot.cleanups.append(members.aclose)
    return Rig(bot, ultracart, members)


@pytest.fixture
async def rig(make_bot: MakeBot) -> AsyncIterator[Rig]:
    yield await connect_rig(await make_bot(), SECRET)


def typed(key: str) -> dict[str, Any]:
    return {KEY_BLOCK: {KEY_ACTION: {"type": "plain_text_input", "value": key}}}


async def open_form(bot: Bot, user: str = MEMBER) -> dict[str, Any]:
    mark = bot.slack.mark()
    reply, _ = await bot.command("connect", user=user)
    assert reply.status == 200
    view: dict[str, Any] = (await bot.slack.wait_for("views.open", after=mark)).args["view"]
    return view


async def connect(bot: Bot, key: str, user: str = MEMBER) -> dict[str, Any]:
    view = await open_form(bot, user)
    assert view["callback_id"] == CONNECT_MODAL
    field_ = next(b for b in view["blocks"] if b.get("block_id") == KEY_BLOCK)
    assert field_["element"]["type"] == "plain_text_input"
    assert "API Keys" in json.dumps(view)  # where to make one
    reply = await bot.view_submission(view, typed(key), user=user)
    assert reply.status == 200
    answer: dict[str, Any] = reply.json()
    return answer


async def a_task(bot: Bot) -> tuple[int, str]:
    found = await get_tool("search_tasks").run(bot.ctx, {"status": "open", "limit": 1})
    task = found.tasks[0]  # type: ignore[attr-defined]
    return int(task.number), str(task.uuid)


async def test_a_member_connects_their_own_key_and_acts_as_themselves(rig: Rig) -> None:
    bot = rig.bot
    answer = await connect(bot, ALICE_KEY)
    assert answer["response_action"] == "update"
    assert f"Connected as *{ALICE}*" in json.dumps(answer["view"])
    assert ALICE_KEY not in json.dumps(answer)
    assert await bot.deps.connected_user("T1", MEMBER) == 1002  # type: ignore[misc]

    number, task_uuid = await a_task(bot)
    before = rig.ultracart.by(ALICE_KEY, "PUT", f"/workflow/tasks/{task_uuid}")
    _, name = await bot.command(f"note #{number} Called the customer back", user=MEMBER)
    assert "added a note" in (await bot.response(name)).text_of_blocks()
    task = await bot.task(task_uuid)
    note = next(n for n in task.notes if (n.text or "").startswith("Called the customer back"))
    assert note.author == ALICE  # UltraCart's history names the member, not the workspace key's user
    # The write went with Alice's key: her budget and gate (the sandbox counts per credential), not the
    # workspace's.
    assert rig.ultracart.by(ALICE_KEY, "PUT", f"/workflow/tasks/{task_uuid}") == before + 1
    assert rig.members.clients == 1
    # 'me' in a search is UltraCart's 'me' for her key (the bot needs no other identity for her).
    mark = len(rig.ultracart.seen)
    _, name = await bot.command("search assignee:me", user=MEMBER)
    assert "can't tell who" not in (await bot.response(name)).text_of_blocks()
    assert [s[0] for s in rig.ultracart.seen[mark:] if "search" in s[2]] == [ALICE_KEY]


async def test_mine_is_ultracarts_own_answer_for_the_members_key(rig: Rig) -> None:
    # UALICE is known to the bot already (today by e-mail; identity links may decide it later): connecting
    # makes UltraCart's 'me' for her own key what "mine" lists, groups included.
    bot = rig.bot
    assert (await connect(bot, ALICE_KEY, user="UALICE"))["response_action"] == "update"
    mark = len(rig.ultracart.seen)
    _, name = await bot.command("mine", user="UALICE")
    shown = (await bot.response(name)).text_of_blocks()
    searches = [s for s in rig.ultracart.seen[mark:] if s[0] == ALICE_KEY and "search" in s[2]]
    assert len(searches) == 1, rig.ultracart.seen[mark:]  # one search, 'me': no per-group searches
    assert "/task join" not in shown  # no note that groups are missing: UltraCart included them


async def test_a_member_known_only_by_their_key_is_who_the_key_says(rig: Rig) -> None:
    # USTRANGER has no link and no e-mail match: before connecting "mine" asks who they are; after,
    # their key's 'me' (Alice) is who they are, for "mine" and for a DM about a task assigned to Alice.
    bot = rig.bot
    _, before = await bot.command("mine", user=MEMBER)
    assert "connect" in (await bot.response(before)).text_of_blocks().lower()
    assert (await connect(bot, ALICE_KEY))["response_action"] == "update"
    assert await bot.deps.connected_members("T1") == {MEMBER: 1002}
    mark = len(rig.ultracart.seen)
    _, name = await bot.command("mine", user=MEMBER)
    await bot.response(name)
    assert any(s[0] == ALICE_KEY and "search" in s[2] for s in rig.ultracart.seen[mark:])


async def test_a_refused_key_is_an_inline_error_and_nothing_is_stored(rig: Rig) -> None:
    answer = await connect(rig.bot, UNKNOWN_KEY)
    assert answer == {"response_action": "errors", "errors": {KEY_BLOCK: REFUSED}}
    assert await rig.members.vault.get("T1", MEMBER) is None
    async with rig.bot.deps.identities.db.connect() as connection:
        assert (await connection.execute(select(connected_keys))).first() is None


async def test_without_the_secret_key_connecting_is_refused(make_bot: MakeBot) -> None:
    rig = await connect_rig(await make_bot(), None)
    bot = rig.bot
    reply, name = await bot.command("connect", user=MEMBER)
    assert reply.status == 200
    said = (await bot.response(name)).text_of_blocks()
    assert "UC_WORKFLOW_SECRET_KEY" in said and "Fernet" in said
    assert bot.slack.of("views.open") == []
    # A submission of a form opened before is refused too, and nothing is stored.
    view = {"type": "modal", "callback_id": CONNECT_MODAL, "blocks": []}
    answer = (await bot.view_submission(view, typed(ALICE_KEY), user=MEMBER)).json()
    assert answer["response_action"] == "errors" and "UC_WORKFLOW_SECRET_KEY" in answer["errors"][KEY_BLOCK]
    assert rig.ultracart.seen == []


async def test_disconnect_forgets_the_key(rig: Rig) -> None:
    bot = rig.bot
    assert (await connect(bot, ALICE_KEY))["response_action"] == "update"
    _, name = await bot.command("disconnect", user=MEMBER)
    assert "Forgot your UltraCart key" in (await bot.response(name)).text_of_blocks()
    assert await rig.members.vault.get("T1", MEMBER) is None
    assert rig.members.clients == 0
    number, task_uuid = await a_task(bot)
    before = len(rig.ultracart.seen)
    _, name = await bot.command(f"note #{number} after disconnecting", user=MEMBER)
    await bot.response(name)
    assert len(rig.ultracart.seen) == before  # the workspace's key again
    note = next(n for n in (await bot.task(task_uuid)).notes if (n.text or "").startswith("after disc"))
    assert note.author != ALICE
    _, name = await bot.command("disconnect", user=MEMBER)
    assert "no UltraCart key connected" in (await bot.response(name)).text_of_blocks()


async def test_a_key_that_stops_working_is_reported_once_and_the_workspace_key_takes_over(rig: Rig) -> None:
    bot, user = rig.bot, "UALICE"
    assert (await connect(bot, ALICE_KEY, user=user))["response_action"] == "update"
    rig.ultracart.revoked.add(ALICE_KEY)  # deleted in UltraCart: 401 from now on
    mark = bot.slack.mark()
    # "mine" does not fall back to the workspace key's 'me': it says to connect again.
    _, name = await bot.command("mine", user=user)
    assert "`/task connect` again" in (await bot.response(name)).text_of_blocks()
    member = await rig.members.vault.get("T1", user)
    assert member is not None and member.failed_at is not None
    assert await bot.deps.connected_user("T1", user) is None  # type: ignore[misc]
    assert rig.members.clients == 0  # its client is closed
    # Searching and changing go through the workspace's key.
    number, task_uuid = await a_task(bot)
    seen = len(rig.ultracart.seen)
    for text in ("first after revoking", "second after revoking"):
        _, name = await bot.command(f"note #{number} {text}", user=user)
        assert "added a note" in (await bot.response(name)).text_of_blocks()
    assert len(rig.ultracart.seen) == seen
    notes = [n for n in (await bot.task(task_uuid)).notes if "after revoking" in (n.text or "")]
    assert len(notes) == 2 and all(n.author != ALICE for n in notes)
    # One DM to its owner, not one per call.
    dms = [
        c for c in bot.slack.calls[mark:] if c.method == "chat.postMessage" and c.args.get("channel") == user
    ]
    assert [c.args["text"] for c in dms] == [KEY_STOPPED]
    # Connecting again with a working key clears the failure.
    rig.ultracart.revoked.clear()
    assert (await connect(bot, ALICE_KEY, user=user))["response_action"] == "update"
    assert await bot.deps.connected_user("T1", user) == 1002  # type: ignore[misc]


async def test_a_change_whose_key_fails_runs_with_the_workspace_key_and_tells_once(rig: Rig) -> None:
    bot = rig.bot
    assert (await connect(bot, ALICE_KEY))["response_action"] == "update"
    rig.ultracart.revoked.add(ALICE_KEY)
    number, task_uuid = await a_task(bot)
    mark = bot.slack.mark()
    _, name = await bot.command(f"note #{number} refused then retried", user=MEMBER)
    assert "added a note" in (await bot.response(name)).text_of_blocks()  # UltraCart did nothing the 1st time
    notes = [n for n in (await bot.task(task_uuid)).notes if (n.text or "").startswith("refused then")]
    assert len(notes) == 1 and notes[0].author != ALICE
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == MEMBER, after=mark)
    assert dm.args["text"] == KEY_STOPPED


async def test_the_key_is_unreadable_without_the_secret_key_and_redacted_from_logs(rig: Rig) -> None:
    assert (await connect(rig.bot, ALICE_KEY))["response_action"] == "update"
    async with rig.bot.deps.identities.db.connect() as connection:
        row = (await connection.execute(select(connected_keys))).one()
    raw = json.dumps([str(v) for v in row]).encode() + bytes(row.key_token)
    assert ALICE_KEY.encode() not in raw and b"alice@demo" not in raw
    with pytest.raises(InvalidToken):
        Fernet(Fernet.generate_key()).decrypt(bytes(row.key_token))
    other = KeyVault(rig.bot.deps.identities.db, Fernet.generate_key().decode())
    assert await other.get("T1", MEMBER) is None  # another UC_WORKFLOW_SECRET_KEY reads nothing
    # The bot's log filter (set up before the key was known) redacts it from then on.
    assert ALICE_KEY in registered_secrets()
    assert "[redacted]" in RedactSecrets([]).redact(f"key={ALICE_KEY}")


def test_connect_takes_no_key_on_the_command_line() -> None:
    parsed = grammar.parse("connect abc123secret")
    assert isinstance(parsed, grammar.UsageError) and "form" in parsed.message
    assert grammar.parse("connect") == grammar.ConnectKey(True)
    assert grammar.parse("disconnect") == grammar.ConnectKey(False)


def test_the_secret_key_setting_must_be_a_fernet_key() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, uc_workflow_secret_key="not-a-fernet-key")  # type: ignore[call-arg]
    assert "Fernet.generate_key()" in str(caught.value) and "not-a-fernet-key" not in str(caught.value)
    settings = Settings(_env_file=None, uc_workflow_secret_key=SECRET)  # type: ignore[call-arg]
    assert SECRET in settings.secrets()


CANARY_KEY = "CANARY-SLACK-MEMBER-KEY-0123456789"  # the sandbox takes any other key as its owner's


async def test_the_connected_key_is_in_no_slack_message_answer_or_log_line(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(0)
    for name in ["slack_bot", "slack_bolt", "slack_sdk", "shared_client", "httpx", "httpcore", "aiohttp"]:
        caplog.set_level(0, logger=name)
    bot = rig.bot
    answers = [await connect(bot, CANARY_KEY)]
    number, _ = await a_task(bot)
    for text in (f"note #{number} canary note", "mine", f"show #{number}", "connect"):
        _, name = await bot.command(text, user=MEMBER)
        if text != "connect":
            await bot.response(name)
    rig.ultracart.revoked.add(CANARY_KEY)
    _, name = await bot.command(f"note #{number} after the key failed", user=MEMBER)
    await bot.response(name)
    await bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == MEMBER)
    _, name = await bot.command("disconnect", user=MEMBER)
    await bot.response(name)
    seen = [json.dumps(answers), *(json.dumps(c.args, default=str) for c in bot.slack.calls)]
    seen += [r.getMessage() + repr(r.args) + (r.exc_text or "") for r in caplog.records]
    assert caplog.records, "nothing was logged: the capture is not working"
    leaks = [text[:300] for text in seen if CANARY_KEY.lower() in text.lower()]
    assert leaks == []
