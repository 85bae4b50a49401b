"""A snapshot compiled into what the hot path reads: the RuntimeConfig.

`compile_snapshot` runs the shared checks (`check_snapshot`), refuses features the
node lacks, then builds everything a request needs so that serving it is a few
lookups and attribute reads: the route table, and per route a `RoutePlan` holding
its service, timeouts, body limit, counters and policy chain. It runs in a thread,
off the event loop, and touches nothing the loop uses but the counters registry;
the result replaces the worker's config in one assignment.

A compile reuses what the previous RuntimeConfig built from the same inputs, so that a
change to one entity of 10,000 costs what that entity costs:
- a service whose definition is unchanged is carried over whole, with its balancer
  state, circuit breakers and pool of open connections;
- the consumer directory is kept while no consumer or tenant changed, and the limits
  context (tier books, priorities) while no tier or tenant changed;
- a route whose definition is unchanged keeps its plan when its service, and what its
  policies read of the snapshot (the consumer directory for auth, the limits context),
  are the very objects its plan was built with; when only those changed, it keeps its
  policy chain (with the chain's state, such as a JWT cache) if the chain reads neither;
- the checks skip what an entity alone decides for entities the previous config
  passed (see `EntityChecks`), and the route table reuses compiled patterns.
Anything else is built afresh, and a compile without `previous` builds everything: the
reference the incremental compile is tested against.
"""

from __future__ import annotations

import enum
import itertools
import math
import ssl
from collections.abc import Callable, Generator, Iterable, Iterator, KeysView, Sequence
from dataclasses import dataclass, field, replace
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from fleetgate_pb import config_pb2 as pb
from google.protobuf.message import DecodeError, Message

from data_plane.balancing import make_balancer
from data_plane.capabilities import CAPABILITIES, check_capabilities
from data_plane.config import defaults
from data_plane.config.changes import RouteChanges
from data_plane.config.errors import ConfigError, ConfigInvalid
from data_plane.config.route_fields import AnyRoute, RouteFields, fields_of, message_of, read_route
from data_plane.config.validate import EntityChecks
from data_plane.extensions import NO_EXTENSIONS
from data_plane.http.core import RoutePlan, ServicePool, ServiceRuntime
from data_plane.http.request import RequestHead, header_value
from data_plane.http.retry import RetryBudget, RetryPolicy
from data_plane.http.tls import CertificateTable, upstream_context
from data_plane.limits.bulkhead import Bulkhead
from data_plane.limits.policy import Limiters, LimitsContext
from data_plane.metrics import WorkerMetrics
from data_plane.policies import ConsumerDirectory, PolicyChain, build_chain
from data_plane.resilience.breaker import TargetBreakers
from data_plane.routing import RouteTable
from data_plane.settings import Limits

if TYPE_CHECKING:
    from data_plane.plan import HashKey

V = TypeVar("V")


# A compile that finds at most this many routes to plan again (or this share of them)
# visits only those; beyond, it looks at every route.
CHANGED_ROUTES = 64
CHANGED_SHARE = 16

# A node's retry budget (DESIGN.md): retries at most 20% of a service's requests plus
# 3 per second. Each worker keeps its own, with the node's steady rate split evenly.
RETRY_BUDGET_RATIO = 0.2
RETRY_BUDGET_PER_SECOND = 3.0


@dataclass(slots=True, eq=False)
class RuntimeConfig:
    """One compiled snapshot; immutable once swapped in."""

    version: int
    hash: str
    table: RouteTable[RoutePlan]
    services: dict[str, ServiceRuntime] = field(default_factory=dict)
    breakers: list[TargetBreakers] = field(default_factory=list)  # of the services having one
    certificates: CertificateTable | None = None  # None: no certificate to serve
    # What the next compile may reuse (see the module's docstring)
    plans: dict[bytes, RoutePlan] = field(default_factory=dict)  # by route definition
    inputs: PlanInputs | None = None
    checks: EntityChecks | None = None

    def retire(self, keep: Sequence[RouteTable[Any] | None] = ()) -> Iterator[None]:
        """Let go of this config, which serves no more, a piece per step: its table (see
        `RouteTable.dismantle`, which leaves what the tables in `keep` share), then what
        only a next compile would have read, the plans by key and the checks' records.
        Each is a dict of every route, whose freeing visits every entry: dropped at
        once, the old config of a one-route change held the loop about a millisecond."""
        yield from self.table.dismantle(keep=keep)
        self.plans = {}
        yield
        checks, self.checks = self.checks, None
        if checks is not None:
            yield from checks.retire()

    def __repr__(self) -> str:
        return f"<RuntimeConfig v{self.version} {self.hash[:12]} {self.table!r}>"


@dataclass(slots=True, eq=False)
class PlanInputs:
    """What the plans of a snapshot read beyond their own route and service, with the
    serialized entities each was built from: equal bytes, the same object is reused."""

    consumers: ConsumerDirectory
    consumers_key: bytes  # the tenants and consumers
    limits: LimitsContext
    limits_key: bytes  # the tiers and tenants

    @classmethod
    def of(
        cls,
        snapshot: pb.Snapshot,
        limiters: Limiters,
        metrics: WorkerMetrics,
        previous: PlanInputs | None,
    ) -> PlanInputs:
        tenants = _serialized(snapshot.tenants)
        consumers_key = tenants + b"|" + _serialized(snapshot.consumers)
        limits_key = tenants + b"|" + _serialized(snapshot.tiers)
        if previous is not None and previous.consumers_key == consumers_key:
            consumers = previous.consumers
        else:
            consumers = ConsumerDirectory.from_snapshot(snapshot)
        if (
            previous is not None
            and previous.limits_key == limits_key
            and previous.limits.limiters is limiters
            and previous.limits.metrics is metrics
        ):
            context = previous.limits
        else:
            # Only what a limits context reads: it keeps its snapshot, and this one is
            # reused for as long as the tiers stay, long after the routes changed.
            context = LimitsContext(
                limiters, pb.Snapshot(tiers=snapshot.tiers, tenants=snapshot.tenants), metrics
            )
        if previous is not None and consumers is previous.consumers and context is previous.limits:
            return previous
        return cls(consumers, consumers_key, context, limits_key)


def _serialized(entities: Iterable[Message]) -> bytes:
    return b"".join(
        b"%d:%s" % (len(data), data)
        for data in (entity.SerializeToString(deterministic=True) for entity in entities)
    )


@dataclass(slots=True, frozen=True)
class Definitions:
    """A snapshot's services and routes, each serialized deterministically: the keys by
    which a compile finds what the previous one built from the same entity."""

    services: list[bytes]
    routes: list[bytes]
    # The positions where `routes` differ from the routes of the snapshot before (the
    # list given), found while reading them (`SnapshotView`); None: not known.
    moved: tuple[list[bytes], list[int]] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, snapshot: pb.Snapshot) -> Definitions:
        """Each entity of `snapshot` serialized: about 10 ms for 10,000 routes."""
        return cls(
            [service.SerializeToString(deterministic=True) for service in snapshot.services],
            [route.SerializeToString(deterministic=True) for route in snapshot.routes],
        )

    @classmethod
    def read(cls, payload: bytes) -> Definitions:
        """The entities of a serialized snapshot as they lie in `payload`: for one
        serialized deterministically, the bytes `of` makes, read in C (about 0.3 ms for
        10,000 routes). (Of another, an entity with a map may lie in it as other bytes
        than the last time: it is then compiled again, never wrongly reused.)"""
        return SnapshotView(payload).definitions


class SnapshotView:
    """A serialized snapshot as a compile reads it: the routes a change to a few of them
    looks at are parsed one by one, when read, and none of the others.

    Its fields read as a `pb.Snapshot`'s. Parsed from `pb.SnapshotEntities`, services
    and routes stay the bytes they lie in the payload as (its `definitions`), each
    service parsed at the first read of `services` (they are few), each route at the
    first read of it; the other fields are parsed at once. At 10,000 routes that is
    about 0.3 ms against 0.65 ms for parsing the whole snapshot and reading the
    entities' bytes apart. A compile that goes on to look at every route calls
    `whole()`: from then on every field is read from the whole snapshot, parsed at
    the first read (in the compile's thread, not on the loop).
    """

    __slots__ = ("_entities", "_payload", "_routes", "_services", "_whole", "definitions")

    def __init__(self, payload: bytes, before: Sequence[bytes] = ()) -> None:
        """`before`: the routes of the snapshot before, serialized: each route of this
        one equal to the one at its position there is taken as that object (see
        `config/entries.pyx`), which spares making one per route and comparing each."""
        entities = pb.SnapshotEntities.FromString(payload)
        self._payload = payload
        self._entities = entities
        found = None
        if before and _entries is not None and isinstance(before, list):
            found = _entries(payload, pb.Snapshot.ROUTES_FIELD_NUMBER, before)
        services = list(entities.services)
        if found is None:
            self.definitions = Definitions(services, list(entities.routes))
        else:
            assert isinstance(before, list)
            self.definitions = Definitions(services, found[0], (before, found[1]))
        self._services: list[pb.Service] | None = None
        self._routes: _ParsedRoutes | None = None
        self._whole: pb.Snapshot | bool = False  # True: wanted, not parsed yet

    @classmethod
    def checked(cls, payload: bytes, before: Sequence[bytes] = ()) -> SnapshotView:
        """The view of `payload` if it parses as a whole `pb.Snapshot`, else the
        DecodeError that parse raises (the same text).

        `before`: the routes (`definitions.routes`) of a view checked so before. Every
        service is parsed, and every route that is not the same bytes at the same
        position in `before`: those were parsed when they came. That is the one or
        two routes of a one-route change, where the whole parse reads 10,000 (about
        0.37 ms of the supervisor's CPU at 10,000 routes, against about 0.1 ms).
        Without `before`, with many routes changed, or when something does not parse,
        the whole is parsed.
        """
        view = None
        try:
            view = cls(payload, before)
            moved = view.definitions.moved
            count = len(view.definitions.routes)
            # A route parsed alone costs about ten times its share of a whole parse:
            # beyond as many routes as a compile plans one by one, the whole is parsed.
            if moved is not None and len(moved[1]) + max(0, count - len(moved[0])) <= max(
                CHANGED_ROUTES, count // CHANGED_SHARE
            ):
                view.parse(itertools.chain(moved[1], range(len(moved[0]), count)))
                return view
        except DecodeError:
            pass
        whole = pb.Snapshot.FromString(payload)  # raises what is wrong, as it would have
        if view is None:
            view = cls(payload)
        view._whole = whole
        return view

    def parse(self, positions: Iterable[int]) -> None:
        """Parse every service, and the routes at `positions`, now (reading one parses it)."""
        _ = self.services
        routes = self.routes
        for i in positions:
            _ = routes[i]

    def whole(self) -> None:
        """Read every field from the whole snapshot from now on."""
        if self._whole is False:
            self._whole = True

    def snapshot(self) -> pb.Snapshot:
        """The whole snapshot, parsed now unless it was already."""
        self.whole()
        whole = self._snapshot()
        assert whole is not None
        return whole

    def _snapshot(self) -> pb.Snapshot | None:
        """The whole snapshot, parsed at the first read after `whole()`; None before."""
        whole = self._whole
        if whole is True:
            whole = self._whole = pb.Snapshot.FromString(self._payload)
        return None if whole is False else whole

    @property
    def services(self) -> Sequence[pb.Service]:
        whole = self._snapshot()
        if whole is not None:
            return whole.services
        if self._services is None:
            self._services = [pb.Service.FromString(d) for d in self.definitions.services]
        return self._services

    @property
    def routes(self) -> Sequence[pb.Route]:
        whole = self._snapshot()
        if whole is not None:
            return whole.routes
        if self._routes is None:
            self._routes = _ParsedRoutes(self.definitions.routes)
        return self._routes

    def __getattr__(self, name: str) -> Any:
        # Any other field: the entities' parse holds it as the whole snapshot does.
        whole = self._snapshot()
        return getattr(self._entities if whole is None else whole, name)

    def __repr__(self) -> str:
        return f"<SnapshotView v{self._entities.version} routes={len(self.definitions.routes)}>"


def _compiled_entries() -> (
    Callable[[bytes, int, list[bytes]], tuple[list[bytes], list[int]] | None] | None
):
    """The compiled `entries` (config/entries.pyx), unless it is not built or
    extensions are switched off."""
    if NO_EXTENSIONS:
        return None
    try:
        from data_plane.config.entries import entries
    except ImportError:
        return None
    return entries


_entries = _compiled_entries()


class _ParsedRoutes(Sequence[pb.Route]):
    """Routes parsed from their bytes when read, each once."""

    __slots__ = ("_definitions", "_parsed")

    def __init__(self, definitions: list[bytes]) -> None:
        self._definitions = definitions
        self._parsed: dict[int, pb.Route] = {}

    def __len__(self) -> int:
        return len(self._definitions)

    @overload
    def __getitem__(self, index: int) -> pb.Route: ...

    @overload
    def __getitem__(self, index: slice) -> list[pb.Route]: ...

    def __getitem__(self, index: int | slice) -> pb.Route | list[pb.Route]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._definitions))[index]]
        if index < 0:
            index += len(self._definitions)
        route = self._parsed.get(index)
        if route is None:
            route = self._parsed[index] = pb.Route.FromString(self._definitions[index])
        return route


class Work(enum.Enum):
    """What the step of a compile that follows costs (see `compile_steps`)."""

    SHORT = "about a millisecond at most: fit to run between two turns of an event loop"
    LONG = "the rest of a full compile: hundreds of milliseconds at 10,000 routes"


# A generator of a compile's steps, each announced by what it costs; it returns the config.
CompileSteps = Generator[Work, None, "RuntimeConfig"]

# At most this many routes planned in one short step, and this many changed routes (or
# routes of changed services) for a compile to stay short; beyond, it is long.
PLANS_PER_STEP = 16
SHORT_CHANGES = 32


def compile_snapshot(
    snapshot: pb.Snapshot,
    *,
    limits: Limits,
    metrics: WorkerMetrics,
    previous: RuntimeConfig | None = None,
    capabilities: frozenset[str] = CAPABILITIES,
    workers: int = 1,
    limiters: Limiters | None = None,
    serialized: Definitions | None = None,
) -> RuntimeConfig:
    """The RuntimeConfig of `snapshot`; raises ConfigInvalid or ApplyError.

    `workers`: how many workers of the node share its allowances (the retry budget's
    steady rate). `limiters`: the worker's rate-limit backends (a private table when
    not given). `serialized`: the snapshot's entities as they arrived, when it was
    parsed from bytes serialized deterministically (`Definitions.read`); else each is
    serialized here.
    """
    steps = compile_steps(
        snapshot,
        limits=limits,
        metrics=metrics,
        previous=previous,
        capabilities=capabilities,
        workers=workers,
        limiters=limiters,
        serialized=serialized,
    )
    return finish(steps)


def finish(steps: CompileSteps) -> RuntimeConfig:
    """Run the steps of a compile that are left, at once; the config they make."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            config: RuntimeConfig = done.value
            return config


def compile_payload(
    payload: bytes,
    *,
    limits: Limits,
    metrics: WorkerMetrics,
    previous: RuntimeConfig | None = None,
    workers: int = 1,
    limiters: Limiters | None = None,
) -> CompileSteps:
    """The steps of compiling a serialized snapshot, its parse first: a worker runs the
    short ones on its event loop and the rest in a thread (see docs/config-swap.md).

    The snapshot is read as a `SnapshotView`: a change to a few routes parses those
    routes alone; the first long step has the rest read from the whole snapshot."""
    checked = None if previous is None else previous.checks
    view = SnapshotView(payload, () if checked is None else checked.definitions)
    yield Work.SHORT
    steps = compile_steps(
        cast(pb.Snapshot, view),
        limits=limits,
        metrics=metrics,
        previous=previous,
        workers=workers,
        limiters=limiters,
        serialized=view.definitions,
    )
    while True:
        try:
            work = next(steps)
        except StopIteration as done:
            config: RuntimeConfig = done.value
            return config
        if work is Work.LONG:
            view.whole()
        yield work


def compile_steps(
    snapshot: pb.Snapshot,
    *,
    limits: Limits,
    metrics: WorkerMetrics,
    previous: RuntimeConfig | None = None,
    capabilities: frozenset[str] = CAPABILITIES,
    workers: int = 1,
    limiters: Limiters | None = None,
    serialized: Definitions | None = None,
) -> CompileSteps:
    """`compile_snapshot` a step at a time: before each step it yields what the step
    costs. A change to a few routes of a config is short steps only; the first step
    that would look at every route (a full check or compile) is announced LONG, and
    everything after it is the rest of that full compile."""
    if serialized is None:
        yield Work.LONG  # serializing every entity
        serialized = Definitions.of(snapshot)
    definitions = serialized.routes
    checked = None if previous is None else previous.checks
    # More changed routes than a compile plans one by one: it looks at every route.
    limit = max(CHANGED_ROUTES, len(definitions) // CHANGED_SHARE)
    changes = None if checked is None else _changes(checked, serialized, limit)
    yield Work.SHORT
    checks = None
    if checked is not None and changes is not None:
        checks = checked.after(snapshot, definitions, changes, serialized.services)
    # A full compile reads every route several times (checks, table, plans): each pass
    # over `snapshot.routes` makes a Python object per route unless one is alive, as
    # these keep them (at 10,000 routes, about a millisecond a pass), and the checks
    # replace each route they read in full by its fields, which the other passes read.
    alive: list[AnyRoute] = []
    if checks is None:
        yield Work.LONG
        alive = snapshot.routes[:]
        # The route table's own errors come from compiling it below, as
        # `check_snapshot` would report them.
        errors, checks = EntityChecks.run(
            snapshot, definitions, services=serialized.services, before=checked, routes=alive
        )
        if errors:
            raise ConfigInvalid(errors)
    check_capabilities(snapshot, capabilities)
    if limiters is None:  # the previous compile's private table, else a new one
        held = None if previous is None or previous.inputs is None else previous.inputs.limits
        limiters = Limiters.private() if held is None else held.limiters
    services: dict[str, ServiceRuntime] = {}
    for service, definition in zip(snapshot.services, serialized.services, strict=True):
        old = None if previous is None else previous.services.get(service.name)
        if old is not None and old.definition == definition:
            services[service.name] = old
        else:
            yield Work.SHORT
            services[service.name] = _compile_service(
                service, definition, limits, metrics, workers, limiters
            )
    yield Work.SHORT
    inputs = PlanInputs.of(
        snapshot, limiters, metrics, None if previous is None else previous.inputs
    )
    changed = None
    if previous is not None and previous.inputs is inputs and changes is not None:
        changed = yield from _changed_plans(
            snapshot, definitions, changes, previous, services, limits, metrics
        )
    if changed is None:
        yield Work.LONG
        routes = alive or snapshot.routes[:]
        changed = _all_plans(routes, definitions, previous, services, inputs, limits, metrics)
    plans, table = changed
    # The plans, the checks and the table each key every route by its serialized bytes.
    # One rebuilt from this snapshot's bytes beside another carried over from the
    # previous config would hold a second copy of every key (0.8 MB at 10,000 routes)
    # until both are rebuilt: all take the table's.
    keys = table.definitions()
    plans = _keyed_by(plans, keys)
    checks = replace(checks, routes=_keyed_by(checks.routes, keys))
    breakers = [s.breakers for s in services.values() if s.breakers is not None]
    certificates = None
    if snapshot.certificates:
        old_table = None if previous is None else previous.certificates
        certificates = CertificateTable.compile(list(snapshot.certificates), old_table)
    return RuntimeConfig(
        snapshot.version,
        snapshot.hash,
        table,
        services,
        breakers,
        certificates,
        plans=plans,
        inputs=inputs,
        checks=checks,
    )


def _changes(checked: EntityChecks, serialized: Definitions, limit: int) -> RouteChanges | None:
    """`checked.changes` of the routes of `serialized`: from the positions where they
    differ, when those were found already against the routes `checked` ran on."""
    moved = serialized.moved
    before = checked.definitions
    if (
        moved is None
        or moved[0] is not before
        or len(before) != len(checked.routes)
        or len(before) != len(serialized.routes)
    ):
        return checked.changes(serialized.routes, limit)
    return RouteChanges.at(before, checked.routes.keys(), serialized.routes, moved[1], limit)


def _keyed_by(mapping: dict[bytes, V], keys: KeysView[bytes]) -> dict[bytes, V]:
    """`mapping` keyed by the very objects of `keys` (equal to its own keys): rebuilt
    only when its first key is not the first of `keys`, which a compile that carried
    both over from the previous config keeps."""
    if len(mapping) != len(keys) or not keys or next(iter(mapping)) is next(iter(keys)):
        return mapping
    return {key: mapping[key] for key in keys}


def _all_plans(
    routes: list[AnyRoute],
    definitions: list[bytes],
    previous: RuntimeConfig | None,
    services: dict[str, ServiceRuntime],
    inputs: PlanInputs,
    limits: Limits,
    metrics: WorkerMetrics,
) -> tuple[dict[bytes, RoutePlan], RouteTable[RoutePlan]]:
    """Every route's plan, reused where it may be, and the table: looking at each route."""
    old_inputs = None if previous is None else previous.inputs
    known = {} if previous is None or old_inputs is None else previous.plans
    plans: dict[bytes, RoutePlan] = {}
    routed: list[tuple[AnyRoute, RoutePlan]] = []
    for route, definition in zip(routes, definitions, strict=True):
        plan = known.get(definition)
        if plan is None or old_inputs is None:
            route = fields_of(route)
            plan = _plan(route, services[route.service], inputs, limits, metrics)
        elif old_inputs is not inputs or services.get(plan.service.name) is not plan.service:
            # (a plan's service is its route's: the name is in the route's definition)
            service = services[route.service]
            plan = _replan(route, plan, service, inputs, old_inputs, limits, metrics)
        plans[definition] = plan
        routed.append((_routed(route), plan))
    # A table that shares no route with the previous one is compiled in full at once,
    # which spares looking at every route for what it might keep; it still reuses the
    # paths the previous one compiled (routes redefined keep most of their paths).
    shared = previous is not None and not plans.keys().isdisjoint(previous.plans.keys())
    table = RouteTable.compile(
        routed,
        None if previous is None else previous.table,
        definitions=definitions,
        update=shared,
    )
    return plans, table


def _changed_plans(
    snapshot: pb.Snapshot,
    definitions: list[bytes],
    changes: RouteChanges,
    previous: RuntimeConfig,
    services: dict[str, ServiceRuntime],
    limits: Limits,
    metrics: WorkerMetrics,
) -> Generator[Work, None, tuple[dict[bytes, RoutePlan], RouteTable[RoutePlan]] | None]:
    """The plans and table of a snapshot whose plan inputs are `previous`'s, visiting only
    the routes that changed (`changes`, from `previous`'s routes) or whose service did;
    None when too many did (or the table needs a full compile): then every route is
    looked at. Its steps are short, or announced long when many routes are planned."""
    inputs = previous.inputs
    assert inputs is not None
    known = previous.plans
    removed = changes.removed
    if len(known) + len(changes.added) - len(removed) != len(definitions):
        return None  # plans and checks of different snapshots: not from one compile
    plans = known.copy()  # (dict() would not copy a dict with holes at once)
    for definition in removed:
        del plans[definition]
    redo = list(changes.added)
    gone = {name for name, old in previous.services.items() if services.get(name) is not old}
    if gone:
        where = {d: i for i, d in enumerate(definitions)}
        redo += [where[d] for d, plan in plans.items() if plan.service.name in gone]
    if len(redo) + len(removed) > max(CHANGED_ROUTES, len(definitions) // CHANGED_SHARE):
        return None
    long = len(redo) + len(removed) > SHORT_CHANGES
    yield Work.LONG if long else Work.SHORT
    changed: list[tuple[pb.Route, RoutePlan, bytes]] = []
    for planned, i in enumerate(redo, 1):
        if not long and planned % PLANS_PER_STEP == 0:
            yield Work.SHORT
        definition = definitions[i]
        route = snapshot.routes[i]
        service = services[route.service]
        old = plans.get(definition)
        if old is None:
            plan = _plan(route, service, inputs, limits, metrics)
        else:  # its service changed, nothing its chain reads did
            plan = _plan(route, service, inputs, limits, metrics, old.chain)
        plans[definition] = plan
        changed.append((_routed(route), plan, definition))
    redefined = {definition for _, _, definition in changed if definition in known}
    if not long:
        yield Work.SHORT
    table = previous.table.updated(removed | redefined, changed, len(definitions))
    return None if table is None else (plans, table)


def _compile_service(
    service: pb.Service,
    definition: bytes,
    limits: Limits,
    metrics: WorkerMetrics,
    workers: int,
    limiters: Limiters,
) -> ServiceRuntime:
    balancer = make_balancer(service)
    counters = metrics.service(service.name)
    timeouts = service.timeouts
    target_counters = tuple(metrics.target(service.name, t.address) for t in balancer.targets)
    breakers = None
    if service.HasField("circuit_breaker") and service.circuit_breaker.enabled:
        breakers = TargetBreakers(service.name, balancer, service.circuit_breaker, target_counters)
    check = service.health_check
    checked = service.HasField("health_check") and check.enabled
    tls = None
    if service.HasField("tls"):
        try:
            tls = upstream_context(service.tls)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigInvalid(
                [ConfigError(f"services.{service.name}.tls", f"does not load: {exc}")]
            ) from None
    return ServiceRuntime(
        name=service.name,
        definition=definition,
        balancer=balancer,
        pool=ServicePool(
            counters,
            target_counters,
            max_idle=limits.upstream_max_idle,
            idle_timeout=limits.upstream_idle_timeout,
        ),
        counters=counters,
        host_lines=tuple(b"Host: %s\r\n" % t.address.encode() for t in balancer.targets),
        timeouts=(
            timeouts.connect or defaults.CONNECT_TIMEOUT,
            timeouts.read or defaults.READ_TIMEOUT,
            timeouts.total,
            timeouts.per_try,
        ),
        retry_policy=RetryPolicy(service.retries, non_idempotent=service.retry_non_idempotent),
        retry_budget=RetryBudget(
            ratio=RETRY_BUDGET_RATIO, per_second=RETRY_BUDGET_PER_SECOND / max(1, workers)
        ),
        max_concurrent=service.max_concurrent_requests,
        hash_key=_hash_key(service) if service.load_balancer == pb.CONSISTENT_HASH else None,
        observe=balancer.observe if service.load_balancer == pb.EWMA else None,
        target_counters=target_counters,
        breakers=breakers,
        # A target that failed its checks is back after healthy_threshold passes.
        retry_after=math.ceil(check.interval * check.healthy_threshold) if checked else 1,
        bulkhead=(
            Bulkhead(service.name, service.max_concurrent_requests, limiters.inflight)
            if service.max_concurrent_requests
            else None
        ),
        tls=tls,
        server_names=tuple(service.tls.sni or t.host for t in balancer.targets) if tls else (),
    )


def _routed(route: AnyRoute) -> AnyRoute:
    """The route as the table matches it: one with CORS also takes its OPTIONS preflights
    (its policy answers them, and refuses other OPTIONS requests if the route does)."""
    if isinstance(route, RouteFields):
        if not route.more:
            return route  # no CORS policy
        message = _routed(route.route)
        return route if message is route.route else read_route(message)
    if not route.HasField("cors") or not route.methods or "OPTIONS" in route.methods:
        return route
    routed = pb.Route()
    routed.CopyFrom(route)
    routed.methods.append("OPTIONS")
    return routed


def _plan(
    unread: AnyRoute,
    service: ServiceRuntime,
    inputs: PlanInputs,
    limits: Limits,
    metrics: WorkerMetrics,
    chain: PolicyChain | Literal[False] | None = False,
) -> RoutePlan:
    """The plan of a route; `chain`: its policy chain already built (False: build it)."""
    fields = fields_of(unread)
    name = fields.name
    connect, read, total, per_try = service.timeouts
    max_body, https_only = limits.max_body_bytes, False
    if not fields.more:
        # No policy, timeouts, body limit or https_only: build_chain would find none.
        chain = None if chain is False else chain
    else:
        route = fields.route
        if route.HasField("timeouts"):
            connect = route.timeouts.connect or connect
            read = route.timeouts.read or read
            total = route.timeouts.total or total
            per_try = route.timeouts.per_try or per_try
        if chain is False:
            chain = build_chain(route, inputs.consumers, limits=inputs.limits)
        max_body = route.max_body_bytes or max_body
        https_only = route.https_only
    # (name, service, counters, chain, max_body, connect, read, total and per-try
    # timeouts, priorities, https_only): positional, quicker than by keyword.
    return RoutePlan(
        name,
        service,
        metrics.route(name, service.name),
        chain,
        max_body,
        connect,
        read,
        total,
        per_try,
        inputs.limits.priorities,
        https_only,
    )


def _replan(
    unread: AnyRoute,
    old: RoutePlan,
    service: ServiceRuntime,
    inputs: PlanInputs,
    old_inputs: PlanInputs,
    limits: Limits,
    metrics: WorkerMetrics,
) -> RoutePlan:
    """The plan of an unchanged `route` whose service or snapshot-wide inputs changed:
    its old chain is kept when it reads none of what changed."""
    route = message_of(unread)
    keeps_chain = (not route.HasField("auth") or inputs.consumers is old_inputs.consumers) and (
        not route.HasField("rate_limit") or inputs.limits is old_inputs.limits
    )
    return _plan(unread, service, inputs, limits, metrics, old.chain if keeps_chain else False)


def _hash_key(service: pb.Service) -> HashKey:
    source = service.hash_key.source
    name = service.hash_key.name
    if source == pb.HashKey.HEADER:
        field_name = name.lower().encode()

        def from_header(head: RequestHead, client: str) -> str | None:
            value = header_value(head, field_name)
            return None if value is None else value.decode("latin-1")

        return from_header
    if source == pb.HashKey.COOKIE:

        def from_cookie(head: RequestHead, client: str) -> str | None:
            value = header_value(head, b"cookie")
            if value is None:
                return None
            try:
                morsel = SimpleCookie(value.decode("latin-1")).get(name)
            except CookieError:
                return None
            return None if morsel is None else morsel.value

        return from_cookie

    def from_client(head: RequestHead, client: str) -> str | None:
        return client

    return from_client
