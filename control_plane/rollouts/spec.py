"""What `POST /api/v1/rollouts` takes: the candidate, its selector and an optional gate.

A selector is exactly one of three kinds, as the contract names them: `nodes` (a label
match: those nodes serve the candidate for all their traffic), `header` (requests
carrying that header and value), or `percent` with `by` (a sticky share of clients,
keyed by client address, a header or a cookie). Anything else is refused, naming the
field, before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from data_plane.config.model import GatewayConfig, Spec
from data_plane.config.syntax import MAX_HEADER_VALUE, header_name_problem
from data_plane.sync.contract import LABEL_KEY, MAX_LABEL_VALUE

# Label matches one selector may hold: a node group is usually one label, never many.
MAX_NODE_LABELS = 8
# The longest soak a gate may ask for: a day.
MAX_SOAK = 86_400.0
MAX_REQUESTS = 1_000_000_000
MAX_P99_RATIO = 1000.0
# The largest release version a body may name (the releases table's BIGINT).
MAX_RELEASE = 2**63 - 1

Seconds = Annotated[float, Field(ge=0, le=MAX_SOAK)]


class HeaderSelector(Spec):
    name: str = Field(max_length=256, examples=["x-canary"])
    value: str = Field(max_length=MAX_HEADER_VALUE, examples=["1"])

    @model_validator(mode="after")
    def _field_name(self) -> Self:
        problem = header_name_problem(self.name)
        if problem is not None:
            raise ValueError(f"name: {problem}")
        return self


def _by_problem(by: str) -> str | None:
    if by == "client_ip":
        return None
    kind, sep, name = by.partition(":")
    if not sep or kind not in ("header", "cookie"):
        return "must be client_ip, header:NAME or cookie:NAME"
    problem = header_name_problem(name)
    return None if problem is None else f"{kind} {problem}"


class SelectorSpec(Spec):
    """Which traffic the candidate serves: exactly one of `nodes`, `header`, `percent`."""

    model_config = {
        **Spec.model_config,
        "json_schema_extra": {
            "examples": [
                {"percent": 10, "by": "client_ip"},
                {"header": {"name": "x-canary", "value": "1"}},
                {"nodes": {"group": "green"}},
            ]
        },
    }

    nodes: dict[str, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] | None = Field(
        default=None,
        max_length=MAX_NODE_LABELS,
        description="labels a node must carry (all of them) to serve the candidate",
    )
    header: HeaderSelector | None = None
    percent: int | None = Field(
        default=None, ge=0, le=100, description="the share of clients, 0..100, sticky"
    )
    by: str | None = Field(
        default=None,
        max_length=300,
        description="what keeps a client on its side: client_ip (default), header:NAME, "
        "cookie:NAME",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("nodes", "header", "percent") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of nodes, header, percent")
        if self.by is not None:
            if self.percent is None:
                raise ValueError("by: only with percent")
            problem = _by_problem(self.by)
            if problem is not None:
                raise ValueError(f"by: {problem}")
        if self.nodes is not None:
            if not self.nodes:
                raise ValueError("nodes: at least one label")
            for key in self.nodes:
                if not LABEL_KEY.fullmatch(key):
                    raise ValueError(f"nodes: {key[:64]!r} is not a label key")
        return self

    @property
    def kind(self) -> str:
        return "nodes" if self.nodes is not None else "header" if self.header else "percent"


class GateSpec(Spec):
    """When the control plane decides alone: promote after `soak` seconds once the
    candidate served `min_requests` within bounds of the active side, else roll back."""

    model_config = {
        **Spec.model_config,
        "json_schema_extra": {
            "examples": [
                {
                    "soak": 60,
                    "min_requests": 100,
                    "max_error_rate_delta": 0.01,
                    "max_p99_ratio": 1.5,
                }
            ]
        },
    }

    soak: Seconds = 60.0
    min_requests: int = Field(default=100, ge=0, le=MAX_REQUESTS)
    max_error_rate_delta: float = Field(default=0.01, ge=0, le=1)
    max_p99_ratio: float = Field(default=1.5, ge=1, le=MAX_P99_RATIO)


class RolloutRequest(Spec):
    """A candidate (a whole config, or a release to go back to), its selector, its gate."""

    model_config = {
        **Spec.model_config,
        "json_schema_extra": {
            "examples": [
                {
                    "config": {
                        "services": [{"name": "users", "targets": [{"address": "127.0.0.1:9002"}]}],
                        "routes": [
                            {"name": "users-api", "paths": ["/users/**"], "service": "users"}
                        ],
                    },
                    "selector": {"header": {"name": "x-canary", "value": "1"}},
                    "gate": {"soak": 60, "min_requests": 100},
                },
                {"release": 41, "selector": {"percent": 10, "by": "cookie:session"}},
            ]
        },
    }

    config: GatewayConfig | None = None
    release: int | None = Field(default=None, ge=1, le=MAX_RELEASE)
    selector: SelectorSpec
    gate: GateSpec | None = None

    @model_validator(mode="after")
    def _one_candidate(self) -> Self:
        if (self.config is None) == (self.release is None):
            raise ValueError("give exactly one of config, release")
        return self

    def source(self) -> dict[str, Any]:
        return {"release": self.release} if self.release is not None else {"config": "document"}
