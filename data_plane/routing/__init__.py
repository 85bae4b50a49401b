"""Request routing: path normalization and the route table compiled from a snapshot."""

from .paths import BadPath, already_normalized, normalize_path
from .table import MethodNotAllowed, RouteMatch, RouteTable

__all__ = [
    "BadPath",
    "MethodNotAllowed",
    "RouteMatch",
    "RouteTable",
    "already_normalized",
    "normalize_path",
]
