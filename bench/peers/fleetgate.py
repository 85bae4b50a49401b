"""The fleetgate data-plane node, serving a declarative file (`data-plane --config`)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bench.peers.base import Check, Launch, Ports, Setup
from bench.ports import free_port
from bench.route_table import HIT_ROUTE, route_table, services
from bench.toolchain import Toolchain
from bench.upstream import HIT_PATH
from control_plane.certs import demo_certificate
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.limits.redis_backend import REDIS_PREFIX_VARIABLE

# A bench credential, valid only for the node this file configures.
API_KEY = "bench-7f3c9a2e4b1d8f60a5c3e9b2"
API_KEY_HEADER = "x-api-key"
# High enough never to refuse a request of the run: the limiter's cost is measured, not
# its refusals.
RATE_LIMIT_PER_SECOND = 1_000_000
JWT_SUBJECT = "bench-client"
# The Redis of the policies-redis scenario, and the prefix its keys take there.
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_KEY_PREFIX = "fleetgate-bench"


@cache
def jwt_material() -> tuple[str, str]:
    """A PEM public key and a day-long RS256 token it verifies, made once per bench run."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": JWT_SUBJECT, "exp": int(time.time()) + 86_400}
    return pem.decode(), jwt.encode(claims, key, algorithm="RS256")


def config(upstream_port: int, setup: Setup) -> dict[str, Any]:
    """The node's config file for `setup`, in the declarative shape."""
    table = route_table(setup.routes)
    target = [{"address": f"127.0.0.1:{upstream_port}"}]
    routes: list[dict[str, Any]] = []
    for entry in table:
        route: dict[str, Any] = {"name": entry.name, "paths": [entry.pattern]}
        route["service"] = entry.service
        if entry.name == HIT_ROUTE and setup.policies:
            route["auth"] = {"methods": ["api_key"], "api_key_header": API_KEY_HEADER}
            route["rate_limit"] = {
                "requests_per_second": RATE_LIMIT_PER_SECOND,
                "by": "consumer",
                "use_tier": False,
                "backend": setup.rate_limit_backend,
            }
            if setup.rate_limit_backend == "redis":
                # A request Redis has not decided is refused (503), not admitted unseen:
                # the run measures decisions made on Redis or fails.
                route["rate_limit"]["fail_mode"] = "closed"
        if entry.name == HIT_ROUTE and setup.auth == "api_key":
            route["auth"] = {"methods": ["api_key"], "api_key_header": API_KEY_HEADER}
        if entry.name == HIT_ROUTE and setup.auth == "jwt":
            jwt = {"algorithms": ["RS256"], "public_keys": [jwt_material()[0]]}
            route["auth"] = {"methods": ["jwt"], "jwt": jwt}
        routes.append(route)
    document: dict[str, Any] = {
        "services": [{"name": name, "targets": target} for name in services(table)],
        "routes": routes,
    }
    if setup.tls:
        cert, key = demo_certificate()
        document["certificates"] = [{"name": "default", "cert": cert, "key": key}]
    if setup.policies or setup.auth:
        document["consumers"] = [
            {
                "name": "bench-client",
                "api_keys": [{"id": "bench-key", "key": API_KEY}],
                "jwt_subjects": [JWT_SUBJECT],
            }
        ]
    return document


def node_available() -> bool:
    return importlib.util.find_spec("data_plane.cli") is not None


def missing_capabilities(setup: Setup) -> list[str]:
    """What the config for `setup` needs that this checkout's node does not declare.

    A node refuses a snapshot needing more than its CAPABILITIES; asking first turns
    "policies not built yet" into a skipped row instead of a failed start.
    """
    try:
        capabilities = importlib.import_module("data_plane.capabilities").CAPABILITIES
    except (ImportError, AttributeError):
        return ["data_plane.capabilities"]
    return sorted(needed_capabilities(setup) - set(capabilities))


def needed_capabilities(setup: Setup) -> set[str]:
    """The capabilities the snapshot of `setup`'s config requires of a node."""
    snapshot = build_snapshot(GatewayConfig.model_validate(config(1, setup)))
    return set(snapshot.required_capabilities)


def redis_answers() -> bool:
    """Whether the Redis at REDIS_URL answers a PING."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class FleetgatePeer:
    """The node on the head path `FLEETGATE_NO_EXTENSIONS` selects ("" or "0": compiled)."""

    def __init__(self, name: str, no_extensions: str) -> None:
        self.name = name
        self.no_extensions = no_extensions

    def __repr__(self) -> str:
        return f"<FleetgatePeer {self.name}>"

    def unsupported(self, setup: Setup) -> str | None:
        if not node_available():
            return "the data-plane node (data_plane.cli) is not in this checkout"
        missing = missing_capabilities(setup)
        if missing:
            return f"this node does not support {', '.join(missing)} yet"
        if setup.rate_limit_backend == "redis" and not redis_answers():
            return f"no Redis answers at {REDIS_URL}"
        return None

    def launch(self, tools: Toolchain, workdir: Path, ports: Ports, setup: Setup) -> Launch:
        path = workdir / "fleetgate.yaml"
        path.write_text(yaml.safe_dump(config(ports.upstream, setup), sort_keys=False))
        status_port = free_port()
        argv = [sys.executable, "-m", "control_plane.cli", "data-plane"]
        argv += ["--config", str(path), "--listen", f"127.0.0.1:{ports.proxy}"]
        argv += ["--status-listen", f"127.0.0.1:{status_port}"]
        argv += ["--workers", str(setup.workers), "--cache-dir", str(workdir / "fleetgate-cache")]
        # Off unless the scenario measures it: nginx's rows log nothing either.
        argv += ["--access-log", str(workdir / "access.log") if setup.access_log else "off"]
        if setup.tls:
            argv += ["--https-listen", f"127.0.0.1:{ports.tls}"]
        env = {"FLEETGATE_NO_EXTENSIONS": self.no_extensions}
        if setup.rate_limit_backend == "redis":
            argv += ["--redis-url", REDIS_URL]
            env[REDIS_PREFIX_VARIABLE] = REDIS_KEY_PREFIX
        checks = [
            Check("the node serves metrics", "/metrics", 200, port=status_port),
            Check("a path no route matches is not forwarded", "/unrouted/path", 404),
        ]
        headers = {}
        if setup.policies or setup.auth == "api_key":
            headers = {API_KEY_HEADER: API_KEY}
            checks.append(Check("API-key auth refuses a request without a key", HIT_PATH, 401))
        if setup.auth == "jwt":
            headers = {"Authorization": f"Bearer {jwt_material()[1]}"}
            checks.append(Check("JWT auth refuses a request without a token", HIT_PATH, 401))
        # 10,000 routes take a while to parse and compile at start.
        deadline = 20.0 + setup.routes / 500
        return Launch(argv, deadline, headers, tuple(checks), env)


FLEETGATE = FleetgatePeer("fleetgate", "0")
# The same node on the pure-Python twin of its head path.
FLEETGATE_PURE = FleetgatePeer("fleetgate-py", "1")
