"""What the admin API answers with, beyond the config specs themselves.

An entity is its spec with every field, defaults included, plus `created_at` and
`updated_at`; the `*Out` models describe that for OpenAPI. (`fleetgate export` leaves
defaults out; both are the file shape, and either can be sent back.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from data_plane.config.model import (
    CertificateSpec,
    ConsumerSpec,
    GatewayConfig,
    RouteSpec,
    ServiceSpec,
    TenantSpec,
    TierSpec,
)

from ..diff import ConfigDiff
from ..store.catalog import Page, StoredEntity

T = TypeVar("T")

STAMPS = {"created_at": "2026-01-01T12:00:00+00:00", "updated_at": "2026-01-02T08:30:00+00:00"}


def _stamped(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [{**example, **STAMPS}]})


class Stamped(BaseModel):
    created_at: datetime
    updated_at: datetime


class ServiceOut(ServiceSpec, Stamped):
    model_config = _stamped(
        {
            "name": "users",
            "targets": [{"address": "127.0.0.1:9001"}],
            "timeouts": {"connect": 2.0, "read": 30.0},
            "retries": 2,
        }
    )


class RouteOut(RouteSpec, Stamped):
    model_config = _stamped(
        {"name": "users-api", "paths": ["/api/v1/users/**"], "service": "users"}
    )


class TierOut(TierSpec, Stamped):
    model_config = _stamped({"name": "PRO", "requests_per_minute": 1000})


class TenantOut(TenantSpec, Stamped):
    model_config = _stamped({"name": "acme", "tier": "PRO"})


class ConsumerOut(ConsumerSpec, Stamped):
    model_config = _stamped(
        {
            "name": "acme-billing",
            "tenant": "acme",
            "api_keys": [{"id": "ci", "hash": "9f86d081884c7d659a2feaa0c55ad015" * 2}],
        }
    )


class CertificateOut(CertificateSpec, Stamped):
    model_config = _stamped(
        {
            "name": "api-example-com",
            "cert": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
            "key_sha256": "5d41402abc4b2a76b9719d911017c592" * 2,
            "snis": ["api.example.com"],
        }
    )
    warnings: list[str] = Field(
        default_factory=list, description="after a change: e.g. the certificate expires soon"
    )

    @model_validator(mode="after")
    def _chain_and_key(self) -> CertificateOut:
        return self  # an answer, not an input: it has no key


class ItemPage(BaseModel, Generic[T]):
    """One page of a list: `total` counts every match, not just this page."""

    items: list[T]
    total: int = Field(examples=[1])


class ApplyResult(BaseModel):
    """What `PUT /api/v1/config` changed, or would change with `dry_run`."""

    changed: bool
    dry_run: bool
    diff: ConfigDiff
    warnings: list[str] = Field(
        default_factory=list, description="what to know without refusing (a certificate expiring)"
    )


class ReleaseOut(BaseModel):
    version: int = Field(examples=[42])
    hash: str = Field(examples=["3b1f0c" + "0" * 58])
    created_at: datetime
    author: str = Field(examples=["admin"])


class ReleaseDetail(ReleaseOut, GatewayConfig):
    """A release in the file shape: its metadata beside the config's entity kinds."""


class ReleaseSnapshot(ReleaseOut):
    snapshot: dict[str, Any] = Field(
        description="The fleetgate.v1.Snapshot in protobuf's JSON mapping, field names as in "
        "config.proto (64-bit integers are strings, zero values omitted)."
    )


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(examples=["admin"])
    action: str = Field(examples=["patch"])
    kind: str = Field(examples=["services"])
    name: str = Field(examples=["users"])
    before: dict[str, Any] | None = Field(examples=[{"name": "users", "retries": 2}])
    after: dict[str, Any] | None = Field(examples=[{"name": "users", "retries": 3}])
    request_id: str | None


class ApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="the key's id (default: generated)",
        examples=["ci"],
    )


class ApiKeyCreated(BaseModel):
    id: str = Field(examples=["ci"])
    key: str = Field(description="the key itself: shown this once, stored only hashed")
    hash: str


# ---------------------------------------------------------------- JSON answers


def entity_json(stored: StoredEntity) -> dict[str, Any]:
    body = {
        **stored.full,
        "created_at": stored.created_at.isoformat(),
        "updated_at": stored.updated_at.isoformat(),
    }
    if stored.warnings:
        body["warnings"] = list(stored.warnings)
    return body


def entity_response(stored: StoredEntity, status: int = 200) -> JSONResponse:
    return JSONResponse(entity_json(stored), status_code=status)


def page_response(page: Page) -> JSONResponse:
    return JSONResponse({"items": [entity_json(e) for e in page.items], "total": page.total})


def config_json(config: GatewayConfig) -> dict[str, Any]:
    return config.to_file_dict()
