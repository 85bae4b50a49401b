"""A route's fields read once (`RouteFields`) are what protobuf gives field by field, and
a route read as having nothing more is compiled as its protobuf is: no policy chain, the
service's timeouts, the node's body limit."""

from __future__ import annotations

from fleetgate_pb import config_pb2 as pb
from google.protobuf.descriptor import FieldDescriptor

from data_plane.config.route_fields import RouteFields, read_route
from data_plane.config.validate import EntityChecks
from data_plane.limits.policy import Limiters
from data_plane.metrics import WorkerMetrics
from data_plane.policies import build_chain
from data_plane.runtime import _plan, _routed, compile_snapshot
from data_plane.settings import Limits

READ = {"name", "hosts", "paths", "methods", "headers", "priority", "strip_prefix", "rewrite"}
READ.add("service")


def route_with(field: FieldDescriptor) -> pb.Route:
    """A route with `field` set (to some value) and nothing else."""
    route = pb.Route()
    value = getattr(route, field.name)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.is_repeated:
            value.add()
        else:
            value.SetInParent()
    elif field.is_repeated:
        value.append("10.0.0.0/8")
    elif field.type == FieldDescriptor.TYPE_STRING:
        setattr(route, field.name, "x")
    elif field.type == FieldDescriptor.TYPE_BOOL:
        setattr(route, field.name, True)
    else:
        setattr(route, field.name, 1)
    return route


def test_every_field_but_those_read_counts_as_more() -> None:
    fields = pb.Route.DESCRIPTOR.fields
    assert {field.name for field in fields} >= READ
    for field in fields:
        assert read_route(route_with(field)).more is (field.name not in READ), field.name
    assert read_route(pb.Route()).more is False


def test_the_fields_read_are_protobufs() -> None:
    route = pb.Route(
        name="r",
        hosts=["a.example", "*.example"],
        paths=["/a/**", "/b"],
        methods=["GET", "POST"],
        headers=[pb.HeaderMatch(name="x-a", value="1")],
        priority=-3,
        strip_prefix=True,
        rewrite="/v2",
        service="s",
    )
    read = read_route(route)
    assert read.route is route
    assert read.more is False
    for name in READ:
        expected = getattr(route, name)
        got = getattr(read, name)
        if isinstance(got, list):
            assert got == list(expected), name
        else:
            assert got == expected, name
    empty = read_route(pb.Route())
    assert (empty.name, empty.hosts, empty.paths, empty.methods, empty.headers) == (
        "",
        (),
        (),
        (),
        (),
    )
    assert (empty.priority, empty.strip_prefix, empty.rewrite, empty.service) == (0, False, "", "")


def snapshot_of(*routes: pb.Route) -> pb.Snapshot:
    return pb.Snapshot(
        version=1,
        services=[pb.Service(name="s", targets=[pb.Target(address="127.0.0.1:9")])],
        routes=list(routes),
    )


def test_a_plan_is_the_same_read_or_not_and_has_the_chain_build_chain_gives() -> None:
    routes = [pb.Route(name="plain", paths=["/p"], service="s")]
    for field in pb.Route.DESCRIPTOR.fields:
        if field.name not in READ and field.name not in ("auth", "rate_limit", "cache"):
            route = route_with(field)
            route.name, route.service = field.name, "s"
            route.paths.append(f"/{field.name}")
            if field.name == "cors":
                route.cors.allow_origins.append("https://a.example")
            routes.append(route)
    routes[-1].timeouts.read = 7.0
    routes[-1].max_body_bytes = 5
    config = compile_snapshot(
        snapshot_of(*routes), limits=Limits(), metrics=WorkerMetrics(), limiters=Limiters.private()
    )
    assert config.inputs is not None
    service = config.services["s"]
    for route in routes:
        read = _plan(read_route(route), service, config.inputs, Limits(), WorkerMetrics())
        unread = _plan(route, service, config.inputs, Limits(), WorkerMetrics())
        expected = build_chain(route, config.inputs.consumers, limits=config.inputs.limits)
        assert (read.chain is None) is (expected is None), route.name
        assert (unread.chain is None) is (expected is None), route.name
        if expected is not None:
            assert type(read.chain) is type(expected)
        for plan in (read, unread):
            assert plan.max_body == (route.max_body_bytes or Limits().max_body_bytes)
            assert plan.https_only is route.https_only
            assert plan.read_timeout == (route.timeouts.read or service.timeouts[1])
    assert sum(plan.chain is not None for plan in config.plans.values()) > 3


def test_a_read_cors_route_is_routed_with_its_preflights() -> None:
    route = pb.Route(name="c", paths=["/c"], methods=["GET"], service="s")
    route.cors.allow_origins.append("https://a.example")
    routed = _routed(read_route(route))
    assert isinstance(routed, RouteFields)
    assert list(routed.methods) == ["GET", "OPTIONS"]
    assert list(route.methods) == ["GET"]
    plain = read_route(pb.Route(name="p", paths=["/p"], methods=["GET"], service="s"))
    assert _routed(plain) is plain


def test_a_full_check_leaves_the_routes_it_read_and_finds_the_same_errors() -> None:
    snapshot = snapshot_of(
        pb.Route(name="a", paths=["/a"], service="s"),
        pb.Route(name="b", paths=["a"], service="nowhere"),
        pb.Route(name="c", paths=["/a"], service="s"),
    )
    routes = snapshot.routes[:]
    errors, _ = EntityChecks.run(snapshot, routes=routes)
    assert all(isinstance(route, RouteFields) for route in routes)
    assert errors == EntityChecks.run(snapshot)[0]
    assert [e.field for e in errors] == ["routes.b.service", "routes.b.paths.0", "routes.c.paths.0"]
