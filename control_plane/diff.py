"""What changes between two configurations, entity by entity, per kind.

Used for `PUT /api/v1/config` (and its dry run, which `fleetgate apply` prints) and for
the diff of two releases. Entities are compared as plain JSON-shaped dicts keyed by
name, so the same function serves the file shape and a snapshot's JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from data_plane.config.model import ENTITY_KINDS

# kind -> name -> entity as a JSON-shaped dict
Entities = Mapping[str, Mapping[str, dict[str, Any]]]


class Changed(BaseModel):
    name: str
    before: dict[str, Any]
    after: dict[str, Any]


class KindDiff(BaseModel):
    added: list[dict[str, Any]] = Field(default_factory=list)
    removed: list[dict[str, Any]] = Field(default_factory=list)
    changed: list[Changed] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


class ConfigDiff(BaseModel):
    """Per kind, the entities added, removed and changed (with before and after)."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "services": {
                        "added": [],
                        "removed": [],
                        "changed": [
                            {
                                "name": "users",
                                "before": {"name": "users", "retries": 2},
                                "after": {"name": "users", "retries": 3},
                            }
                        ],
                    },
                    "routes": {"added": [], "removed": [], "changed": []},
                    "tiers": {"added": [], "removed": [], "changed": []},
                    "tenants": {"added": [], "removed": [], "changed": []},
                    "consumers": {"added": [], "removed": [], "changed": []},
                }
            ]
        }
    }

    services: KindDiff = Field(default_factory=KindDiff)
    routes: KindDiff = Field(default_factory=KindDiff)
    tiers: KindDiff = Field(default_factory=KindDiff)
    tenants: KindDiff = Field(default_factory=KindDiff)
    consumers: KindDiff = Field(default_factory=KindDiff)
    certificates: KindDiff = Field(default_factory=KindDiff)

    @property
    def empty(self) -> bool:
        return all(self.of(kind).empty for kind in ENTITY_KINDS)

    def of(self, kind: str) -> KindDiff:
        diff: KindDiff = getattr(self, kind)
        return diff


def diff_entities(before: Entities, after: Entities) -> ConfigDiff:
    """Entities only in `after` are added, only in `before` removed; names sorted."""
    diff = ConfigDiff()
    for kind in ENTITY_KINDS:
        old, new = before.get(kind, {}), after.get(kind, {})
        out = diff.of(kind)
        for name in sorted(old.keys() | new.keys()):
            if name not in old:
                out.added.append(new[name])
            elif name not in new:
                out.removed.append(old[name])
            elif old[name] != new[name]:
                out.changed.append(Changed(name=name, before=old[name], after=new[name]))
    return diff
