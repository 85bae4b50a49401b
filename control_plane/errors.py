"""The control plane's errors: values that carry the HTTP status and code to answer with.

Raised anywhere below the API (the store, releases, auth); `control_plane/api/errors.py`
is the one place that turns them into the JSON error body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from data_plane.config.document import PLAIN_MESSAGES


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """What is wrong with one field, named in the file shape (`targets.0.weight`)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def problems_from(errors: Iterable[Mapping[str, Any]], skip: int = 0) -> list[FieldProblem]:
    """pydantic's error list as FieldProblems; `skip` drops leading `loc` items ("body")."""
    return [
        FieldProblem(
            ".".join(str(part) for part in error["loc"][skip:]),
            PLAIN_MESSAGES.get(error["type"], error["msg"]),
        )
        for error in errors
    ]


class ControlPlaneError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class Unauthorized(ControlPlaneError):
    status = 401
    code = "unauthorized"


class NotFound(ControlPlaneError):
    status = 404
    code = "not_found"


class Conflict(ControlPlaneError):
    """A duplicate name, or removing what another entity still refers to."""

    status = 409
    code = "conflict"


class RolloutInProgress(Conflict):
    """A config write, or a second rollout, while a rollout runs."""

    code = "rollout_in_progress"


class NoRollout(Conflict):
    """Promote or roll back with no rollout running."""

    code = "no_rollout_running"


class Invalid(ControlPlaneError):
    """A value, or the config it would make, that cannot be stored."""

    status = 422
    code = "invalid"

    @classmethod
    def of(cls, problems: list[FieldProblem]) -> Self:
        return cls("; ".join(str(p) for p in problems), problems)


class InvalidConfig(Invalid):
    """The change is well-formed but the config it would make fails the snapshot checks."""

    code = "invalid_config"


class TooLarge(ControlPlaneError):
    status = 413
    code = "too_large"


class Unavailable(ControlPlaneError):
    status = 503
    code = "unavailable"
