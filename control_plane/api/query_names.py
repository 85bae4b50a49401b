"""Unknown query parameters are refused (422), never ignored: `?limt=5` is a typo to report.

Each admin route knows the query parameters it declares, its dependencies' included
(`limit` and `offset` come from the pagination dependency); anything else in the query
string is an error naming the parameter.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant

from ..errors import FieldProblem, Invalid


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter `dependant` and its dependencies read."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return frozenset(names)


def refuse_unknown_query(request: Request, declared: frozenset[str]) -> None:
    unknown = sorted({name for name in request.query_params if name not in declared})
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise Invalid.of(
            [
                FieldProblem(name, f"unknown query parameter (this call takes: {allowed})")
                for name in unknown[:10]
            ]
        )
