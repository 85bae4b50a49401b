"""Settings of `fleetgate control-plane`: one object, read once at start.

Values come from the command line (`control_plane/cli.py` already folds `FLEETGATE_<FLAG>`
into each flag's default) and, for settings without a flag such as `environment`, from
the environment with the same `FLEETGATE_` prefix.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data_plane.config.syntax import parse_host_port
from data_plane.sync.contract import (
    MIN_TOKEN_LENGTH,
    cluster_tokens,
    is_weak_token,
    weak_token_problem,
)

STORE_FILE = "fleetgate.db"  # the SQLite store, in the working directory unless --db says
DEFAULT_DB = f"sqlite:///./{STORE_FILE}"


class ControlPlaneSettings(BaseSettings):
    """Everything `fleetgate control-plane` needs to know before it starts."""

    model_config = SettingsConfigDict(env_prefix="FLEETGATE_", extra="ignore")

    db: str = DEFAULT_DB
    admin_listen: str = "127.0.0.1:8001"
    sync_listen: str = "127.0.0.1:50051"
    admin_token: str | None = None
    no_migrate: bool = False
    cluster_token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    # The nodes' Redis, for the usage API to read quotas counted there
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="fleetgate", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    node_offline_after: float = Field(default=30.0, gt=0)
    node_purge_after: float = Field(default=3600.0, gt=0)
    # "development" silences the weak-token warning; anything else is treated as production.
    environment: Literal["development", "production"] = "production"

    @field_validator("admin_listen", "sync_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("admin_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise ValueError("a token may not be empty or hold whitespace")
        return value

    @field_validator("cluster_token")
    @classmethod
    def _cluster_tokens(cls, value: str | None) -> str | None:
        if value is not None:
            cluster_tokens(value)  # one, or NEW,OLD while it is rotated
        return value

    @model_validator(mode="after")
    def _cluster_token_strong_off_loopback(self) -> Self:
        if self.cluster_token is not None:
            refused, problem = weak_token_problem(self.cluster_token, (self.sync_listen,))
            if refused:
                raise ValueError(f"cluster_token: {problem}")
        return self

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Self:
        """Settings from the parsed `control-plane` flags; unset flags keep their defaults."""
        given: dict[str, Any] = {
            name: value
            for name, value in vars(args).items()
            if name in cls.model_fields and value is not None
        }
        return cls(**given)

    @property
    def admin_address(self) -> tuple[str, int]:
        return parse_host_port(self.admin_listen)

    @property
    def sync_address(self) -> tuple[str, int]:
        return parse_host_port(self.sync_listen)

    def warnings(self) -> list[str]:
        """Things an operator should hear about at start."""
        found = []
        if (
            self.admin_token is not None
            and self.environment != "development"
            and is_weak_token(self.admin_token)
        ):
            found.append(
                "FLEETGATE_ADMIN_TOKEN is weak (shorter than "
                f"{MIN_TOKEN_LENGTH} characters or a well-known word): "
                "use a long random token outside development"
            )
        if self.cluster_token is not None and self.environment != "development":
            _, problem = weak_token_problem(self.cluster_token, (self.sync_listen,))
            if problem is not None:
                found.append(problem)
        return found

    def print_warnings(self) -> None:
        for warning in self.warnings():
            print(f"fleetgate: warning: {warning}", file=sys.stderr)
