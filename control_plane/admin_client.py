"""How the CLI's commands talk to the admin API: base URL, bearer token, and one error type.

Every failure - no token, an unreachable control plane, a refusal - becomes a `CliError`
whose message the command prints as it is and exits 1 on.
"""

from __future__ import annotations

import argparse
import functools
import os
import ssl
from typing import Any

import httpx

TOKEN_ENV = "FLEETGATE_ADMIN_TOKEN"
TIMEOUT = 60.0  # seconds: applying thousands of routes is one long transaction
RELEASE_HEADER = "X-Fleetgate-Release"


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, built once per command: building one loads the CA
    bundle (about 20 ms of CPU), which `apply --wait` would pay at each poll."""
    return httpx.create_ssl_context()


class CliError(Exception):
    """A failure the command reports in one message, and exits 1 on."""


def admin_token(args: argparse.Namespace) -> str:
    token: str | None = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CliError(f"no admin token: give --token or set {TOKEN_ENV}")
    return token


class AdminClient:
    """Calls the admin API with the bearer token; any failure becomes a CliError."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"X-Actor": "fleetgate-cli"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AdminClient:
        return cls(args.admin_url, admin_token(args))

    def __repr__(self) -> str:
        return f"<AdminClient {self.base_url}>"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a successful answer."""
        return self.request(method, path, **kwargs).json()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A successful answer, whole (for its headers)."""
        url = self.base_url + path
        try:
            response = httpx.request(
                method, url, headers=self._headers, timeout=self.timeout, verify=_tls(), **kwargs
            )
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the admin API at {self.base_url}: {exc}") from None
        if response.is_success:
            return response
        raise CliError(refusal(response))


def release_of(response: httpx.Response) -> int | None:
    """The release a write produced, from its X-Fleetgate-Release header."""
    value = response.headers.get(RELEASE_HEADER, "")
    return int(value) if value.isdigit() else None


def refusal(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        message = f"{error['code']}: {error['message']}"
        details = error.get("details") or []
    except (ValueError, KeyError, TypeError):
        return f"the admin API answered {response.status_code}: {response.text[:200]}"
    text = f"the admin API refused ({response.status_code}) {message}"
    if len(details) > 1:
        text += "".join(f"\n  {d['field']}: {d['message']}" for d in details)
    return text
