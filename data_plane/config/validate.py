"""Consistency checks on a Snapshot, shared by the control plane and every node.

The control plane runs `check_snapshot` before it stores a change (a failure is a 422
naming the field, and nothing is stored); a node runs the same function when it
compiles a pushed snapshot (a failure is a NACK with the same message). Checks take a
Snapshot, not a database row, so they import nothing heavier than protobuf.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass

from fleetgate_pb import config_pb2 as pb

from data_plane.routing.table import RouteTable

from . import certificates as pem
from .changes import RouteChanges
from .errors import ConfigError, ConfigInvalid
from .jwt_keys import MAX_PUBLIC_KEYS, MIN_SECRET_BYTES, jwt_keys_problem, load_pem
from .route_fields import AnyRoute, RouteFields, fields_of, read_route
from .syntax import (
    MAX_TARGETS,
    NAME,
    changed_field_problem,
    header_name_problem,
    header_value_problem,
    origin_problem,
    parse_host_port,
    parse_networks,
    query_name_problem,
)

MAX_WEIGHT = 65_535
MAX_RETRIES = 10
_KEY_HASH = re.compile(r"[0-9a-f]{64}")
AUTH_METHODS = frozenset({"api_key", "jwt"})
MISSING_KEY = "no key: give key (PEM); key_sha256 alone keeps a key only in the control plane"
KINDS = ("services", "routes", "tiers", "tenants", "consumers", "certificates")
_JWKS_URL = re.compile(r"https?://[^\s]{1,2040}")
MAX_LEEWAY = 600.0
_METHOD = re.compile(r"[A-Z]{1,16}")


def check_snapshot(snapshot: pb.Snapshot) -> list[ConfigError]:
    """Every inconsistency in `snapshot`; an empty list means it can be served."""
    errors = check_entities(snapshot)
    if not errors:
        errors += _compile_route_table(snapshot)
    return errors


def check_entities(snapshot: pb.Snapshot) -> list[ConfigError]:
    """The checks of `check_snapshot` but compiling the route table.

    For a node, which compiles the table anyway and gets the same errors from it:
    compiling it twice would double the cost of applying 10,000 routes.
    """
    return EntityChecks.run(snapshot)[0]


# A route's claims: per path, what two routes must not share (path, hosts, methods,
# header conditions, priority).
Claims = tuple[tuple[object, ...], ...]

# At most this many changed routes take the short way (see `EntityChecks.run`).
CHANGED_ROUTES = 256


@dataclass(slots=True, eq=False)
class EntityChecks:
    """What the checks learnt of a snapshot's routes, for the next snapshot's.

    A route's own checks (its name, paths, policies) depend on the route alone, so a
    node applying a one-route change to 10,000 routes need not check the other 9,999
    again: only what depends on other entities (their services exist, no other route
    claims the same requests, names are unique) is checked for the changed route, with
    what the previous run recorded. Services, tenancy and certificates (tens, not
    thousands) are checked in full every time.
    """

    routes: dict[bytes, tuple[str, Claims]]  # name and claims by serialized definition
    claimed: dict[tuple[object, ...], str]  # which route claims each (path, ...)
    services: frozenset[str]  # the names of the snapshot's services
    definitions: Sequence[bytes] = ()  # the routes', in order (empty: not given)
    names: frozenset[str] = frozenset()  # the routes' (with `definitions`)
    # The services serialized, when given: one that passed is not checked again.
    service_definitions: frozenset[bytes] = frozenset()

    @classmethod
    def run(
        cls,
        snapshot: pb.Snapshot,
        definitions: Sequence[bytes] | None = None,
        previous: EntityChecks | None = None,
        changes: RouteChanges | None = None,
        services: Sequence[bytes] = (),
        before: EntityChecks | None = None,
        routes: list[AnyRoute] | None = None,
    ) -> tuple[list[ConfigError], EntityChecks]:
        """Every inconsistency in `snapshot` but the route table's, and what the next
        run needs. `definitions`: the routes serialized deterministically, in order;
        `previous`: the run of the snapshot before, which passed; `changes`: from its
        routes to these, when the caller found them already (`previous.changes`);
        `services`: the services serialized deterministically, in order.

        With both, and few routes changed, only the changed routes are checked, and
        only against what the previous run recorded; anything found wrong that way is
        checked again in full, so errors are always those (and in the order) of a full
        run.

        `before`: a run that passed (of the snapshot before, say): a full run takes from
        its records what a route alone decides (its own checks, its claims) for every
        route whose definition it holds, instead of finding it again.

        `routes`: the snapshot's routes, as a list the caller reads again after (a full
        compile's table and plans): each route a full run checks is replaced in it by
        its `RouteFields`, so that no pass reads a route's fields twice.
        """
        if previous is not None and definitions is not None:
            if changes is None:
                changes = previous.changes(definitions)
            changed = (
                None
                if changes is None
                else previous.after(snapshot, definitions, changes, services)
            )
            if changed is not None:
                return [], changed
        errors: list[ConfigError] = []
        if routes is None:
            routes = snapshot.routes[:]
        # Each read of a protobuf field makes a new object: the names are read once.
        route_names = [route.name for route in routes]
        errors += _bad_names(snapshot, route_names)
        errors += _duplicate_names(snapshot, route_names)
        errors += _check_services(snapshot)
        passed = frozenset(services) if services and not errors else frozenset()
        if before is None:
            before = previous
        known = None if before is None or definitions is None else before.routes
        route_errors, claimed, claims = _check_routes(
            snapshot, routes, route_names, definitions, known
        )
        errors += route_errors
        errors += _check_tenancy(snapshot)
        errors += _check_certificates(snapshot)
        records: dict[bytes, tuple[str, Claims]] = {}
        names: frozenset[str] = frozenset()
        if definitions is not None:
            records = {
                definition: (name, route_claims)
                for name, definition, route_claims in zip(
                    route_names, definitions, claims, strict=True
                )
            }
            names = frozenset(route_names)
        named = frozenset(service.name for service in snapshot.services)
        return errors, cls(records, claimed, named, definitions or (), names, passed)

    def changes(
        self, definitions: Sequence[bytes], limit: int | None = None
    ) -> RouteChanges | None:
        """Which routes changed from this run's snapshot to one of `definitions`; None
        when this run kept no definitions, those hold one twice, or more than `limit`
        of them are new."""
        if len(self.definitions) != len(self.routes):
            return None
        return RouteChanges.between(self.definitions, self.routes.keys(), definitions, limit)

    def after(
        self,
        snapshot: pb.Snapshot,
        definitions: Sequence[bytes],
        changes: RouteChanges,
        services: Sequence[bytes] = (),
    ) -> EntityChecks | None:
        """The checks of `snapshot` as the routes that changed since this run (`changes`)
        find them, and the services not among those this run passed (`services`: all of
        them serialized, in order; none given: every service is checked); or None when
        they find something wrong, or too much changed: then only a full run says
        what."""
        errors: list[ConfigError] = []
        known = self.routes
        if len(changes) > CHANGED_ROUTES or len(self.names) != len(known):
            return None
        removed, added = changes.removed, changes.added
        named = frozenset(service.name for service in snapshot.services)
        if not named >= self.services:
            return None  # a service is gone: every route's reference is checked again
        # The other kinds are few: checked in full (services but those that passed).
        errors += _bad_names(snapshot, None)
        errors += _duplicate_names(snapshot, None)
        errors += _check_services(snapshot, services, self.service_definitions)
        errors += _check_tenancy(snapshot)
        errors += _check_certificates(snapshot)
        if errors:
            return None
        # copy(), not dict(): only copy() clones a dict with holes in one go.
        routes = known.copy()
        claimed = self.claimed.copy()
        gone: set[str] = set()  # names of the removed routes
        for definition in removed:
            name, claims = routes.pop(definition)
            gone.add(name)
            for claim in claims:
                if claimed.get(claim) == name:
                    del claimed[claim]
        taken: set[str] = set()  # names of the added routes
        for i in added:
            route = snapshot.routes[i]
            name = route.name
            if (
                (name in self.names and name not in gone)
                or name in taken
                or not NAME.fullmatch(name)
                or route.service not in named
            ):
                return None
            fields = read_route(route)
            if _route_problems(fields, f"routes.{name}"):
                return None
            taken.add(name)
            claims = _claims(fields)
            for claim in claims:
                if claimed.setdefault(claim, name) != name:
                    return None
            routes[definitions[i]] = (name, claims)
        # Mostly a route redefined under its own name: then the names stay as they were.
        names = self.names if gone == taken else (self.names - gone) | taken
        passed = frozenset(services) if services else frozenset()
        return EntityChecks(routes, claimed, named, changes.definitions, names, passed)

    def retire(self) -> Iterator[None]:
        """Let go of the records, one per step, once no compile will read them."""
        self.routes = {}
        yield
        self.claimed = {}
        yield
        self.definitions = ()

    def __repr__(self) -> str:
        return f"<EntityChecks routes={len(self.routes)}>"


class SnapshotChecks:
    """`check_snapshot` for a sequence of snapshots, each checked against what the last
    one that passed left: only the routes that changed are checked and compiled again
    (see `EntityChecks`, `RouteTable.compile`). A standalone node reloading a file of
    10,000 routes after a one-route change checks one route, with the same errors."""

    def __init__(self) -> None:
        self._entities: EntityChecks | None = None
        self._table: RouteTable[None] | None = None

    def check(self, snapshot: pb.Snapshot) -> list[ConfigError]:
        """Every inconsistency in `snapshot`, as `check_snapshot` finds them."""
        definitions = [route.SerializeToString(deterministic=True) for route in snapshot.routes]
        errors, entities = EntityChecks.run(snapshot, definitions, self._entities)
        if errors:
            return errors
        try:
            table: RouteTable[None] = RouteTable.compile(
                [(route, None) for route in snapshot.routes], self._table, definitions=definitions
            )
        except ConfigInvalid as exc:
            return exc.errors
        self._entities, self._table = entities, table
        return []

    def __repr__(self) -> str:
        return f"<SnapshotChecks {self._entities!r}>"


def raise_if_invalid(snapshot: pb.Snapshot) -> None:
    errors = check_snapshot(snapshot)
    if errors:
        raise ConfigInvalid(errors)


def _names(snapshot: pb.Snapshot, kind: str, routes: list[str] | None) -> list[str] | None:
    """The names of `snapshot`'s entities of `kind`; for routes, `routes` (None: skip)."""
    if kind == "routes":
        return routes
    return [entity.name for entity in getattr(snapshot, kind)]


def _bad_names(snapshot: pb.Snapshot, routes: list[str] | None) -> list[ConfigError]:
    """Names that are not names; `routes`: the routes' (None: not checked here)."""
    errors = []
    for kind in KINDS:
        names = _names(snapshot, kind, routes)
        if names is None:
            continue
        for i, name in enumerate(names):
            if not NAME.fullmatch(name):
                errors.append(ConfigError(f"{kind}.{i}.name", f"not a valid name: {name[:64]!r}"))
    return errors


def _duplicate_names(snapshot: pb.Snapshot, routes: list[str] | None) -> list[ConfigError]:
    """Names used twice in a kind; `routes`: the routes' (None: not checked here)."""
    errors = []
    for kind in KINDS:
        names = _names(snapshot, kind, routes)
        if names is None:
            continue
        if len(set(names)) == len(names):
            continue  # (a set of 10,000 names is built 3 times quicker than a Counter)
        counts = Counter(names)
        errors += [
            ConfigError(f"{kind}.{name}", "name is used more than once")
            for name, n in sorted(counts.items())
            if n > 1
        ]
    return errors


def _check_services(
    snapshot: pb.Snapshot, definitions: Sequence[bytes] = (), passed: Set[bytes] = frozenset()
) -> list[ConfigError]:
    """The services' errors; a service whose serialized definition (`definitions`, in
    order) is among those that `passed` before is not checked again."""
    errors = []
    for i, service in enumerate(snapshot.services):
        if definitions and definitions[i] in passed:
            continue
        where = f"services.{service.name}"
        if service.tls.client_cert and not service.tls.client_key:
            errors.append(ConfigError(f"{where}.tls.client_key", MISSING_KEY))
        if not service.targets:
            errors.append(ConfigError(f"{where}.targets", "a service needs at least one target"))
        if len(service.targets) > MAX_TARGETS:
            errors.append(ConfigError(f"{where}.targets", f"more than {MAX_TARGETS} targets"))
        addresses = Counter(t.address for t in service.targets)
        for address, n in sorted(addresses.items()):
            if n > 1:
                errors.append(ConfigError(f"{where}.targets", f"{address} is listed {n} times"))
        if service.retries > MAX_RETRIES:
            errors.append(ConfigError(f"{where}.retries", f"at most {MAX_RETRIES} retries"))
        for i, target in enumerate(service.targets):
            try:
                parse_host_port(target.address)
            except ValueError as exc:
                errors.append(ConfigError(f"{where}.targets.{i}.address", str(exc)))
            if target.weight > MAX_WEIGHT:
                errors.append(
                    ConfigError(f"{where}.targets.{i}.weight", f"weight must be 0..{MAX_WEIGHT}")
                )
        if (
            service.load_balancer == pb.CONSISTENT_HASH
            and service.hash_key.source != pb.HashKey.CLIENT_IP
            and not service.hash_key.name
        ):
            errors.append(
                ConfigError(f"{where}.hash_key.name", "a header or cookie name is needed")
            )
        elif service.hash_key.name:
            problem = header_name_problem(service.hash_key.name)
            if problem is not None:
                errors.append(ConfigError(f"{where}.hash_key.name", problem))
    return errors


def _check_routes(
    snapshot: pb.Snapshot,
    routes: list[AnyRoute],
    names: Sequence[str],
    definitions: Sequence[bytes] | None = None,
    known: Mapping[bytes, tuple[str, Claims]] | None = None,
) -> tuple[list[ConfigError], dict[tuple[object, ...], str], list[Claims]]:
    """The routes' errors, which route claims each (path, ...), and each route's claims.
    `routes`, `names`: the snapshot's routes and their names, in order; a route checked
    here is replaced in `routes` by its fields, read. `known`: the name and claims of
    routes that passed their own checks, by their serialized definition (`definitions`,
    in order): theirs are not checked again."""
    errors = []
    services = {s.name for s in snapshot.services}
    seen: dict[tuple[object, ...], str] = {}
    every: list[Claims] = []
    if not known or definitions is None or len(definitions) != len(routes):
        known, definitions = {}, [b""] * len(routes)
    # The fields the errors name are written only for an error (a route's own problems
    # are found with fields relative to it): 10,000 routes would format 10,000 strings.
    for at, (route, name, definition) in enumerate(zip(routes, names, definitions, strict=True)):
        if route.service not in services:
            errors.append(
                ConfigError(f"routes.{name}.service", f"no service named {route.service!r}")
            )
        record = known.get(definition)
        if record is None:
            fields = routes[at] = fields_of(route)
            problems = _route_problems(fields, "")
            if problems:
                errors += [ConfigError(f"routes.{name}{e.field}", e.message) for e in problems]
            claims = _claims(fields)
        else:
            claims = record[1]
        every.append(claims)
        for i, claim in enumerate(claims):
            other = seen.setdefault(claim, name)
            if other != name:
                errors.append(
                    ConfigError(
                        f"routes.{name}.paths.{i}",
                        f"route {other!r} has the same hosts, path, methods, headers and priority",
                    )
                )
    return errors, seen, every


def _claims(route: RouteFields) -> Claims:
    """Two routes that match exactly the same requests with the same priority would leave
    the winner to the order of the list: each path of a route claims its requests."""
    hosts, methods, headers, priority = route.hosts, route.methods, route.headers, route.priority
    if not (hosts or methods or headers or priority):
        return tuple([(path, (), (), (), 0) for path in route.paths])  # (most routes)
    common = (
        tuple(sorted(hosts)) if hosts else (),
        tuple(sorted(methods)) if methods else (),
        tuple(sorted([(h.name, h.kind, h.value, h.invert) for h in headers])) if headers else (),
        priority,
    )
    return tuple([(path, *common) for path in route.paths])


def _route_problems(fields: RouteFields, where: str) -> list[ConfigError]:
    """What is wrong with a route on its own (its name aside), each field under `where`
    (every field named begins with it, so "" names them relative to the route)."""
    errors = []
    paths = fields.paths
    if not paths:
        errors.append(ConfigError(f"{where}.paths", "a route needs at least one path"))
    for i, path in enumerate(paths):
        # Regexes, hosts and header conditions are checked by compiling the route table.
        if not path.startswith(("/", "~")):
            errors.append(ConfigError(f"{where}.paths.{i}", "a path starts with '/' or '~'"))
        elif not path.startswith("~") and ("**" in path.rstrip("*") or "***" in path):
            errors.append(ConfigError(f"{where}.paths.{i}", "'**' may only end a path, as '/**'"))
    if not fields.more:
        return errors  # no policy, nor anything else checked below
    route = fields.route
    if route.HasField("auth"):
        errors += _check_auth(route.auth, f"{where}.auth")
    if route.HasField("cors"):
        errors += _check_cors(route.cors, f"{where}.cors")
    for field, networks in (("ip_allow", route.ip_allow), ("ip_deny", route.ip_deny)):
        if not networks:
            continue
        try:
            parse_networks(networks, field)
        except ValueError as exc:
            errors.append(ConfigError(f"{where}.{field}", str(exc)))
    for direction in ("request_headers", "response_headers"):
        if route.HasField(direction):
            errors += _check_header_changes(getattr(route, direction), f"{where}.{direction}")
    return errors


def _check_header_changes(changes: pb.HeaderChanges, where: str) -> list[ConfigError]:
    """Header changes name fields a route may change, with values that are one line."""
    errors = []
    for operation, fields in (("set", changes.set), ("add", changes.add)):
        for name, value in sorted(fields.items()):
            problem = changed_field_problem(name) or header_value_problem(value)
            if problem is not None:
                errors.append(ConfigError(f"{where}.{operation}.{name[:64]}", problem))
    for i, name in enumerate(changes.remove):
        problem = changed_field_problem(name)
        if problem is not None:
            errors.append(ConfigError(f"{where}.remove.{i}", problem))
    return errors


def _check_auth(auth: pb.AuthPolicy, where: str) -> list[ConfigError]:
    """The methods are known; the API key's field and parameter can carry one."""
    errors = []
    if not auth.methods:
        errors.append(ConfigError(f"{where}.methods", "name at least one of api_key, jwt"))
    for i, method in enumerate(auth.methods):
        if method not in AUTH_METHODS:
            errors.append(ConfigError(f"{where}.methods.{i}", f"unknown method {method[:64]!r}"))
    if auth.api_key_header:
        problem = changed_field_problem(auth.api_key_header)
        if problem is not None:
            errors.append(ConfigError(f"{where}.api_key_header", problem))
    if auth.api_key_query:
        problem = query_name_problem(auth.api_key_query)
        if problem is not None:
            errors.append(ConfigError(f"{where}.api_key_query", problem))
    if "jwt" in auth.methods and not auth.HasField("jwt"):
        errors.append(ConfigError(f"{where}.jwt", "jwt settings are required by method jwt"))
    elif auth.HasField("jwt"):
        errors += _check_jwt(auth.jwt, f"{where}.jwt")
    return errors


def _check_cors(cors: pb.CorsPolicy, where: str) -> list[ConfigError]:
    """Origins are origins, field names are names, and credentials never go to "*"."""
    errors = []
    if not cors.allow_origins:
        errors.append(ConfigError(f"{where}.allow_origins", "name at least one origin"))
    for i, origin in enumerate(cors.allow_origins):
        problem = origin_problem(origin)
        if problem is not None:
            errors.append(ConfigError(f"{where}.allow_origins.{i}", problem))
    if cors.allow_credentials and "*" in cors.allow_origins:
        errors.append(ConfigError(f"{where}.allow_credentials", 'not with the origin "*"'))
    for field in ("allow_headers", "expose_headers"):
        for i, name in enumerate(getattr(cors, field)):
            problem = header_name_problem(name)
            if problem is not None:
                errors.append(ConfigError(f"{where}.{field}.{i}", problem))
    for i, method in enumerate(cors.allow_methods):
        if not _METHOD.fullmatch(method):
            errors.append(ConfigError(f"{where}.allow_methods.{i}", "not an HTTP method"))
    return errors


def _check_jwt(jwt: pb.JwtSettings, where: str) -> list[ConfigError]:
    """Keys that load, one for each algorithm's family, and bounded numbers."""
    errors = []
    families = []
    if len(jwt.public_keys) > MAX_PUBLIC_KEYS:
        errors.append(ConfigError(f"{where}.public_keys", f"at most {MAX_PUBLIC_KEYS} keys"))
    for i, document in enumerate(jwt.public_keys[:MAX_PUBLIC_KEYS]):
        try:
            families.append(load_pem(document)[0])
        except ValueError as exc:
            errors.append(ConfigError(f"{where}.public_keys.{i}", str(exc)))
    if jwt.secret and len(jwt.secret.encode()) < MIN_SECRET_BYTES:
        errors.append(ConfigError(f"{where}.secret", f"at least {MIN_SECRET_BYTES} bytes"))
    if jwt.jwks_url and not _JWKS_URL.fullmatch(jwt.jwks_url):
        errors.append(ConfigError(f"{where}.jwks_url", "an http:// or https:// URL"))
    if not 0 <= jwt.leeway <= MAX_LEEWAY:
        errors.append(ConfigError(f"{where}.leeway", f"0 to {MAX_LEEWAY} seconds"))
    problem = jwt_keys_problem(jwt.algorithms, bool(jwt.secret), families, bool(jwt.jwks_url))
    if problem is not None and not errors:
        errors.append(ConfigError(f"{where}.algorithms", problem))
    return errors


def _compile_route_table(snapshot: pb.Snapshot) -> list[ConfigError]:
    """Compile the routes as a node does, so that what a node refuses is refused here too."""
    try:
        RouteTable.compile([(route, None) for route in snapshot.routes])
    except ConfigInvalid as exc:
        return exc.errors
    return []


def _check_tenancy(snapshot: pb.Snapshot) -> list[ConfigError]:
    errors = []
    tiers = {t.name for t in snapshot.tiers}
    tenants = {t.name for t in snapshot.tenants}
    for tenant in snapshot.tenants:
        if tenant.tier not in tiers:
            errors.append(
                ConfigError(f"tenants.{tenant.name}.tier", f"no tier named {tenant.tier!r}")
            )
    key_ids: dict[str, str] = {}
    subjects: dict[str, str] = {}
    for consumer in snapshot.consumers:
        where = f"consumers.{consumer.name}"
        if consumer.tenant and consumer.tenant not in tenants:
            errors.append(ConfigError(f"{where}.tenant", f"no tenant named {consumer.tenant!r}"))
        for i, key in enumerate(consumer.api_keys):
            if not _KEY_HASH.fullmatch(key.hash):
                errors.append(ConfigError(f"{where}.api_keys.{i}.hash", "not a sha256 hex digest"))
            if key.hash in key_ids:
                errors.append(
                    ConfigError(
                        f"{where}.api_keys.{i}",
                        f"the same key already belongs to consumer {key_ids[key.hash]!r}",
                    )
                )
            key_ids[key.hash] = consumer.name
        for i, subject in enumerate(consumer.jwt_subjects):
            if subject in subjects:
                errors.append(
                    ConfigError(
                        f"{where}.jwt_subjects.{i}",
                        f"the same subject already belongs to consumer {subjects[subject]!r}",
                    )
                )
            subjects[subject] = consumer.name
    return errors


def _check_certificates(snapshot: pb.Snapshot) -> list[ConfigError]:
    """Each chain parses in order and matches its key; an SNI name picks one certificate."""
    errors = []
    claimed: dict[str, str] = {}
    for certificate in snapshot.certificates:
        where = f"certificates.{certificate.name}"
        if len(certificate.cert) > pem.MAX_CHAIN_CHARS or len(certificate.key) > pem.MAX_KEY_CHARS:
            errors.append(ConfigError(where, "the certificate or its key is too long"))
            continue
        if not certificate.key:
            errors.append(ConfigError(f"{where}.key", MISSING_KEY))
        try:
            chain, _ = pem.check_chain(certificate.cert)
            if certificate.key:
                pem.check_key(certificate.key, chain[0])
        except ValueError as exc:
            field, _, reason = str(exc).partition(": ")
            errors.append(ConfigError(f"{where}.{field}", reason))
        if len(certificate.snis) > pem.MAX_SNIS:
            errors.append(ConfigError(f"{where}.snis", f"at most {pem.MAX_SNIS} names"))
        for i, name in enumerate(certificate.snis):
            problem = pem.sni_problem(name)
            if problem is not None:
                errors.append(ConfigError(f"{where}.snis.{i}", problem))
            elif name in claimed:
                errors.append(
                    ConfigError(
                        f"{where}.snis.{i}",
                        f"{name} is already served by certificate {claimed[name]!r}",
                    )
                )
            else:
                claimed[name] = certificate.name
    return errors
