"""Config entities as rows and back: the one place that knows how a spec is laid out in SQL.

A spec goes in as its file shape (`dump_entity`): the name, references, targets and
tags are lifted into their columns and rows, the rest is kept as JSON. Coming out, the
pieces are put back together and validated again, so what the store returns is always
a spec that the current model accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from data_plane.config.model import (
    ENTITY_KINDS,
    SPEC_BY_KIND,
    GatewayConfig,
    Spec,
    dump_entity,
)

from .models import (
    CertificateRow,
    CertificateTag,
    ConsumerRow,
    ConsumerTag,
    Entity,
    RouteRow,
    RouteTag,
    ServiceRow,
    ServiceTag,
    TargetRow,
    TenantRow,
    TenantTag,
    TierRow,
    TierTag,
)


@dataclass(frozen=True, slots=True)
class Reference:
    """A spec field that names an entity of another kind, kept as a foreign key."""

    field: str  # in the spec: "service"
    kind: str  # what it names: "services"
    column: str  # the foreign key column: "service_id"
    relation: str  # the relationship to the named row: "service"


@dataclass(frozen=True, slots=True)
class EntityTable:
    kind: str
    row: type[Entity]
    tag: type[Any]
    tag_column: str
    reference: Reference | None = None

    @property
    def spec(self) -> type[Spec]:
        return SPEC_BY_KIND[self.kind]


TABLES: dict[str, EntityTable] = {
    "services": EntityTable("services", ServiceRow, ServiceTag, "service_id"),
    "routes": EntityTable(
        "routes",
        RouteRow,
        RouteTag,
        "route_id",
        Reference("service", "services", "service_id", "service"),
    ),
    "tiers": EntityTable("tiers", TierRow, TierTag, "tier_id"),
    "tenants": EntityTable(
        "tenants", TenantRow, TenantTag, "tenant_id", Reference("tier", "tiers", "tier_id", "tier")
    ),
    "consumers": EntityTable(
        "consumers",
        ConsumerRow,
        ConsumerTag,
        "consumer_id",
        Reference("tenant", "tenants", "tenant_id", "tenant"),
    ),
    "certificates": EntityTable("certificates", CertificateRow, CertificateTag, "certificate_id"),
}
assert tuple(TABLES) == ENTITY_KINDS
# A kind is written after the kinds it refers to, and deleted before them.
WRITE_ORDER = ("tiers", "services", "tenants", "routes", "consumers", "certificates")


def references_to(kind: str) -> list[EntityTable]:
    """The tables whose rows may refer to an entity of `kind`."""
    return [t for t in TABLES.values() if t.reference is not None and t.reference.kind == kind]


# ---------------------------------------------------------------- reading


def _loaders(table: EntityTable) -> list[LoaderOption]:
    options: list[LoaderOption] = []
    if table.row is ServiceRow:
        options.append(selectinload(ServiceRow.targets))
    if table.reference is not None:
        options.append(selectinload(getattr(table.row, table.reference.relation)))
    return options


def _filtered(table: EntityTable, name_contains: str | None, tags: Sequence[str]) -> Select[Any]:
    query = select(table.row)
    if name_contains:
        query = query.where(table.row.name.contains(name_contains, autoescape=True))
    for tag in tags:
        query = query.where(table.row.tags.any(table.tag.tag == tag))
    return query


def _ordered(session: Session, table: EntityTable, query: Select[Any]) -> Select[Any]:
    column = table.row.name
    if session.get_bind().dialect.name == "postgresql":
        # Byte-wise, as SQLite and Python sort, whatever the database's locale.
        return query.order_by(column.collate("C"))
    return query.order_by(column)


def count_rows(
    session: Session, table: EntityTable, *, name_contains: str | None, tags: Sequence[str]
) -> int:
    query = _filtered(table, name_contains, tags)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def list_rows(
    session: Session,
    table: EntityTable,
    *,
    limit: int | None = None,
    offset: int = 0,
    name_contains: str | None = None,
    tags: Sequence[str] = (),
) -> list[Entity]:
    query = _ordered(session, table, _filtered(table, name_contains, tags))
    query = query.options(*_loaders(table)).offset(offset).limit(limit)
    return list(session.scalars(query))


def find_row(session: Session, table: EntityTable, name: str) -> Entity | None:
    query = select(table.row).where(table.row.name == name).options(*_loaders(table))
    return session.scalars(query).one_or_none()


def spec_of(table: EntityTable, row: Entity) -> Spec:
    """The spec a row holds, validated again."""
    data: dict[str, Any] = {"name": row.name, **row.spec}
    if table.reference is not None:
        named = getattr(row, table.reference.relation)
        if named is not None:
            data[table.reference.field] = named.name
    if isinstance(row, ServiceRow) and row.targets:
        data["targets"] = [{"address": t.address, "weight": t.weight} for t in row.targets]
    if isinstance(row, CertificateRow):
        data["key"] = row.key
    return table.spec.model_validate(data)


def load_config(session: Session) -> GatewayConfig:
    """Everything stored, as one GatewayConfig."""
    return GatewayConfig.model_validate(
        {
            kind: [spec_of(table, row) for row in list_rows(session, table)]
            for kind, table in TABLES.items()
        }
    )


# ---------------------------------------------------------------- writing


class RowWriter:
    """Writes specs into rows within one session, resolving references by name."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        # kind -> name -> id, loaded on first use and after rows of that kind were added
        self._ids: dict[str, dict[str, int]] = {}

    def __repr__(self) -> str:
        return f"<RowWriter known={ {k: len(v) for k, v in self._ids.items()} }>"

    def put(self, table: EntityTable, spec: Spec, row: Entity | None) -> Entity:
        """Insert `spec`, or write it over `row`; the caller validated the config."""
        # With its secrets (a service's client key); a certificate's key has its column.
        data = dump_entity(spec, secrets=True)
        if table.row is CertificateRow:
            data.pop("key", None)
        name = data.pop("name")
        # References first: resolving one may flush, and a new row must not be flushed
        # before its foreign key is set.
        ref_id = None
        if table.reference is not None:
            named = data.pop(table.reference.field, None)
            ref_id = None if named is None else self._id_of(table.reference.kind, named)
        targets = data.pop("targets", []) if table.row is ServiceRow else []
        if row is None:
            row = table.row()
            row.name = name
            row.created_at = self.now
            self.session.add(row)
            self._ids.pop(table.kind, None)
        elif table.reference is not None:
            # A loaded relationship would go on naming the old entity.
            self.session.expire(row, [table.reference.relation])
        if table.reference is not None:
            setattr(row, table.reference.column, ref_id)
        row.spec = data
        row.updated_at = self.now
        if isinstance(row, ServiceRow):
            self._put_targets(row, targets)
        if isinstance(row, CertificateRow):
            # The catalog gave every certificate its key (stored or new) before the checks.
            key = getattr(spec, "key", None)
            assert key is not None, "a certificate is written with its key"
            row.key = key
        self._put_tags(table, row, data.get("tags", []))
        return row

    def delete(self, row: Entity) -> None:
        self.session.delete(row)

    def _id_of(self, kind: str, name: str) -> int:
        ids = self._ids.get(kind)
        if ids is None or name not in ids:
            self.session.flush()
            row = TABLES[kind].row
            ids = {n: i for n, i in self.session.execute(select(row.name, row.id))}
            self._ids[kind] = ids
        return ids[name]

    def _put_targets(self, row: ServiceRow, targets: list[dict[str, Any]]) -> None:
        wanted = [(t["address"], t.get("weight", 1)) for t in targets]
        if [(t.address, t.weight) for t in row.targets] == wanted:
            return
        # Removed rows are flushed first: an address kept in the new list would
        # otherwise collide with itself on the (service, address) unique key.
        row.targets.clear()
        self.session.flush()
        row.targets.extend(
            TargetRow(position=i, address=address, weight=weight)
            for i, (address, weight) in enumerate(wanted)
        )

    def _put_tags(self, table: EntityTable, row: Entity, tags: list[str]) -> None:
        tag_rows = row.tags
        wanted = sorted(set(tags))
        if sorted(t.tag for t in tag_rows) == wanted:
            return
        tag_rows.clear()
        self.session.flush()
        tag_rows.extend(table.tag(tag=tag) for tag in wanted)
