"""A route's transform: query parameters removed and added on the way up, on a real node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from data_plane.config.model import TransformSpec
from tests.data_plane.running_node import RunningNode
from tests.data_plane.scripted_upstream import ScriptedUpstream


@pytest.fixture(scope="module")
def node(
    upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    transform = {"add_query": {"source": "gw", "v": "a b&c"}, "remove_query": ["debug"]}
    config = {
        "services": [{"name": "app", "targets": [{"address": upstream.address}]}],
        "routes": [{"name": "t", "paths": ["/**"], "service": "app", "transform": transform}],
    }
    running = RunningNode(tmp_path_factory.mktemp("transform"), config).start()
    yield running
    running.stop()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("/x", "/x?source=gw&v=a%20b%26c"),
        ("/x?debug=1&keep=%2F&debug", "/x?keep=%2F&source=gw&v=a%20b%26c"),
        ("/x?source=evil&%64ebug=1&z", "/x?z&source=gw&v=a%20b%26c"),
    ],
)
def test_parameters_are_removed_then_added_and_the_rest_kept_as_sent(
    node: RunningNode, scripted: ScriptedUpstream, sent: str, forwarded: str
) -> None:
    assert node.get(sent).status == 200
    (request,) = scripted.wait_for(1)
    assert request.target == forwarded


def test_parameter_names_are_checked() -> None:
    for bad in ({"add_query": {"a&b": "1"}}, {"remove_query": ["x=y"]}):
        with pytest.raises(ValidationError):
            TransformSpec.model_validate(bad)
