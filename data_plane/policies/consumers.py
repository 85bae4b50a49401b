"""The consumers of a snapshot, indexed once for the auth policy.

Built when the snapshot is compiled: API keys by the sha256 of the key (the store
keeps nothing else), JWT subjects by `sub`. Each consumer carries what a request it
makes needs, resolved then: its tenant and the tenant's tier, its roles, and the fields
the upstream gets about it. A key revoked by a release is gone from the next directory,
so it stops working with that release.

A key found by its digest is remembered as presented (a bounded dict, in the worker's
memory only, dropped with the directory): a client sends the same key with every
request, and a dict lookup costs a tenth of a sha256. An unknown key is never
remembered, so a flood of made-up keys grows nothing.

Cython compiles this module into `consumers_c` (typed by `consumers_c.pxd`) when the
package is built, and the compiled auth policy reads its classes' fields as C struct
members; `data_plane.policies.ConsumerDirectory` is the twin that is loaded, the one a
worker builds. `FLEETGATE_NO_EXTENSIONS=1` runs this source.
"""

from __future__ import annotations

from hashlib import sha256

from fleetgate_pb import config_pb2 as pb

from data_plane.http.request import Headers


class Consumer:
    """One consumer as a request sees it: who, for which tenant and tier, with which roles."""

    __slots__ = ("fields", "name", "roles", "tenant", "tier")

    def __init__(self, name: str, tenant: str | None, tier: str | None, roles: frozenset[str]):
        self.name = name
        self.tenant = tenant
        self.tier = tier
        self.roles = roles
        # What the upstream is told about the caller (names are safe field values).
        fields: Headers = [(b"X-Consumer", name.encode())]
        if tenant is not None:
            fields.append((b"X-Tenant", tenant.encode()))
        self.fields = tuple(fields)

    def __repr__(self) -> str:
        return (
            f"<Consumer {self.name} tenant={self.tenant} tier={self.tier}"
            f" roles={sorted(self.roles)}>"
        )


# Known keys a directory remembers as presented; forgotten all at once when full.
KNOWN_KEYS_KEPT = 4096


class ConsumerDirectory:
    """Consumers by API key digest and by JWT subject."""

    __slots__ = ("by_key", "by_subject", "known")

    def __init__(self, by_key: dict[bytes, Consumer], by_subject: dict[str, Consumer]) -> None:
        self.by_key = by_key
        self.by_subject = by_subject
        # Key as presented -> its consumer: read first by the auth policy, then `by_api_key`.
        self.known: dict[bytes, Consumer] = {}

    @classmethod
    def from_snapshot(cls, snapshot: pb.Snapshot) -> ConsumerDirectory:
        tiers = {tenant.name: tenant.tier for tenant in snapshot.tenants}
        by_key: dict[bytes, Consumer] = {}
        by_subject: dict[str, Consumer] = {}
        for spec in snapshot.consumers:
            tenant = spec.tenant or None
            consumer = Consumer(
                spec.name,
                tenant,
                None if tenant is None else tiers.get(tenant) or None,
                frozenset(spec.roles),
            )
            for key in spec.api_keys:
                # The snapshot checks refuse a malformed or shared digest before this runs.
                by_key[bytes.fromhex(key.hash)] = consumer
            for subject in spec.jwt_subjects:
                by_subject[subject] = consumer
        return cls(by_key, by_subject)

    def by_api_key(self, key: bytes) -> Consumer | None:
        """The consumer holding `key`, or None."""
        consumer = self.known.get(key)
        if consumer is None:
            consumer = self.by_key.get(sha256(key).digest())
            if consumer is not None:
                if len(self.known) >= KNOWN_KEYS_KEPT:
                    self.known.clear()
                self.known[key] = consumer
        return consumer

    def __repr__(self) -> str:
        return f"<ConsumerDirectory keys={len(self.by_key)} subjects={len(self.by_subject)}>"


NO_CONSUMERS = ConsumerDirectory({}, {})
