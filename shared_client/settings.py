"""Settings from the environment (and a ``.env`` file). Names are binding: see CONTRACT.md.

Every environment variable the product reads is a field of ``Settings``; nothing else reads ``os.environ``.
The commands read them at start (``shared_client.commandline.load_settings``) and pass them down; code
below the commands that is handed no ``Settings`` (the machine lock's directory, a ``SandboxConfig``
without a database path) asks ``current_settings()``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared_client import constants

APP_NAME = "uc-workflow"  # the user data and cache directories' name
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


MAKE_FERNET_KEY = (
    "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def is_fernet_key(value: str) -> bool:
    """Whether ``value`` is a Fernet key (as ``Fernet.generate_key()`` prints): 32 bytes, URL-safe base64."""
    import base64
    import binascii

    try:
        return len(base64.urlsafe_b64decode(value.strip().encode("ascii"))) == 32
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


class ConfigurationError(Exception):
    """A setting that cannot work (a database that cannot be opened, ...): one line for the user."""


def _user_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME))


class Settings(BaseSettings):
    # hide_input_in_errors: pydantic quotes a refused value (a Redis URL and its password, a token) in
    # its ValidationError's text, secret fields included, as the raw string it was given.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    ultracart_api_key: SecretStr | None = None
    ultracart_oauth_token: SecretStr | None = None
    ultracart_base_url: str = constants.DEFAULT_BASE_URL
    uc_workflow_sandbox: bool = False
    uc_workflow_sandbox_db: Path | None = None
    uc_workflow_state_dir: Path | None = None
    uc_workflow_redis_url: SecretStr | None = None  # may hold a password
    uc_workflow_database_url: SecretStr | None = None  # may hold a password
    uc_workflow_call_deadline: float = 60.0
    uc_workflow_poll_seconds: float = 60.0  # the change feed's interval
    uc_workflow_secret_key: SecretStr | None = None  # a Fernet key: members' own UltraCart keys at rest

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    uc_workflow_slack_allow_guests: bool = False  # guest accounts may use the bot
    uc_workflow_slack_channels: str | None = None  # comma-separated channel ids where /task may be used

    uc_workflow_mcp_token: SecretStr | None = None

    @field_validator(
        "ultracart_api_key",
        "ultracart_oauth_token",
        "uc_workflow_sandbox_db",
        "uc_workflow_state_dir",
        "uc_workflow_redis_url",
        "uc_workflow_database_url",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "uc_workflow_mcp_token",
        "uc_workflow_secret_key",
        "uc_workflow_slack_channels",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ultracart_api_key", "ultracart_oauth_token")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        # Sent as an HTTP header, which httpx encodes as ASCII: say so here, not in a UnicodeEncodeError.
        text = value.get_secret_value() if value is not None else ""
        if not (text.isascii() and text.isprintable()):
            raise ValueError("use printable ASCII only: it is sent as an HTTP header")
        return value

    @field_validator("uc_workflow_secret_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked at start, not at the first /task connect. A Fernet key is 32 bytes, URL-safe base64.
        if value is not None and not is_fernet_key(value.get_secret_value()):
            raise ValueError(f"use a Fernet key; {MAKE_FERNET_KEY}")
        return value

    @field_validator("uc_workflow_poll_seconds")
    @classmethod
    def _poll_seconds(cls, value: float) -> float:
        if not 1.0 <= value <= 86400.0:
            raise ValueError("use a number of seconds from 1 to 86400 (default 60)")
        return value

    @field_validator("ultracart_base_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError(f"use an http(s) URL such as {constants.DEFAULT_BASE_URL}")
        return value

    @field_validator("uc_workflow_slack_channels")
    @classmethod
    def _channel_ids(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for part in value.split(","):
            if part.strip() and not re.fullmatch(r"[CGD][A-Z0-9]{2,40}", part.strip()):
                raise ValueError(
                    "use comma-separated Slack channel ids such as C0123ABCD,C0456EFGH (a channel's id is "
                    "at the bottom of its details in Slack), not channel names"
                )
        return value

    @property
    def slack_channels(self) -> frozenset[str] | None:
        """``UC_WORKFLOW_SLACK_CHANNELS`` as a set of channel ids (None: every channel)."""
        if self.uc_workflow_slack_channels is None:
            return None
        ids = frozenset(p.strip() for p in self.uc_workflow_slack_channels.split(",") if p.strip())
        return ids or None

    @field_validator("uc_workflow_redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here, at start, not at the first write (redis-py's own error quotes the URL).
        if value is None:
            return value
        example = "use a redis://, rediss:// or unix:// URL such as redis://127.0.0.1:6379/0"
        try:
            parts = urlsplit(value.get_secret_value())
            parts.port  # noqa: B018 - raises for a port that is not a number (redis-py would, later)
        except ValueError:
            raise ValueError(f"{example} (its host or port could not be read)") from None
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(example)
        return value

    @property
    def has_ultracart_credentials(self) -> bool:
        return self.ultracart_api_key is not None or self.ultracart_oauth_token is not None

    def uses_sandbox(self, force: bool = False) -> bool:
        return force or self.uc_workflow_sandbox or not self.has_ultracart_credentials

    @property
    def sandbox_db_path(self) -> Path:
        """``UC_WORKFLOW_SANDBOX_DB``, else ``sandbox.sqlite3`` in the user's data directory."""
        if self.uc_workflow_sandbox_db is not None:
            return self.uc_workflow_sandbox_db.expanduser()
        return _user_data_dir() / "sandbox.sqlite3"

    @property
    def database_url(self) -> str:
        """``UC_WORKFLOW_DATABASE_URL`` (the Slack bot's state; an SQLAlchemy URL, may hold a password),
        else the SQLite file ``slack.sqlite3`` next to the sandbox's database (the user's data directory)."""
        if self.uc_workflow_database_url is not None:
            return self.uc_workflow_database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.sandbox_db_path.parent / 'slack.sqlite3').absolute()}"

    @property
    def state_dir(self) -> Path:
        """``UC_WORKFLOW_STATE_DIR``, else ``state`` in the user's data directory: what every process of
        this machine that uses it shares (the in-flight gate, the budget, the write locks)."""
        if self.uc_workflow_state_dir is not None:
            return self.uc_workflow_state_dir.expanduser()
        return _user_data_dir() / "state"

    @property
    def lock_dir(self) -> Path:
        """The per-task write locks of this machine: ``locks`` in the state directory."""
        return self.state_dir / "locks"

    @property
    def redis_url(self) -> str | None:
        """``UC_WORKFLOW_REDIS_URL``: the gate, budget, locks and shared caches live there when set."""
        return self.uc_workflow_redis_url.get_secret_value() if self.uc_workflow_redis_url else None

    def secrets(self) -> list[str]:
        """Every secret value, for redaction."""
        values = [
            self.ultracart_api_key,
            self.ultracart_oauth_token,
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.uc_workflow_mcp_token,
            self.uc_workflow_secret_key,
        ]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        from shared_client.redis_support import url_passwords

        for url in (self.uc_workflow_redis_url, self.uc_workflow_database_url):
            if url is not None:  # the URL itself is fine to show without its passwords
                found += url_passwords(url.get_secret_value())
        return found


@functools.cache
def current_settings() -> Settings:
    """This process's settings, read on first use and kept: the environment does not change under a
    running process. May raise pydantic's ValidationError, which the commands report at start."""
    return Settings()


def configured_secrets() -> tuple[str, ...]:
    """This process's secret values, for code handed no ``Settings`` (the client's redaction, the refusal
    to attach a file that holds one). None when the settings are invalid: the commands refuse to start
    then, so only library use without a valid environment gets here."""
    from pydantic import ValidationError

    try:
        return tuple(current_settings().secrets())
    except ValidationError:
        return ()
