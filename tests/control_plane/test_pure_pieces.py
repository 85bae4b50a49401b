"""Pure pieces of the control plane: merge patch, the config diff, the request-id rule."""

from __future__ import annotations

import pytest

from control_plane.api.metrics import route_template
from control_plane.diff import diff_entities
from control_plane.store.merge_patch import merge_patch


def test_merge_patch_replaces_given_fields_and_keeps_the_others() -> None:
    assert merge_patch({"a": 1, "b": 2}, {"b": 3}) == {"a": 1, "b": 3}


def test_merge_patch_null_removes_a_field() -> None:
    assert merge_patch({"a": 1, "b": 2}, {"b": None}) == {"a": 1}


def test_merge_patch_merges_objects_recursively() -> None:
    target = {"timeouts": {"connect": 2.0, "read": 30.0}}
    assert merge_patch(target, {"timeouts": {"read": 5.0}}) == {
        "timeouts": {"connect": 2.0, "read": 5.0}
    }


def test_merge_patch_replaces_lists_whole() -> None:
    assert merge_patch({"tags": ["a", "b"]}, {"tags": ["c"]}) == {"tags": ["c"]}


def test_merge_patch_leaves_its_arguments_unchanged() -> None:
    target, patch = {"x": {"y": 1}}, {"x": {"y": None}}
    assert merge_patch(target, patch) == {"x": {}}
    assert target == {"x": {"y": 1}} and patch == {"x": {"y": None}}


def test_diff_sorts_entities_by_name_into_added_removed_changed() -> None:
    before = {"tiers": {"A": {"name": "A"}, "B": {"name": "B", "priority": 1}}}
    after = {"tiers": {"B": {"name": "B", "priority": 2}, "C": {"name": "C"}}}
    diff = diff_entities(before, after)
    assert diff.tiers.added == [{"name": "C"}]
    assert diff.tiers.removed == [{"name": "A"}]
    assert [(c.name, c.before["priority"], c.after["priority"]) for c in diff.tiers.changed] == [
        ("B", 1, 2)
    ]
    assert diff.services.empty and not diff.empty


def test_diff_of_equal_configs_is_empty() -> None:
    same = {"services": {"s": {"name": "s"}}}
    assert diff_entities(same, same).empty


class Route:
    def __init__(self, path: str) -> None:
        self.path = path


@pytest.mark.parametrize(
    ("path", "route", "params", "template"),
    [
        (
            "/api/v1/services/users",
            "/services/{name}",
            {"name": "users"},
            "/api/v1/services/{name}",
        ),
        ("/api/v1/services", "/services", {}, "/api/v1/services"),
        ("/health", "/health", {}, "/health"),
        (
            "/api/v1/releases/3/diff/4",
            "/releases/{a}/diff/{b}",
            {"a": 3, "b": 4},
            "/api/v1/releases/{a}/diff/{b}",
        ),
    ],
)
def test_metrics_label_a_request_with_its_whole_route_template(
    path: str, route: str, params: dict[str, object], template: str
) -> None:
    scope = {"path": path, "route": Route(route), "path_params": params}
    assert route_template(scope) == template


def test_metrics_label_a_request_that_matched_nothing_as_unmatched() -> None:
    assert route_template({"path": "/nope"}) == "unmatched"
