"""The notifications' tables in the deployment's database (:mod:`shared_client.database`), imported by
:mod:`slack_bot.store` so that they are created at start.

- ``notify_cursor``: per change feed (credential fingerprint), the last feed change the notifier planned.
- ``notify_outbox``: every notification, once (``identity`` is unique), with its state:
  ``pending`` → ``sending`` (claimed by one replica) → ``sent`` | ``failed``.
- ``notify_channels``: a per-Slack-channel lease (one replica posts to a channel at a time, in order) and
  the earliest time the next post may go out there (Slack's ~1 message a second per channel).
- ``notify_cards``: the card a subscribed channel has for a task (its ts): later events reply in its thread.
- ``notify_subscriptions``: ``/task subscribe`` (the filters resolved to ids when subscribing).
- ``notify_slack_writes``: which Slack member made which version of a task from Slack (nobody is told about
  their own change).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from shared_client.database import ID, metadata

__all__ = [
    "notify_cards",
    "notify_channels",
    "notify_cursor",
    "notify_outbox",
    "notify_slack_writes",
    "notify_subscriptions",
]

FP = 64  # a credential fingerprint
UUID = 64
IDENTITY = 255

notify_cursor = Table(
    "notify_cursor",
    metadata,
    Column("fingerprint", String(FP), primary_key=True),
    Column("last_id", BigInteger, nullable=False),  # feed_changes.id
    Column("updated_at", Float, nullable=False),
)

notify_outbox = Table(
    "notify_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(IDENTITY), nullable=False, unique=True),
    Column("team_id", String(ID), nullable=False),
    Column("channel", String(ID), nullable=False),  # a channel id, or a member's id for a DM
    Column("kind", String(8), nullable=False),  # "dm" or "channel"
    Column("task_uuid", String(UUID), nullable=False),
    Column("fingerprint", String(FP), nullable=False),
    Column("payload", Text, nullable=False),  # JSON: intro, lines, the task as planned
    Column("state", String(8), nullable=False),  # pending, sending, sent, failed
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", Float, nullable=False),  # Unix time
    Column("claimed_by", String(ID), nullable=True),
    Column("claimed_at", Float, nullable=True),
    Column("mode", String(8), nullable=True),  # as claimed: "post" (top level) or "reply" (in a thread)
    Column("thread_ts", String(32), nullable=True),  # the card it replies to (mode "reply")
    Column("ts", String(32), nullable=True),  # the message Slack made
    Column("error", String(200), nullable=True),
    Column("created_at", Float, nullable=False),
    Index("notify_outbox_work", "state", "channel", "id"),
)

notify_channels = Table(
    "notify_channels",
    metadata,
    Column("channel", String(ID), primary_key=True),
    Column("holder", String(ID), nullable=True),
    Column("lease_until", Float, nullable=False),
    Column("next_at", Float, nullable=False),  # pacing: no post before this (Unix time)
)

notify_cards = Table(
    "notify_cards",
    metadata,
    Column("channel", String(ID), primary_key=True),
    Column("task_uuid", String(UUID), primary_key=True),
    Column("ts", String(32), nullable=False),
    Column("posted_at", Float, nullable=False),
)

notify_subscriptions = Table(
    "notify_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", String(ID), nullable=False),
    Column("channel", String(ID), nullable=False),
    Column("created_by", String(ID), nullable=False),
    Column("filters_text", String(2000), nullable=False),  # as typed, for /task subscriptions
    Column("filters", Text, nullable=False),  # JSON: the resolved filters (see subscriptions.Filters)
    Column("events", String(200), nullable=False),  # comma-separated subscription event names
    Column("created_at", Float, nullable=False),
    Index("notify_subscriptions_channel", "team_id", "channel"),
)

notify_slack_writes = Table(
    "notify_slack_writes",
    metadata,
    Column("task_uuid", String(UUID), primary_key=True),
    Column("version", BigInteger, primary_key=True),  # the task's last_update_dts, Unix seconds
    Column("slack_user_id", String(ID), primary_key=True),
    Column("written_at", Float, nullable=False),
)
