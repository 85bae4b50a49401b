"""What is wrong with a snapshot: the error values every config check reports.

Kept apart from the checks themselves (`validate.py`), so that the route table, the
balancers and the checks can all report with them without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One reason a snapshot cannot be served, with the field it is about."""

    field: str  # e.g. "routes.users-api.service"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConfigInvalid(ValueError):
    """A snapshot failed its checks; `errors` says where and why."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))
