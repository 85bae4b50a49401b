"""Load balancing: which target of a service serves a request."""

from .algorithms import make_balancer
from .balancer import Balancer
from .ewma import PeakEwma
from .least_connections import LeastConnections
from .maglev import Maglev
from .random_choice import WeightedRandom
from .round_robin import RoundRobin
from .upstream import Upstream
from .weighted_round_robin import SmoothWeightedRoundRobin

__all__ = [
    "Balancer",
    "LeastConnections",
    "Maglev",
    "PeakEwma",
    "RoundRobin",
    "SmoothWeightedRoundRobin",
    "Upstream",
    "WeightedRandom",
    "make_balancer",
]
