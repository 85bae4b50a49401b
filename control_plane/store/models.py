"""The store's tables as SQLAlchemy 2.0 models; the schema itself comes from migrations.

Each config entity is a row holding its `name`, its validated spec in the file shape
(`spec`, JSON) and its timestamps. What other entities depend on is lifted out of the
JSON into real columns so that SQL enforces it: references are foreign keys (a route's
service, a tenant's tier, a consumer's tenant), a service's targets are rows of their
own, and tags are rows so lists can be filtered by tag. `spec` keeps everything else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAME_LENGTH = 128
TAG_LENGTH = 64


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        # SQLite keeps no zone: store UTC wall time and put the zone back on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        # Stable constraint names, so migrations can refer to them on every database.
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Entity:
    """Columns every config entity has."""

    # sort_order: these lead the table, before the columns of each kind.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-2)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, sort_order=-1)
    # The file shape without name, references, targets: those live in columns and rows.
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    if TYPE_CHECKING:
        # Each kind maps its own tag table; this only tells type checkers they all have one.
        tags: Mapped[list[Any]]


# ---------------------------------------------------------------- services


class ServiceRow(Entity, Base):
    __tablename__ = "services"

    targets: Mapped[list[TargetRow]] = relationship(
        order_by="TargetRow.position", cascade="all, delete-orphan", passive_deletes=True
    )
    tags: Mapped[list[ServiceTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class TargetRow(Base):
    """One upstream of a service, kept in the order the operator listed them."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("service_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    address: Mapped[str] = mapped_column(String(300))
    weight: Mapped[int]


class ServiceTag(Base):
    __tablename__ = "service_tags"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(TAG_LENGTH), primary_key=True, index=True)


# ---------------------------------------------------------------- routes


class RouteRow(Entity, Base):
    __tablename__ = "routes"

    # RESTRICT: a service that routes still use cannot disappear under them.
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="RESTRICT"), index=True
    )
    service: Mapped[ServiceRow] = relationship()
    tags: Mapped[list[RouteTag]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class RouteTag(Base):
    __tablename__ = "route_tags"

    route_id: Mapped[int] = mapped_column(
        ForeignKey("routes.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(TAG_LENGTH), primary_key=True, index=True)


# ---------------------------------------------------------------- tenancy


class TierRow(Entity, Base):
    __tablename__ = "tiers"

    tags: Mapped[list[TierTag]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class TierTag(Base):
    __tablename__ = "tier_tags"

    tier_id: Mapped[int] = mapped_column(
        ForeignKey("tiers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(TAG_LENGTH), primary_key=True, index=True)


class TenantRow(Entity, Base):
    __tablename__ = "tenants"

    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id", ondelete="RESTRICT"), index=True)
    tier: Mapped[TierRow] = relationship()
    tags: Mapped[list[TenantTag]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class TenantTag(Base):
    __tablename__ = "tenant_tags"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(TAG_LENGTH), primary_key=True, index=True)


class ConsumerRow(Entity, Base):
    __tablename__ = "consumers"

    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="RESTRICT"), index=True
    )
    tenant: Mapped[TenantRow | None] = relationship()
    tags: Mapped[list[ConsumerTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class ConsumerTag(Base):
    __tablename__ = "consumer_tags"

    consumer_id: Mapped[int] = mapped_column(
        ForeignKey("consumers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(TAG_LENGTH), primary_key=True, index=True)


# ---------------------------------------------------------------- TLS


class CertificateRow(Entity, Base):
    """A certificate for the HTTPS listener; its private key in a column of its own.

    `spec` holds the file shape, which shows the key only as its `key_sha256`: the key
    itself is in `key`, read back when the spec is built, and never in the audit log.
    """

    __tablename__ = "certificates"

    key: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[CertificateTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class CertificateTag(Base):
    __tablename__ = "certificate_tags"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(TAG_LENGTH), primary_key=True, index=True)


# ---------------------------------------------------------------- releases, audit, admin


class ReleaseRow(Base):
    """An immutable snapshot as nodes receive it: serialized once, never rewritten."""

    __tablename__ = "releases"

    # Allocated as the previous version + 1, never by a sequence: versions have no gaps
    # and two replicas racing for the same one collide on the primary key.
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(NAME_LENGTH))


class AuditRow(Base):
    """Who changed what, when, with the entity as it was before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_kind_name", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(128))


class AdminTokenRow(Base):
    """The admin API's bearer token, as its sha256 only."""

    __tablename__ = "admin_tokens"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
