"""The one loader of declarative files: every problem names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_plane.config.document import ConfigFileError, read_gateway_file
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config.snapshot_config import snapshot_config
from data_plane.standalone import load_config_file


def problems_of(tmp_path: Path, text: str, name: str = "gateway.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigFileError) as raised:
        read_gateway_file(str(path))
    return [p.removeprefix(f"{path}:") for p in raised.value.problems]


def test_an_unknown_field_is_named_with_its_line(tmp_path: Path) -> None:
    text = "services:\n  - name: users\n    targets: [{address: '127.0.0.1:1'}]\n    retires: 2\n"
    assert problems_of(tmp_path, text) == ["4: services.users.retires: unknown field"]


def test_a_bad_value_deep_in_a_list_is_named_with_its_line(tmp_path: Path) -> None:
    text = (
        "services:\n"
        "  - name: users\n"
        "    targets:\n"
        "      - address: 127.0.0.1:1\n"
        "      - address: 127.0.0.1:2\n"
        "        weight: 99999\n"
    )
    [problem] = problems_of(tmp_path, text)
    assert problem.startswith("6: services.users.targets.1.weight: ")


def test_a_missing_field_is_named_at_its_entity(tmp_path: Path) -> None:
    text = "tiers: [{name: PRO}]\ntenants:\n  - name: acme\n"
    assert problems_of(tmp_path, text) == ["3: tenants.acme.tier: required field is missing"]


def test_a_snapshot_check_is_named_at_the_field_of_the_named_entity(tmp_path: Path) -> None:
    text = (
        "services:\n"
        "  - {name: users, targets: [{address: '127.0.0.1:1'}]}\n"
        "routes:\n"
        "  - name: api.v1\n"
        "    paths: [/a]\n"
        "    service: nowhere\n"
    )
    assert problems_of(tmp_path, text) == ["6: routes.api.v1.service: no service named 'nowhere'"]


def test_every_problem_of_a_file_is_listed(tmp_path: Path) -> None:
    text = "services:\n  - name: a\n    retires: 1\n  - name: b\n    retires: 2\n"
    problems = problems_of(tmp_path, text)
    assert "3: services.a.retires: unknown field" in problems
    assert "5: services.b.retires: unknown field" in problems


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, "services:\n  - name: a\n  bad: [unclosed\n")
    assert problem.startswith("4: not valid YAML or JSON") or problem.startswith(
        "3: not valid YAML or JSON"
    )
    assert "<unicode string>" not in problem


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    text = "services:\n  - name: a\n    retries: 1\n    retries: 2\n"
    assert problems_of(tmp_path, text) == ["4: retries: this key is given twice"]


def test_a_json_file_with_tabs_is_read_with_its_lines(tmp_path: Path) -> None:
    text = '{\n\t"services": [\n\t\t{"name": "a", "retires": 1}\n\t]\n}\n'
    assert problems_of(tmp_path, text, "gateway.json") == ["3: services.a.retires: unknown field"]


def test_the_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, "- a\n- b\n")
    assert problem.startswith("1: the top level must be a mapping")


def test_a_standalone_node_reads_its_file_with_the_same_loader(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text("services:\n  - name: users\n    retires: 2\n")
    with pytest.raises(ConfigFileError) as raised:
        load_config_file(str(path))
    assert str(raised.value) == f"{path}:3: services.users.retires: unknown field"


RICH = {
    "services": [
        {
            "name": "users",
            "targets": [{"address": "127.0.0.1:9001", "weight": 3}, {"address": "b:2"}],
            "load_balancer": "consistent_hash",
            "hash_key": {"source": "header", "name": "x-user"},
            "timeouts": {"connect": 1.5, "read": 9.0, "total": 20.0},
            "retries": 2,
            "health_check": {"path": "/hz", "interval": 3.0, "expected_statuses": [200, 204]},
            "circuit_breaker": {"failure_threshold": 3},
            "max_concurrent_requests": 50,
            "tags": ["team-a"],
        }
    ],
    "routes": [
        {
            "name": "users-api",
            "hosts": ["api.example.com"],
            "paths": ["/users/**", "~^/u/[0-9]+$"],
            "methods": ["GET"],
            "headers": [{"name": "x-v", "kind": "prefix", "value": "2", "invert": True}],
            "priority": 5,
            "strip_prefix": True,
            "rewrite": "/v2",
            "request_headers": {"set": {"x-a": "1"}, "add": {"x-b": "2"}, "remove": ["x-c"]},
            "response_headers": {"remove": ["server"]},
            "service": "users",
            "timeouts": {"read": 3.0},
            "max_body_bytes": 1024,
            "auth": {
                "methods": ["api_key", "jwt"],
                "api_key_query": "key",
                "roles": ["admin"],
                "jwt": {"issuer": "me", "algorithms": ["HS256"], "secret": "s" * 32},
            },
            "rate_limit": {"requests_per_minute": 10, "by": "tenant", "use_tier": False},
            "cache": {"ttl": 5.0, "vary_headers": ["accept"]},
            "cors": {"allow_origins": ["https://a.example"], "allow_credentials": True},
            "transform": {"add_query": {"a": "1"}, "remove_query": ["b"]},
            "tags": ["x"],
        }
    ],
    "tiers": [{"name": "PRO", "requests_per_hour": 100, "monthly_quota": 9, "priority": 3}],
    "tenants": [{"name": "acme", "tier": "PRO", "metadata": {"region": "eu"}}],
    "consumers": [
        {
            "name": "alice",
            "tenant": "acme",
            "roles": ["admin"],
            "api_keys": [{"id": "ci", "key": "k" * 20}],
            "jwt_subjects": ["alice@example.com"],
        },
        {"name": "bob"},
    ],
}


def test_a_snapshot_reads_back_as_the_config_it_was_built_from() -> None:
    config = GatewayConfig.model_validate(RICH)
    built = build_snapshot(config)
    again = snapshot_config(built)
    assert build_snapshot(again).hash == built.hash
    assert again.to_file_dict()["services"] == config.to_file_dict()["services"]
    assert again.to_file_dict()["consumers"] == config.to_file_dict()["consumers"]
