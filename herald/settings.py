"""Process settings: one typed object, read once at start-up.

Values come from (lowest to highest precedence) defaults, ``HERALD_*``
environment variables, and command-line flags. Modules never read the
environment themselves; they receive what they need from this object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from herald.core.refs import SecretStore


class Settings(BaseSettings):
    """Everything a Herald process is configured with outside its manifests."""

    model_config = SettingsConfigDict(
        env_prefix="HERALD_", extra="forbid", frozen=True, validate_default=True
    )

    state_dir: Path = Field(
        default=Path(".herald"), description="Where the embedded bus and local state live."
    )
    bus_url: str | None = Field(
        default=None,
        description="Bus URL (memory://, sqlite:///path); default sqlite under state_dir.",
    )
    secrets_dir: Path = Field(
        default=Path("secrets"), description="Secrets as <dir>/<name>/<key> files."
    )
    configmaps_dir: Path = Field(
        default=Path("configmaps"), description="ConfigMaps as <dir>/<name>/<key> files."
    )
    http_host: str = Field(
        default="0.0.0.0",  # webhooks must be reachable from outside
        description="Address the HTTP sources listen on.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info")
    log_format: Literal["text", "json"] = Field(default="text")
    shutdown_grace: float = Field(
        default=10.0, gt=0, description="Seconds to drain in-flight work on shutdown."
    )
    slack_api_url: str = Field(
        default="https://slack.com/api", description="Base URL of the Slack Web API."
    )

    def effective_bus_url(self) -> str:
        """The bus URL to use: the explicit one, else sqlite in the state directory."""
        if self.bus_url:
            return self.bus_url
        return f"sqlite:///{self.state_dir / 'bus.db'}"

    def secret_store(self) -> SecretStore:
        """The resolver for secret and ConfigMap refs."""
        return SecretStore(secrets_dir=self.secrets_dir, configmaps_dir=self.configmaps_dir)
