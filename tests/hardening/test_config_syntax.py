"""Names, hosts, addresses and header fields are checked whole: no trailing line feed,
no control character, no field that belongs to the gateway, no port in foreign digits."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fleetgate_pb import config_pb2 as pb
from pydantic import ValidationError

from data_plane.config.model import (
    GatewayConfig,
    HeaderChangesSpec,
    HeaderMatchSpec,
    RouteSpec,
    ServiceSpec,
    TargetSpec,
)
from data_plane.config.syntax import GATEWAY_FIELDS, parse_host_port
from data_plane.config.validate import check_snapshot


def refused(model: type[Any], **fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(fields)
    return str(caught.value)


# ---------------------------------------------------------------- a trailing line feed


@pytest.mark.parametrize("name", ["X-A\n", "X-A\r", "X A", "X-A\x00", "", "é"])
def test_a_header_name_must_be_a_whole_token(name: str) -> None:
    refused(HeaderChangesSpec, set={name: "v"})
    refused(HeaderChangesSpec, remove=[name])
    refused(HeaderMatchSpec, name=name)


def test_a_route_host_with_a_trailing_line_feed_is_refused() -> None:
    assert "host" in refused(RouteSpec, name="r", paths=["/"], service="s", hosts=["a.com\n"])


def test_an_entity_name_with_a_trailing_line_feed_is_refused() -> None:
    refused(ServiceSpec, name="users\n")


# ---------------------------------------------------------------- header values


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "a\x1bb", "a\x7fb", "a\x0bb"])
def test_a_header_value_holds_no_control_character(value: str) -> None:
    assert "control" in refused(HeaderChangesSpec, set={"x-a": value})
    assert "control" in refused(HeaderChangesSpec, add={"x-a": value})
    assert "control" in refused(HeaderMatchSpec, name="x-a", value=value)


def test_a_header_value_may_hold_a_tab() -> None:
    assert HeaderChangesSpec(set={"x-a": "a\tb"}).set == {"x-a": "a\tb"}


# ---------------------------------------------------------------- fields of the gateway


@pytest.mark.parametrize("name", [*sorted(GATEWAY_FIELDS), "Content-Length", "HOST"])
def test_header_changes_may_not_name_a_field_of_the_gateway(name: str) -> None:
    for changes in ({"set": {name: "1"}}, {"add": {name: "1"}}, {"remove": [name]}):
        assert "belongs to the gateway" in refused(HeaderChangesSpec, **changes)


def test_framing_and_hop_by_hop_fields_are_among_those_of_the_gateway() -> None:
    assert {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    } <= GATEWAY_FIELDS


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1:\u0668\u0660",  # Arabic-Indic 80
        "127.0.0.1:\uff18\uff10",  # full-width 80
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:+80",
        "127.0.0.1: 80",
        "a\x00b:80",
        "a\x01:80",
        "a b:80",
        "a/b:80",
        "user@a:80",
        "::1:80",
        "[not-v6]:80",
        ":80",
        "a:",
        "a" * 300 + ":80",
    ],
)
def test_a_target_address_is_host_and_port_in_ascii_digits(address: str) -> None:
    refused(TargetSpec, address=address)
    with pytest.raises(ValueError):
        parse_host_port(address)


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("127.0.0.1:9001", ("127.0.0.1", 9001)),
        ("[::1]:80", ("::1", 80)),
        ("users.internal:65535", ("users.internal", 65535)),
        ("my_service:1", ("my_service", 1)),
    ],
)
def test_host_and_port_are_read_one_way(address: str, parsed: tuple[str, int]) -> None:
    assert parse_host_port(address) == parsed


# ---------------------------------------------------------------- strict values


@pytest.mark.parametrize(
    "target", [{"weight": True}, {"weight": "2"}, {"weight": 2.0}, {"address": 80}]
)
def test_values_are_not_coerced(target: dict[str, Any]) -> None:
    refused(TargetSpec, **{"address": "127.0.0.1:80", **target})


# ---------------------------------------------------------------- bounds


def test_strings_and_lists_of_a_config_are_bounded() -> None:
    assert "at most" in refused(RouteSpec, name="r", paths=["/" + "a" * 5000], service="s")
    assert "at most" in refused(
        RouteSpec, name="r", paths=[f"/{i}" for i in range(1001)], service="s"
    )
    refused(
        GatewayConfig,
        tenants=[{"name": "t", "tier": "T", "metadata": {"k": "v" * 5000}}],
    )


def test_no_string_of_a_config_holds_nul_or_a_line_break() -> None:
    refused(GatewayConfig, tenants=[{"name": "t", "tier": "T", "metadata": {"k": "a\x00"}}])
    refused(GatewayConfig, consumers=[{"name": "c", "roles": ["admin\n"]}])
    refused(ServiceSpec, name="s", tags=["a\x00"])


# ---------------------------------------------------------------- the snapshot checks


def snapshot(**route: Any) -> pb.Snapshot:
    return pb.Snapshot(
        services=[pb.Service(name="svc", targets=[pb.Target(address="127.0.0.1:9", weight=1)])],
        routes=[pb.Route(name="r", paths=["/**"], service="svc", **route)],
    )


def messages(s: pb.Snapshot) -> str:
    return "; ".join(str(e) for e in check_snapshot(s))


def test_the_snapshot_checks_refuse_a_gateway_field_in_header_changes() -> None:
    changes = pb.HeaderChanges(set={"Content-Length": "0"})
    assert "belongs to the gateway" in messages(snapshot(response_headers=changes))
    changes = pb.HeaderChanges(remove=["Host"])
    assert "belongs to the gateway" in messages(snapshot(request_headers=changes))


def test_the_snapshot_checks_refuse_a_header_name_with_a_line_feed() -> None:
    assert "header name" in messages(snapshot(request_headers=pb.HeaderChanges(add={"X-A\n": "v"})))
    match = pb.HeaderMatch(name="x-a\n", kind=pb.HeaderMatch.EXACT, value="v")
    assert "header name" in messages(snapshot(headers=[match]))


def test_the_snapshot_checks_refuse_a_control_character_in_a_header_value() -> None:
    changes = pb.HeaderChanges(set={"x-a": "v\r\nX-Injected: 1"})
    assert "control" in messages(snapshot(response_headers=changes))


def test_the_snapshot_checks_refuse_a_bad_target_address_and_entity_name() -> None:
    s = snapshot()
    s.services[0].targets[0].address = "127.0.0.1:80\r\nX: y"
    assert "services.svc.targets.0.address" in messages(s)
    s = snapshot()
    s.routes[0].name = "r\n"
    assert "routes.0.name" in messages(s)


def test_a_field_declared_longer_than_text_is_a_document_with_line_breaks() -> None:
    from pydantic import Field

    from data_plane.config.model import Spec

    class Keys(Spec):
        chain: Annotated[str, Field(max_length=65_536)] = "x"
        keys: list[Annotated[str, Field(max_length=16_384)]] = Field(default_factory=list)
        note: str = ""

    pem = "-----BEGIN CERTIFICATE-----\n" + "A" * 5000 + "\n-----END CERTIFICATE-----\n"
    assert Keys(chain=pem, keys=[pem]).chain == pem
    refused(Keys, note="a\nb")  # undeclared: one line of text
    refused(Keys, chain="a\x00b")  # a document still holds no NUL
