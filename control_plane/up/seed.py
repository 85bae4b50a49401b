"""The demo config of `fleetgate up`: a service on the built-in upstream and a route to it,
and a generated `default` certificate for the HTTPS port.

Seeded through the admin API like any operator change. The service's target follows
the upstream's port of this run; a demo route the operator changed is left as it is.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..certs import demo_certificate

SERVICE = "demo"
ROUTE = "demo"
ROUTE_PATH = "/demo/**"
CERTIFICATE = "default"  # served on the HTTPS port to every name


class SeedError(RuntimeError):
    """The admin API refused the demo config."""


def seed_demo(admin_url: str, token: str, upstream: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Actor": "fleetgate-up"}
    with httpx.Client(base_url=admin_url, headers=headers, timeout=10.0) as admin:
        service: dict[str, Any] = {"name": SERVICE, "targets": [{"address": upstream}]}
        answer = admin.put(f"/api/v1/services/{SERVICE}", json=service)
        if answer.status_code == 404:
            answer = admin.post("/api/v1/services", json=service)
        _check(answer, "the demo service")
        if admin.get(f"/api/v1/routes/{ROUTE}").status_code == 404:
            route = {"name": ROUTE, "paths": [ROUTE_PATH], "service": SERVICE}
            _check(admin.post("/api/v1/routes", json=route), "the demo route")
        if admin.get(f"/api/v1/certificates/{CERTIFICATE}").status_code == 404:
            cert, key = demo_certificate()
            certificate = {"name": CERTIFICATE, "cert": cert, "key": key}
            _check(admin.post("/api/v1/certificates", json=certificate), "the demo certificate")


def _check(answer: httpx.Response, what: str) -> None:
    if answer.is_success:
        return
    try:
        message = answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = answer.text[:300]
    raise SeedError(f"the admin API refused {what}: {answer.status_code} {message}")
