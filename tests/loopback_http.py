"""HTTP requests of the end-to-end tests to the processes they run on loopback.

httpx builds a TLS context for every client it makes (loading the whole CA bundle:
about 20 ms of CPU), `httpx.get` included, even for a plain `http://` URL. Tests that
poll make thousands of clients, and on a two-core machine that CPU is taken from the
processes under test. Every client here shares one context instead.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

TLS_CONTEXT = ssl.create_default_context()
TIMEOUT = 5.0  # seconds, as httpx.get's


def client(**kwargs: Any) -> httpx.Client:
    """An `httpx.Client` with the shared TLS context."""
    kwargs.setdefault("timeout", TIMEOUT)
    return httpx.Client(verify=TLS_CONTEXT, **kwargs)


def get(
    url: str,
    *,
    timeout: float = TIMEOUT,
    verify: ssl.SSLContext | bool = TLS_CONTEXT,
    follow_redirects: bool = False,
    **kwargs: Any,
) -> httpx.Response:
    """What `httpx.get` does (a connection of its own), without a new TLS context."""
    with httpx.Client(verify=verify, timeout=timeout, follow_redirects=follow_redirects) as one:
        return one.get(url, **kwargs)
