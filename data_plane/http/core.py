"""The proxy core the process runs: its per-request modules compiled, or as Python.

`state`, `upstream`, `pool`, `exchange` and `downstream` (with data_plane/plan.py, the
route plans and services they read) are each written once in plain
Python and compiled by Cython into a twin (`exchange_c`, typed by `exchange_c.pxd`),
like the head path (head_path.py). The compiled twins hold each other's classes as C
types (cimported in their .pxd files), so they run together or not at all:
data_plane/extensions.py loads all six compiled twins, or all six Python modules when
`FLEETGATE_NO_EXTENSIONS=1` or one is not built. Code outside them (the worker, the
route compiler, tests) takes the classes from here, never from either twin directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from data_plane.extensions import is_compiled, load_together

state, upstream, pool, plan, exchange, downstream = load_together(
    "data_plane.http.state",
    "data_plane.http.upstream",
    "data_plane.http.pool",
    "data_plane.plan",
    "data_plane.http.exchange",
    "data_plane.http.downstream",
)
COMPILED = is_compiled(downstream)

if TYPE_CHECKING:
    from data_plane.plan import RoutePlan, ServiceRuntime

    from .downstream import DownstreamConnection
    from .exchange import Exchange
    from .pool import ServicePool
    from .state import ProxyState
    from .upstream import UpstreamConnection
else:
    DownstreamConnection = downstream.DownstreamConnection
    Exchange = exchange.Exchange
    ProxyState = state.ProxyState
    RoutePlan = plan.RoutePlan
    ServiceRuntime = plan.ServiceRuntime
    ServicePool = pool.ServicePool
    UpstreamConnection = upstream.UpstreamConnection

__all__ = [
    "COMPILED",
    "DownstreamConnection",
    "Exchange",
    "ProxyState",
    "RoutePlan",
    "ServicePool",
    "ServiceRuntime",
    "UpstreamConnection",
]
