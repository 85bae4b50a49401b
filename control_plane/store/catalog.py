"""The stored config as the admin API reads and changes it, one checked transaction a change.

Every change takes the same steps: take the config lock, load what is stored, make the
config the change would produce, build its Snapshot and run the checks every node runs
(`check_snapshot`) and the admission check (`admit`: could the connected nodes serve
it?), and only when they pass write the rows and the audit entries and commit. A
refused change leaves nothing behind. After a commit `on_commit` hears of it (the
release maker), with the actor's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetgate_pb import config_pb2 as pb
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data_plane.config import certificates as pem
from data_plane.config.errors import ConfigError
from data_plane.config.model import (
    ENTITY_KINDS,
    CertificateSpec,
    GatewayConfig,
    ServiceSpec,
    Spec,
    dump_entity,
)
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import check_snapshot

from ..diff import ConfigDiff, diff_entities
from ..errors import (
    Conflict,
    FieldProblem,
    Invalid,
    InvalidConfig,
    NotFound,
    RolloutInProgress,
    problems_from,
)
from . import audit, rollouts
from .db import lock_config
from .entity_rows import (
    TABLES,
    WRITE_ORDER,
    RowWriter,
    count_rows,
    find_row,
    list_rows,
    references_to,
    spec_of,
)
from .merge_patch import merge_patch
from .models import CertificateRow, Entity

SINGULAR = {
    "services": "service",
    "routes": "route",
    "tiers": "tier",
    "tenants": "tenant",
    "consumers": "consumer",
    "certificates": "certificate",
}
# How many referring entities a 409 names before it says "..."
NAMED_REFERENCES = 5

Body = dict[str, Any]
# What in a snapshot the nodes it is for could not serve (see control_plane/sync/admission.py).
Admit = Callable[[pb.Snapshot], list[ConfigError]]


@dataclass(frozen=True, slots=True)
class StoredEntity:
    """One entity in the file shape, with when it was created and last changed.

    `body` leaves defaults out, as files and the audit log do; `full` has every field,
    defaults included, as the admin API reads an entity back. `warnings` are what the
    change that wrote it should tell the operator (a certificate about to expire).
    """

    kind: str
    body: Body
    full: Body
    created_at: datetime
    updated_at: datetime
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    items: list[StoredEntity]
    total: int


class Catalog:
    """Reads and changes of the stored config within one session."""

    def __init__(
        self,
        session: Session,
        *,
        actor: str = "admin",
        request_id: str | None = None,
        on_commit: Callable[[str], None] | None = None,
        admit: Admit | None = None,
    ) -> None:
        self.session = session
        self.actor = actor
        self.request_id = request_id
        self.on_commit = on_commit
        self.admit = admit
        # What the last change should tell the operator, without refusing it.
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"<Catalog actor={self.actor!r} request_id={self.request_id!r}>"

    # ---------------------------------------------------------------- reads

    def page(
        self,
        kind: str,
        *,
        limit: int = 100,
        offset: int = 0,
        name_contains: str | None = None,
        tags: Sequence[str] = (),
    ) -> Page:
        table = TABLES[kind]
        rows = list_rows(
            self.session,
            table,
            limit=limit,
            offset=offset,
            name_contains=name_contains,
            tags=tags,
        )
        total = count_rows(self.session, table, name_contains=name_contains, tags=tags)
        return Page([self._stored(kind, row, spec_of(table, row)) for row in rows], total)

    def get(self, kind: str, name: str) -> StoredEntity:
        row = self._row(kind, name)
        return self._stored(kind, row, spec_of(TABLES[kind], row))

    def config(self) -> GatewayConfig:
        return self._load()[0]

    # ---------------------------------------------------------------- single entities

    def create(self, kind: str, spec: Spec) -> StoredEntity:
        name = _name(spec)
        self._lock()
        current, rows = self._load()
        if name in rows[kind]:
            raise Conflict(f"{SINGULAR[kind]} {name!r} already exists")
        spec = _keyed(kind, spec, rows)
        proposed = _with(current, kind, name, spec)
        self._check(proposed, current)
        self._at_the_door(proposed, current, datetime.now(UTC))
        with self._writing() as writer:
            row = writer.put(TABLES[kind], spec, None)
            self._audit("create", kind, name, None, dump_entity(spec), writer.now)
        return self._stored(kind, row, spec, self.warnings)

    def replace(self, kind: str, name: str, spec: Spec, *, action: str = "replace") -> StoredEntity:
        """Write `spec` over the entity `name`; a spec equal to the stored one changes nothing."""
        if _name(spec) != name:
            raise Invalid.of([FieldProblem("name", f"must be {name!r}, the name in the path")])
        self._lock()
        current, rows = self._load()
        row = rows[kind].get(name)
        if row is None:
            raise NotFound(f"no {SINGULAR[kind]} named {name!r}")
        spec = _keyed(kind, spec, rows)
        before = dump_entity(spec_of(TABLES[kind], row))
        after = dump_entity(spec)
        if before == after:
            stored = self._stored(kind, row, spec)
            self.session.rollback()  # let go of the config lock: nothing to write
            return stored
        proposed = _with(current, kind, name, spec)
        self._check(proposed, current)
        self._at_the_door(proposed, current, datetime.now(UTC))
        with self._writing() as writer:
            writer.put(TABLES[kind], spec, row)
            self._audit(action, kind, name, before, after, writer.now)
        return self._stored(kind, row, spec, self.warnings)

    def update(
        self, kind: str, name: str, change: Callable[[Body], Body], *, action: str = "patch"
    ) -> StoredEntity:
        """Apply `change` to the entity's file shape, validate the result, and store it."""
        self._lock()  # before reading, so no concurrent change is lost
        body = change(self.get(kind, name).body)
        if body.get("name", name) != name:
            raise Invalid.of([FieldProblem("name", f"must be {name!r}, the name in the path")])
        try:
            spec = TABLES[kind].spec.model_validate({**body, "name": name})
        except ValidationError as exc:
            raise Invalid.of(problems_from(exc.errors())) from None
        return self.replace(kind, name, spec, action=action)

    def patch(self, kind: str, name: str, patch: Body) -> StoredEntity:
        """JSON merge patch (RFC 7396) on the file shape, the result validated as a whole."""
        return self.update(kind, name, lambda body: merge_patch(body, patch))

    def delete(self, kind: str, name: str) -> None:
        self._lock()
        current, rows = self._load()
        row = rows[kind].get(name)
        if row is None:
            raise NotFound(f"no {SINGULAR[kind]} named {name!r}")
        self._refuse_if_referenced(kind, row)
        before = dump_entity(spec_of(TABLES[kind], row))
        self._check(_with(current, kind, name, None), current)
        with self._writing() as writer:
            writer.delete(row)
            self._audit("delete", kind, name, before, None, writer.now)

    # ---------------------------------------------------------------- the whole config

    def apply(self, config: GatewayConfig, *, dry_run: bool = False) -> ConfigDiff:
        """Make the store equal to `config`: all of it in one transaction, or nothing.

        Entities absent from `config` are deleted. Returns what changed (or would have,
        with `dry_run`); an equal config changes nothing and makes no audit entry.
        """
        self._lock()
        return self._apply(config, dry_run=dry_run, action="apply")

    def promote(self, config: GatewayConfig, ended: Callable[[datetime], None]) -> ConfigDiff:
        """Make the store equal to a rollout's candidate, in the transaction that ends it.

        The caller holds the config lock and the running rollout; `ended(now)` writes
        the rollout's end, so the entities and the rollout's state commit together.
        """
        return self._apply(config, dry_run=False, action="promote", ended=ended)

    def _apply(
        self,
        config: GatewayConfig,
        *,
        dry_run: bool,
        action: str,
        ended: Callable[[datetime], None] | None = None,
    ) -> ConfigDiff:
        current, rows = self._load()
        config = config.model_copy(
            update={
                "certificates": [_keyed("certificates", c, rows) for c in config.certificates],
                "services": [_client_keyed(s, rows) for s in config.services],
            }
        )
        self._check(config)
        diff = diff_entities(_file_shapes(current), _file_shapes(config))
        self._at_the_door(config, current, datetime.now(UTC))
        if dry_run or (diff.empty and ended is None):
            self.session.rollback()
            return diff
        specs = {kind: {e.name: e for e in getattr(config, kind)} for kind in ENTITY_KINDS}
        with self._writing() as writer:
            now = writer.now
            if ended is not None:
                ended(now)
            for kind in WRITE_ORDER:
                changes = diff.of(kind)
                for body in changes.added:
                    writer.put(TABLES[kind], specs[kind][body["name"]], None)
                    self._audit(action, kind, body["name"], None, body, now)
                for changed in changes.changed:
                    writer.put(TABLES[kind], specs[kind][changed.name], rows[kind][changed.name])
                    self._audit(action, kind, changed.name, changed.before, changed.after, now)
            for kind in reversed(WRITE_ORDER):
                for body in diff.of(kind).removed:
                    writer.delete(rows[kind][body["name"]])
                    self._audit(action, kind, body["name"], body, None, now)
        return diff

    # ---------------------------------------------------------------- steps

    def _lock(self) -> None:
        """Take the config lock for a write; refused while a rollout runs.

        The rollout's candidate was checked against the config as it stood, and its
        promotion writes the candidate over it: a change in between would be lost.
        """
        lock_config(self.session)
        rollout = rollouts.running(self.session)
        if rollout is not None:
            self.session.rollback()
            raise RolloutInProgress(
                f"rollout {rollout.id} is running: promote or roll it back before changing"
                " the config"
            )

    def _load(self) -> tuple[GatewayConfig, dict[str, dict[str, Entity]]]:
        rows = {
            kind: {row.name: row for row in list_rows(self.session, table)}
            for kind, table in TABLES.items()
        }
        config = GatewayConfig.model_validate(
            {
                kind: [spec_of(TABLES[kind], row) for row in by_name.values()]
                for kind, by_name in rows.items()
            }
        )
        return config, rows

    def _check(self, proposed: GatewayConfig, current: GatewayConfig | None = None) -> None:
        """Refuse `proposed` if its snapshot fails the checks nodes run, or needs what
        the connected nodes do not support.

        With `current`, problems the stored config already had are not blamed on this
        change (checks may grow stricter between versions, nodes come and go); a whole
        new config (`current` None) must be entirely clean.
        """
        problems = self._problems(build_snapshot(proposed))
        if problems and current is not None:
            known = set(self._problems(build_snapshot(current)))
            problems = [p for p in problems if p not in known]
        if problems:
            raise InvalidConfig.of([FieldProblem(p.field, p.message) for p in problems])

    def _at_the_door(self, proposed: GatewayConfig, current: GatewayConfig, now: datetime) -> None:
        """Refuse a new or changed certificate that has expired; warn of one that soon will.

        Only here, where a person hands the certificate in: a stored certificate that
        expires later keeps being served, and its expiry shows in the metrics.
        """
        self.warnings = []
        stored = {c.name: dump_entity(c) for c in current.certificates}
        problems = []
        for certificate in proposed.certificates:
            if stored.get(certificate.name) == dump_entity(certificate):
                continue
            _, facts = pem.check_chain(certificate.cert)
            refused, warning = pem.expiry_problem(facts, now)
            if refused is not None:
                field, _, reason = refused.partition(": ")
                problems.append(FieldProblem(f"certificates.{certificate.name}.{field}", reason))
            if warning is not None:
                self.warnings.append(f"certificates.{certificate.name}: {warning}")
        if problems:
            raise InvalidConfig.of(problems)

    def _problems(self, snapshot: pb.Snapshot) -> list[ConfigError]:
        problems = check_snapshot(snapshot)
        if self.admit is not None:
            problems += self.admit(snapshot)
        return problems

    def _refuse_if_referenced(self, kind: str, row: Entity) -> None:
        for table in references_to(kind):
            assert table.reference is not None
            column = getattr(table.row, table.reference.column)
            names = list(
                self.session.scalars(
                    select(table.row.name)
                    .where(column == row.id)
                    .order_by(table.row.name)
                    .limit(NAMED_REFERENCES + 1)
                )
            )
            if names:
                shown = ", ".join(repr(n) for n in names[:NAMED_REFERENCES])
                more = ", ..." if len(names) > NAMED_REFERENCES else ""
                raise Conflict(
                    f"{SINGULAR[kind]} {row.name!r} is used by {table.kind} {shown}{more}"
                )

    @contextmanager
    def _writing(self) -> Iterator[RowWriter]:
        """Rows written in the block are committed at its end; on_commit hears of it."""
        try:
            yield RowWriter(self.session, datetime.now(UTC))
            self.session.commit()
        except IntegrityError as exc:
            # The checks ran under the config lock: only a writer that bypassed it gets here.
            self.session.rollback()
            raise Conflict(f"the change conflicts with the stored config: {exc.orig}") from None
        if self.on_commit is not None:
            self.on_commit(self.actor)

    def _audit(
        self,
        action: str,
        kind: str,
        name: str,
        before: Body | None,
        after: Body | None,
        at: datetime,
    ) -> None:
        audit.record(
            self.session,
            at=at,
            actor=self.actor,
            action=action,
            kind=kind,
            name=name,
            before=before,
            after=after,
            request_id=self.request_id,
        )

    def _row(self, kind: str, name: str) -> Entity:
        row = find_row(self.session, TABLES[kind], name)
        if row is None:
            raise NotFound(f"no {SINGULAR[kind]} named {name!r}")
        return row

    @staticmethod
    def _stored(kind: str, row: Entity, spec: Spec, warnings: Sequence[str] = ()) -> StoredEntity:
        return StoredEntity(
            kind,
            dump_entity(spec),
            dump_entity(spec, full=True),
            row.created_at,
            row.updated_at,
            tuple(warnings),
        )


def _name(spec: Spec) -> str:
    name: str = getattr(spec, "name")  # noqa: B009 - every entity spec has a name
    return name


def _keyed(kind: str, spec: Spec, rows: dict[str, dict[str, Entity]]) -> Spec:
    """`spec`, a certificate given by `key_sha256` alone (a service by its tls
    `client_key_sha256`) holding the stored key it names."""
    if isinstance(spec, ServiceSpec):
        return _client_keyed(spec, rows)
    if not isinstance(spec, CertificateSpec) or spec.key is not None:
        return spec
    row = rows["certificates"].get(spec.name)
    if not isinstance(row, CertificateRow) or pem.key_sha256(row.key) != spec.key_sha256:
        raise Invalid.of(
            [
                FieldProblem(
                    f"certificates.{spec.name}.key_sha256",
                    f"is not the sha256 of certificate {spec.name!r}'s stored key: give the key",
                )
            ]
        )
    return spec.model_copy(update={"key": row.key})


def _client_keyed(spec: ServiceSpec, rows: dict[str, dict[str, Entity]]) -> ServiceSpec:
    tls = spec.tls
    if tls is None or tls.client_cert is None or tls.client_key is not None:
        return spec
    row = rows["services"].get(spec.name)
    stored = None if row is None else spec_of(TABLES["services"], row)
    stored_tls = None if not isinstance(stored, ServiceSpec) else stored.tls
    stored_key = None if stored_tls is None else stored_tls.client_key
    if stored_key is None or pem.key_sha256(stored_key) != tls.client_key_sha256:
        raise Invalid.of(
            [
                FieldProblem(
                    f"services.{spec.name}.tls.client_key_sha256",
                    f"is not the sha256 of service {spec.name!r}'s stored client key: give "
                    "client_key",
                )
            ]
        )
    return spec.model_copy(update={"tls": tls.model_copy(update={"client_key": stored_key})})


def _with(config: GatewayConfig, kind: str, name: str, spec: Spec | None) -> GatewayConfig:
    """`config` with the entity `name` of `kind` replaced by `spec` (removed when None)."""
    items = [e for e in getattr(config, kind) if e.name != name]
    if spec is not None:
        items.append(spec)
    return config.model_copy(update={kind: items})


def _file_shapes(config: GatewayConfig) -> dict[str, dict[str, Body]]:
    return {kind: {e.name: dump_entity(e) for e in getattr(config, kind)} for kind in ENTITY_KINDS}
