"""The balancer of a service, by its `load_balancer` setting."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from fleetgate_pb import config_pb2 as pb

from data_plane.config.errors import ConfigError, ConfigInvalid

from .balancer import Balancer
from .ewma import PeakEwma
from .least_connections import LeastConnections
from .maglev import Maglev
from .random_choice import WeightedRandom
from .round_robin import RoundRobin
from .upstream import Upstream
from .weighted_round_robin import SmoothWeightedRoundRobin


def make_balancer(
    service: pb.Service,
    *,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Balancer:
    """A new balancer over the targets of `service`, all healthy and idle.

    `rng` and `clock` are injectable for tests. Raises ConfigInvalid on a target
    address without a port or an unknown algorithm.
    """
    rng = rng if rng is not None else random.Random()
    targets: list[Upstream] = []
    errors: list[ConfigError] = []
    for i, target in enumerate(service.targets):
        try:
            targets.append(Upstream.from_target(target, i))
        except ValueError as exc:
            errors.append(ConfigError(f"services.{service.name}.targets.{i}.address", str(exc)))
    if errors:
        raise ConfigInvalid(errors)
    algorithm = service.load_balancer
    if algorithm == pb.ROUND_ROBIN:
        return RoundRobin(targets, rng)
    if algorithm == pb.WEIGHTED_ROUND_ROBIN:
        return SmoothWeightedRoundRobin(targets)
    if algorithm == pb.LEAST_CONNECTIONS:
        return LeastConnections(targets)
    if algorithm == pb.RANDOM:
        return WeightedRandom(targets, rng)
    if algorithm == pb.EWMA:
        return PeakEwma(targets, rng, clock)
    if algorithm == pb.CONSISTENT_HASH:
        return Maglev(targets, rng)
    raise ConfigInvalid(
        [ConfigError(f"services.{service.name}.load_balancer", f"unknown algorithm {algorithm}")]
    )
