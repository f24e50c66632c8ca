"""The Slack bot's tables in the deployment's database (:mod:`shared_client.database`, which keeps the engine,
``UC_WORKFLOW_DATABASE_URL``): a feature that keeps state adds its ``Table`` here (or in a module of its own,
on the same :data:`metadata`) and its queries in a module of its own (:mod:`slack_bot.identity`,
:mod:`slack_bot.event_log`) that is handed the process's :class:`Database`."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, LargeBinary, String, Table

import shared_client.feed.store  # noqa: F401  (the change feed's tables, created with the bot's)
from shared_client.database import (
    ID,
    SETTING,
    Database,
    DatabaseUnavailable,
    metadata,
    open_database,
    shown_url,
    sqlite_url,
)
from slack_bot.digest.store import digest_settings  # each member's daily digest: created at start too

__all__ = [
    "SETTING",
    "Database",
    "DatabaseUnavailable",
    "connected_keys",
    "digest_settings",
    "group_memberships",
    "identities",
    "identity_requests",
    "metadata",
    "open_database",
    "shown_url",
    "slack_events",
    "sqlite_url",
]

# Who a Slack user is in UltraCart (:mod:`slack_bot.identity`). Same names and columns as the first
# release's SQLite file, so an existing ``slack.sqlite3`` is opened as it is.
identities = Table(
    "identities",
    metadata,
    Column("team_id", String(ID), primary_key=True),
    Column("slack_user_id", String(ID), primary_key=True),
    Column("uc_user_id", BigInteger, nullable=False),
    # identity.LINK or identity.IAM (trusted); identity.OVERRIDE (the first release's unverified
    # `/task iam`, no longer trusted) or identity.EMAIL (the first release's e-mail matches, unused)
    Column("source", String(16), nullable=False),
    Column("updated_at", Float, nullable=False),  # Unix time
    Index("identities_uc", "uc_user_id"),
)

# The UltraCart groups a Slack user says they belong to (:mod:`slack_bot.identity`).
group_memberships = Table(
    "group_memberships",
    metadata,
    Column("team_id", String(ID), primary_key=True),
    Column("slack_user_id", String(ID), primary_key=True),
    Column("group_id", BigInteger, primary_key=True),
)

# Members' own UltraCart simple keys (:mod:`slack_bot.keys`): Fernet tokens under UC_WORKFLOW_SECRET_KEY,
# never the key itself; who UltraCart said the key is (GET /workflow/me); when it was verified or failed.
connected_keys = Table(
    "connected_keys",
    metadata,
    Column("team_id", String(ID), primary_key=True),
    Column("slack_user_id", String(ID), primary_key=True),
    Column("key_token", LargeBinary, nullable=False),  # Fernet(UC_WORKFLOW_SECRET_KEY).encrypt(key)
    Column("uc_user_id", BigInteger, nullable=False),
    Column("uc_user_name", String(512), nullable=False),
    Column("verified_at", Float, nullable=False),  # Unix time
    Column("failed_at", Float, nullable=True),  # Unix time UltraCart first refused it; None: working
    Index("connected_keys_uc", "uc_user_id"),
)

# `/task iam USER` requests waiting for an admin (:mod:`slack_bot.identity`): one per member, the latest.
identity_requests = Table(
    "identity_requests",
    metadata,
    Column("team_id", String(ID), primary_key=True),
    Column("slack_user_id", String(ID), primary_key=True),
    Column("uc_user_id", BigInteger, nullable=False),
    Column("requested_at", Float, nullable=False),  # Unix time
)

# Events API deliveries claimed by a replica (:mod:`slack_bot.event_log`): one row per ``event_id``.
slack_events = Table(
    "slack_events",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("team_id", String(ID), nullable=False),
    Column("claimed_at", Float, nullable=False),  # Unix time of the claim (or of its take-over)
    Column("handled", Boolean, nullable=False),  # its listener has finished
    Index("slack_events_claimed", "claimed_at"),
)

# The notifications' tables (DMs, subscriptions, the outbox) live with their queries in slack_bot.notify;
# imported here so that they are on ``metadata`` when the tables are created at start.
from slack_bot.notify import tables as _notify_tables  # noqa: E402, F401
