"""A snapshot compiled from its predecessor equals one compiled from nothing, plans included.

Random sequences of changes (a route added, removed or redefined, policies included; a
service's targets; a consumer; a tier) are compiled both ways after every step. The two
configs must hold the same plans, policy objects and all, and the incremental one must
reuse exactly what may be reused: a plan whose route, service, consumers and tiers are
unchanged is the same object (its policies' state with it), a chain that reads nothing
that changed is kept, and nothing built from an input that changed is.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from fleetgate_pb import config_pb2 as pb

from data_plane.config.validate import EntityChecks, check_entities
from data_plane.limits.policy import Limiters
from data_plane.metrics import WorkerMetrics
from data_plane.policies import ConsumerDirectory
from data_plane.runtime import RoutePlan, RuntimeConfig, ServiceRuntime, compile_snapshot
from data_plane.settings import Limits

SERVICES = ["app", "api", "web"]
TIERS = ["free", "gold"]


def random_service(rng: random.Random, name: str) -> pb.Service:
    ports = rng.sample(range(20000, 20010), rng.randint(1, 3))
    return pb.Service(
        name=name, targets=[pb.Target(address=f"127.0.0.1:{port}") for port in sorted(ports)]
    )


def random_route(rng: random.Random, name: str) -> pb.Route:
    route = pb.Route(
        name=name,
        paths=[f"/{name}/{rng.choice(['a', 'b'])}/**"],
        service=rng.choice(SERVICES),
        max_body_bytes=rng.choice([0, 1024]),
    )
    if rng.random() < 0.4:
        route.rate_limit.requests_per_second = rng.choice([5, 50])
        route.rate_limit.use_tier = rng.random() < 0.5
        route.rate_limit.by = rng.choice(["consumer", "client_ip"])
    if rng.random() < 0.4:
        route.auth.methods.append("api_key")
        route.auth.anonymous = rng.random() < 0.3
    if rng.random() < 0.3:
        route.cors.allow_origins.append(rng.choice(["https://a.test", "*"]))
        route.methods.extend(["GET"])
    if rng.random() < 0.3:
        route.request_headers.set["x-team"] = rng.choice(["a", "b"])
    if rng.random() < 0.2:
        route.ip_allow.append(rng.choice(["10.0.0.0/8", "127.0.0.1/32"]))
    return route


def random_consumer(rng: random.Random, name: str) -> pb.Consumer:
    key = hashlib.sha256(f"{name}-{rng.random()}".encode()).hexdigest()
    return pb.Consumer(
        name=name,
        tenant=rng.choice(["", "acme"]),
        api_keys=[pb.ApiKey(id="k", hash=key)],
        roles=rng.sample(["read", "write"], rng.randint(0, 2)),
    )


def random_tier(rng: random.Random, name: str) -> pb.Tier:
    return pb.Tier(
        name=name, requests_per_minute=rng.choice([60, 600]), priority=rng.choice([0, 1, 2])
    )


class World:
    """The entities of a snapshot, changed one at a time."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.services = {name: random_service(rng, name) for name in SERVICES}
        self.routes = {f"r{i}": random_route(rng, f"r{i}") for i in range(14)}
        self.consumers = {f"c{i}": random_consumer(rng, f"c{i}") for i in range(3)}
        self.tiers = {name: random_tier(rng, name) for name in TIERS}
        self.added = 0

    def change(self) -> str:
        rng = self.rng
        action = rng.random()
        if action < 0.15:
            name = rng.choice(SERVICES)
            self.services[name] = random_service(rng, name)
            return "service"
        if action < 0.25:
            name = rng.choice(sorted(self.consumers))
            self.consumers[name] = random_consumer(rng, name)
            return "consumer"
        if action < 0.32:
            name = rng.choice(TIERS)
            self.tiers[name] = random_tier(rng, name)
            return "tier"
        if action < 0.45 and len(self.routes) > 2:
            del self.routes[rng.choice(sorted(self.routes))]
            return "route removed"
        if action < 0.6:
            self.added += 1
            name = f"n{self.added}"
            self.routes[name] = random_route(rng, name)
            return "route added"
        if action < 0.65:
            return "nothing"
        name = rng.choice(sorted(self.routes))
        self.routes[name] = random_route(rng, name)
        return "route changed"

    def snapshot(self, version: int) -> pb.Snapshot:
        routes = list(self.routes.values())
        self.rng.shuffle(routes)
        return pb.Snapshot(
            version=version,
            hash=f"h{version}",
            services=list(self.services.values()),
            routes=routes,
            tiers=list(self.tiers.values()),
            tenants=[pb.Tenant(name="acme", tier="gold")],
            consumers=list(self.consumers.values()),
        )


def describe(value: Any, config: RuntimeConfig, depth: int = 0) -> Any:
    """`value` as plain data, every object by its type and attributes, checking that the
    objects a plan shares with its config (services, consumers) are the config's own."""
    assert depth < 12, "too deep: a cycle?"
    if value is None or isinstance(value, str | bytes | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [describe(item, config, depth + 1) for item in value]
    if isinstance(value, frozenset | set):
        return sorted(repr(item) for item in value)
    if isinstance(value, dict):
        return sorted((repr(k), describe(v, config, depth + 1)) for k, v in value.items())
    if isinstance(value, ServiceRuntime):
        assert value is config.services[value.name]
        return ("service", value.name, value.definition)
    if isinstance(value, ConsumerDirectory):
        assert config.inputs is not None and value is config.inputs.consumers
        return ("consumers", sorted(value.by_key), sorted(value.by_subject))
    if isinstance(value, Limiters | WorkerMetrics):
        return type(value).__name__  # the worker's own
    slots = [name for cls in type(value).__mro__ for name in getattr(cls, "__slots__", ()) if name]
    if not slots and not hasattr(value, "__dict__"):
        return repr(value)
    fields = {name: getattr(value, name) for name in slots if hasattr(value, name)}
    fields.update(getattr(value, "__dict__", {}))
    return (
        type(value).__name__,
        sorted((name, describe(item, config, depth + 1)) for name, item in fields.items()),
    )


def plans_of(config: RuntimeConfig) -> dict[str, Any]:
    return {plan.name: describe(plan, config) for plan in config.plans.values()}


def test_random_change_sequences_compile_the_same_plans_both_ways() -> None:
    rng = random.Random(20261202)
    limits, metrics, limiters = Limits(), WorkerMetrics(), Limiters.private()
    reused_plans = kept_chains = 0
    for _ in range(12):
        world = World(rng)
        previous: RuntimeConfig | None = None
        before: pb.Snapshot | None = None
        for step in range(20):
            change = world.change() if step else "first"
            snapshot = world.snapshot(step + 1)
            incremental = compile_snapshot(
                snapshot, limits=limits, metrics=metrics, previous=previous, limiters=limiters
            )
            scratch = compile_snapshot(snapshot, limits=limits, metrics=metrics, limiters=limiters)
            assert plans_of(incremental) == plans_of(scratch), change
            for route in snapshot.routes:
                found = incremental.table.match("GET", "h", f"/{route.name}/a/x")
                expected = scratch.table.match("GET", "h", f"/{route.name}/a/x")
                assert repr(found and found.name) == repr(expected and expected.name)  # type: ignore[union-attr]
                if found is not None:
                    plan = found.route  # type: ignore[union-attr]
                    assert plan is incremental.plans[route.SerializeToString(deterministic=True)]
            if previous is not None and before is not None:
                reused, kept = check_reuse(previous, before, incremental, snapshot)
                reused_plans += reused
                kept_chains += kept
            previous, before = incremental, snapshot
    assert reused_plans > 1000 and kept_chains > 20  # the rules were exercised


def check_reuse(
    old: RuntimeConfig, before: pb.Snapshot, new: RuntimeConfig, after: pb.Snapshot
) -> tuple[int, int]:
    """Each plan and chain is reused exactly when nothing it was built from changed."""
    assert old.inputs is not None and new.inputs is not None
    consumers_same = _entities(before, "consumers", "tenants") == _entities(
        after, "consumers", "tenants"
    )
    tiers_same = _entities(before, "tiers", "tenants") == _entities(after, "tiers", "tenants")
    assert (new.inputs.consumers is old.inputs.consumers) == consumers_same
    assert (new.inputs.limits is old.inputs.limits) == tiers_same
    reused = kept = 0
    for route in after.routes:
        definition = route.SerializeToString(deterministic=True)
        plan: RoutePlan = new.plans[definition]
        was: RoutePlan | None = old.plans.get(definition)
        if was is None:
            assert all(plan is not p for p in old.plans.values())
            assert plan.chain is None or all(plan.chain is not p.chain for p in old.plans.values())
            continue
        service_same = new.services[route.service] is old.services[route.service]
        assert (plan is was) == (service_same and consumers_same and tiers_same)
        reused += plan is was
        if plan.chain is not None:
            chain_may_stay = (not route.HasField("auth") or consumers_same) and (
                not route.HasField("rate_limit") or tiers_same
            )
            assert (plan.chain is was.chain) == chain_may_stay
            kept += plan is not was and chain_may_stay
    return reused, kept


def _entities(snapshot: pb.Snapshot, *kinds: str) -> list[bytes]:
    return [e.SerializeToString(deterministic=True) for k in kinds for e in getattr(snapshot, k)]


def test_checks_of_a_changed_snapshot_find_what_a_full_check_finds() -> None:
    """The checks skip the routes that passed before, and find the same errors."""
    rng = random.Random(7)
    for _ in range(30):
        world = World(rng)
        snapshot = world.snapshot(1)
        definitions = [r.SerializeToString(deterministic=True) for r in snapshot.routes]
        errors, passed = EntityChecks.run(snapshot, definitions)
        assert errors == []
        for step in range(10):
            world.change()
            after = world.snapshot(step + 2)
            breakage = rng.random()
            if breakage < 0.15:  # a route claiming what another claims
                clash = pb.Route()
                clash.CopyFrom(after.routes[0])
                clash.name = "clash"
                after.routes.append(clash)
            elif breakage < 0.25:  # a route of a service that does not exist
                after.routes[-1].service = "nowhere"
            elif breakage < 0.35:  # a service gone
                del after.services[0]
            elif breakage < 0.45:  # a name used twice
                after.routes[-1].name = after.routes[0].name
            elif breakage < 0.5:
                after.routes[-1].name = "not a name"
            definitions = [r.SerializeToString(deterministic=True) for r in after.routes]
            quick, checks = EntityChecks.run(after, definitions, passed)
            assert quick == check_entities(after)
            if not quick:
                full = EntityChecks.run(after, definitions)[1]
                assert checks.routes == full.routes and checks.claimed == full.claimed
                passed = checks


def test_routes_all_redefined_reuse_the_paths_they_keep() -> None:
    """Every route redefined (a method added), none kept, too many for an incremental
    compile: the table is compiled in full, but each path pattern (a regex among them)
    is the one the config before compiled."""
    service = pb.Service(name="app", targets=[pb.Target(address="127.0.0.1:1")])
    paths = [[f"/a/{i}/*", f"~/r/{i}/[0-9]+", f"/c/{i}"] for i in range(100)]
    routes = [pb.Route(name=f"r{i}", paths=p, service="app") for i, p in enumerate(paths)]
    first_snapshot = pb.Snapshot(version=1, services=[service], routes=routes)
    metrics, limits = WorkerMetrics(), Limits()
    first = compile_snapshot(first_snapshot, limits=limits, metrics=metrics)
    second_snapshot = pb.Snapshot()
    second_snapshot.CopyFrom(first_snapshot)
    for route in second_snapshot.routes:
        route.methods.append("GET")
    second = compile_snapshot(second_snapshot, limits=limits, metrics=metrics, previous=first)
    assert not first.plans.keys() & second.plans.keys()

    def patterns(config: RuntimeConfig) -> dict[str, object]:
        return {
            pattern.source: pattern
            for parts in config.table._parts.values()
            for _, _, pattern, _ in parts.places
        }

    before, after = patterns(first), patterns(second)
    assert after.keys() == {path for route in paths for path in route}
    assert all(after[source] is before[source] for source in after)
