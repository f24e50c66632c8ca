"""Settings from the environment (and a ``.env`` file). Names are binding: see CONTRACT.md."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared_client import constants


class ConfigurationError(Exception):
    """A setting that cannot work (a database that cannot be opened, ...): one line for the user."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    ultracart_api_key: SecretStr | None = None
    ultracart_oauth_token: SecretStr | None = None
    ultracart_base_url: str = constants.DEFAULT_BASE_URL
    uc_workflow_sandbox: bool = False
    uc_workflow_sandbox_db: Path | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    uc_workflow_mcp_token: SecretStr | None = None

    @field_validator(
        "ultracart_api_key",
        "ultracart_oauth_token",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "uc_workflow_mcp_token",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ultracart_base_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError(f"use an http(s) URL such as {constants.DEFAULT_BASE_URL}")
        return value

    @property
    def has_ultracart_credentials(self) -> bool:
        return self.ultracart_api_key is not None or self.ultracart_oauth_token is not None

    def uses_sandbox(self, force: bool = False) -> bool:
        return force or self.uc_workflow_sandbox or not self.has_ultracart_credentials

    def secrets(self) -> list[str]:
        """Every secret value, for redaction."""
        values = [
            self.ultracart_api_key,
            self.ultracart_oauth_token,
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.uc_workflow_mcp_token,
        ]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
