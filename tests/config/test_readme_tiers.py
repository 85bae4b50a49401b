"""README's tiers example must stay a config the gateway takes, with the fields it shows."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from data_plane.capabilities import check_capabilities
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import check_snapshot
from data_plane.limits.tiers import TierBook, policy_items

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Rate limits and tiers"


def section() -> str:
    text = README.read_text()
    start = text.index(HEADING)
    return text[start : text.find("\n## ", start + len(HEADING))]


def test_the_tiers_example_is_a_config_a_node_can_serve() -> None:
    match = re.search(r"```yaml\n(.*?)```", section(), re.S)
    assert match is not None
    document = yaml.safe_load(match.group(1))
    document["services"] = [{"name": "orders", "targets": [{"address": "127.0.0.1:9101"}]}]
    snapshot = build_snapshot(GatewayConfig.model_validate(document))
    assert check_snapshot(snapshot) == []
    check_capabilities(snapshot)
    free = TierBook(snapshot, 1_000_000_000).tiers["FREE"]
    shown = f"RateLimit-Policy: {policy_items('FREE-', free.windows)[0].decode()}"
    assert shown in section()
