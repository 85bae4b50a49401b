"""The declarative config shape: one set of field names for the admin API, files and nodes.

These pydantic models are the single definition of what an operator may write. The
admin API takes them as request bodies, `fleetgate apply -f` and a node's `--config`
file parse them, `fleetgate export` writes them back. Unknown fields are refused
(`extra="forbid"`): a typo never vanishes silently. Cross-entity checks (a route
naming a missing service, ...) live in `validate.py` and run on the built Snapshot.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import certificates as pem
from . import defaults
from .bounds import bounds_problem
from .jwt_keys import MAX_PUBLIC_KEYS, MIN_SECRET_BYTES, jwt_keys_problem, load_pem
from .syntax import (
    MAX_TARGETS,
    NAME_PATTERN,
    changed_field_problem,
    header_name_problem,
    header_value_problem,
    host_problem,
    origin_problem,
    parse_host_port,
    parse_networks,
    query_name_problem,
)

# pydantic checks `pattern` with Rust's regex crate, searching: the anchors are needed,
# and there `$` is the end of the text only (Python's `re.match` would also accept a
# trailing line feed). Either way, `NAME.fullmatch` is what the snapshot checks use.
Name = Annotated[str, Field(pattern=f"^{NAME_PATTERN}$", examples=["users"])]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]
# The bench and DESIGN's targets go to 10,000 routes; ten times that still compiles.
MAX_ENTITIES = 100_000
Count = Annotated[int, Field(ge=1, le=2**53)]

HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
JwtAlgorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"
]
CacheableMethod = Literal["GET", "HEAD"]
LoadBalancerName = Literal[
    "round_robin", "weighted_round_robin", "least_connections", "random", "ewma", "consistent_hash"
]


class Spec(BaseModel):
    """Base of every config model: unknown fields are an error, values are validated.

    Strict: `weight: true` or `retries: "2"` is refused rather than read as 1 and 2.
    Every field obeys `bounds.py` (length, item count, no control characters).
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, str_strip_whitespace=False, strict=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None
        field = cls.model_fields[info.field_name]
        problem = bounds_problem(value, field.metadata, field.annotation)
        if problem is not None:
            raise ValueError(problem)
        return value


def _check_header_name(name: str) -> str:
    problem = header_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name.lower()


# ---------------------------------------------------------------- services


class TargetSpec(Spec):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"address": "127.0.0.1:9002", "weight": 2}]}
    )

    address: str = Field(examples=["127.0.0.1:9001"], description="host:port of one upstream")
    weight: int = Field(default=1, ge=0, le=65_535, description="0 drains the target")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_host_port(value)
        return value


class TimeoutsSpec(Spec):
    connect: Seconds = defaults.CONNECT_TIMEOUT
    read: Seconds = defaults.READ_TIMEOUT
    total: Seconds | None = None
    per_try: Seconds | None = Field(
        default=None, description="one try, until the response head; a try out of time is retried"
    )


class RouteTimeoutsSpec(Spec):
    """A route's own timeouts: each one left out is its service's."""

    connect: Seconds | None = None
    read: Seconds | None = None
    total: Seconds | None = None
    per_try: Seconds | None = None


class HashKeySpec(Spec):
    source: Literal["client_ip", "header", "cookie"] = "client_ip"
    name: str | None = Field(default=None, description="header or cookie name")

    @model_validator(mode="after")
    def _name_needed(self) -> HashKeySpec:
        if self.source != "client_ip" and not self.name:
            raise ValueError(f"name is required when source is {self.source}")
        if self.name is not None:
            problem = header_name_problem(self.name)
            if problem is not None:
                raise ValueError(f"name: {problem}")
        return self


class HealthCheckSpec(Spec):
    path: str = Field(default="/health", pattern=r"^/")
    interval: Seconds = Field(
        default=10.0, ge=0.1, description="seconds between two checks of a target, 0.1 at least"
    )
    timeout: Seconds = 2.0
    healthy_threshold: int = Field(default=2, ge=1, le=100)
    unhealthy_threshold: int = Field(default=3, ge=1, le=100)
    expected_statuses: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [200]
    )


class CircuitBreakerSpec(Spec):
    failure_threshold: int = Field(default=5, ge=1, le=10_000)
    recovery_time: Seconds = 30.0
    half_open_requests: int = Field(default=1, ge=1, le=1_000)


class UpstreamTlsSpec(Spec):
    """How a service's targets are reached over HTTPS (mutual TLS with a client pair)."""

    verify: Annotated[bool, Field(strict=True)] = Field(
        default=True, description="check the target's certificate and name"
    )
    ca: str | None = Field(
        default=None,
        max_length=pem.MAX_CHAIN_CHARS,
        description="PEM certificates the target's chain must reach; default: the system's",
    )
    sni: str | None = Field(
        default=None, description="the name sent and verified; default: the target's host"
    )
    client_cert: str | None = Field(
        default=None, max_length=pem.MAX_CHAIN_CHARS, description="PEM chain for mutual TLS"
    )
    client_key: str | None = Field(
        default=None,
        max_length=pem.MAX_KEY_CHARS,
        exclude=True,
        description="PEM key of client_cert; write-only",
    )
    client_key_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of client_key's PEM text; given alone, the stored key is kept",
    )

    @field_validator("sni")
    @classmethod
    def _sni(cls, value: str | None) -> str | None:
        if value is not None:
            problem = pem.sni_problem(value.lower())
            if problem is not None or value.startswith("*"):
                raise ValueError(f"not a DNS name: {value[:64]!r}")
            return value.lower()
        return value

    @model_validator(mode="after")
    def _pems(self) -> UpstreamTlsSpec:
        if self.ca is not None:
            pem.check_bundle(self.ca)
        if self.client_cert is None:
            if self.client_key is not None or self.client_key_sha256 is not None:
                raise ValueError("client_key needs its client_cert")
            return self
        chain, _ = pem.check_chain(self.client_cert)
        if self.client_key is None:
            if self.client_key_sha256 is None:
                raise ValueError(
                    "client_cert needs client_key (or client_key_sha256 to keep the stored one)"
                )
            return self
        pem.check_key(self.client_key, chain[0])
        # Bypass validate_assignment: the model is being built.
        object.__setattr__(self, "client_key_sha256", pem.key_sha256(self.client_key))
        return self


class ServiceSpec(Spec):
    """A named pool of upstream targets and how to reach them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "users",
                    "targets": [{"address": "127.0.0.1:9001", "weight": 1}],
                    "load_balancer": "round_robin",
                    "timeouts": {"connect": 2.0, "read": 30.0},
                    "retries": 2,
                }
            ]
        }
    )

    name: Name
    targets: list[TargetSpec] = Field(default_factory=list, max_length=MAX_TARGETS)
    load_balancer: LoadBalancerName = "round_robin"
    hash_key: HashKeySpec | None = None
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)
    retries: int = Field(default=0, ge=0, le=10)
    retry_non_idempotent: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="retries may resend POST and PATCH too"
    )
    health_check: HealthCheckSpec | None = None
    circuit_breaker: CircuitBreakerSpec | None = None
    max_concurrent_requests: int | None = Field(default=None, ge=1, le=1_000_000)
    tls: UpstreamTlsSpec | None = Field(default=None, description="reach the targets over HTTPS")
    tags: list[Tag] = Field(default_factory=list)


# ---------------------------------------------------------------- routes


class HeaderMatchSpec(Spec):
    name: str
    kind: Literal["exact", "prefix", "regex", "present"] = "exact"
    value: str = ""
    invert: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_header_name(value)

    @model_validator(mode="after")
    def _value(self) -> HeaderMatchSpec:
        # A regex is checked by compiling it, with the route table (validate.py).
        if self.kind != "regex":
            problem = header_value_problem(self.value)
            if problem is not None:
                raise ValueError(f"value: {problem}")
        return self


class HeaderChangesSpec(Spec):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)

    @field_validator("set", "add")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, header_value in value.items():
            problem = changed_field_problem(key) or header_value_problem(header_value)
            if problem is not None:
                raise ValueError(f"header {key[:64]!r}: {problem}")
        return value

    @field_validator("remove")
    @classmethod
    def _removed(cls, value: list[str]) -> list[str]:
        for name in value:
            problem = changed_field_problem(name)
            if problem is not None:
                raise ValueError(problem)
        return [name.lower() for name in value]


# A PEM document: longer than MAX_TEXT, so it may hold its line breaks (bounds.py).
Pem = Annotated[str, Field(min_length=1, max_length=16_384)]


class JwtSpec(Spec):
    """How a route checks bearer tokens: keys, pinned algorithms, and the claims required."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "algorithms": ["RS256"],
                    "jwks_url": "https://login.example.com/.well-known/jwks.json",
                    "issuer": "https://login.example.com/",
                    "audiences": ["api"],
                },
                {"algorithms": ["HS256"], "secret": "a-shared-secret-of-32-bytes-or-more"},
            ]
        }
    )

    issuer: str | None = Field(default=None, description="the `iss` a token must carry")
    audiences: list[str] = Field(
        default_factory=list, description="a token's `aud` must name one of these"
    )
    algorithms: list[JwtAlgorithm] = Field(
        default_factory=lambda: list[JwtAlgorithm](["RS256"]),
        min_length=1,
        description="the only algorithms accepted: the token's `alg` is never trusted alone",
    )
    jwks_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description="a JWKS document the node fetches and refreshes in the background",
    )
    secret: str | None = Field(
        default=None,
        min_length=MIN_SECRET_BYTES,
        max_length=1024,
        description="the shared secret of HS* algorithms",
    )
    public_keys: list[Pem] = Field(
        default_factory=list,
        max_length=MAX_PUBLIC_KEYS,
        description="PEM public keys (or certificates) for RS*, PS256, ES* and EdDSA",
    )
    leeway: float = Field(
        default=30.0, ge=0, le=600, description="seconds of clock skew allowed on exp and nbf"
    )
    roles_claim: str = Field(
        default="roles", min_length=1, max_length=128, description="the claim holding roles"
    )

    @field_validator("public_keys")
    @classmethod
    def _public_keys(cls, value: list[str]) -> list[str]:
        for i, document in enumerate(value):
            try:
                load_pem(document)
            except ValueError as exc:
                raise ValueError(f"public_keys.{i}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _keys_for_each_algorithm(self) -> JwtSpec:
        problem = jwt_keys_problem(
            self.algorithms,
            bool(self.secret),
            [load_pem(document)[0] for document in self.public_keys],
            bool(self.jwks_url),
        )
        if problem is not None:
            raise ValueError(problem)
        return self


class AuthSpec(Spec):
    """Who may call the route: API keys and/or JWTs (any one admits), roles, anonymity."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"methods": ["api_key"]},
                {"methods": ["api_key"], "api_key_query": "apikey", "roles": ["billing"]},
                {"methods": ["api_key"], "anonymous": True},
            ]
        }
    )

    methods: list[Literal["api_key", "jwt"]] = Field(
        min_length=1, description="a request passes with any one of these"
    )
    api_key_header: str = Field(
        default="x-api-key", description="the field carrying the API key, removed upstream"
    )
    api_key_query: str | None = Field(
        default=None, description="a query parameter that may carry the API key instead"
    )
    roles: list[str] = Field(default_factory=list, description="any of these roles admits")
    jwt: JwtSpec | None = None
    anonymous: bool = Field(
        default=False, description="admit requests with no credential (a bad one is still 401)"
    )

    @field_validator("api_key_header")
    @classmethod
    def _api_key_header(cls, value: str) -> str:
        problem = changed_field_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.lower()

    @field_validator("api_key_query")
    @classmethod
    def _api_key_query(cls, value: str | None) -> str | None:
        problem = None if value is None else query_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _jwt_needs_settings(self) -> AuthSpec:
        if "jwt" in self.methods and self.jwt is None:
            raise ValueError("jwt settings are required when methods include jwt")
        return self


# GCRA spaces requests at least a microsecond apart (Redis counts in microseconds).
_WINDOWS = (
    ("requests_per_second", 1),
    ("requests_per_minute", 60),
    ("requests_per_hour", 3_600),
    ("requests_per_day", 86_400),
)
MAX_REQUESTS_PER_SECOND = 1_000_000


class WindowLimits(Spec):
    """Requests allowed per window; absent windows are unlimited."""

    requests_per_second: Count | None = None
    requests_per_minute: Count | None = None
    requests_per_hour: Count | None = None
    requests_per_day: Count | None = None

    @model_validator(mode="after")
    def _sensible_windows(self) -> WindowLimits:
        shorter: tuple[str, int] | None = None
        for name, seconds in _WINDOWS:
            limit = getattr(self, name)
            if limit is None:
                continue
            if limit > MAX_REQUESTS_PER_SECOND * seconds:
                raise ValueError(
                    f"{name}: {limit} is more than {MAX_REQUESTS_PER_SECOND:,} requests per"
                    " second, finer than the limits can count"
                )
            if shorter is not None and limit < shorter[1]:
                raise ValueError(
                    f"{name} ({limit}) is below {shorter[0]} ({shorter[1]}): a longer window"
                    " allowing fewer requests than a shorter one leaves the shorter one no use"
                )
            shorter = (name, limit)
        return self


class RateLimitSpec(WindowLimits):
    by: Literal["consumer", "tenant", "client_ip", "route"] = "consumer"
    use_tier: bool = True
    backend: Literal["local", "redis"] = "local"

    fail_mode: Literal["open", "closed"] = Field(
        default="open", description="when Redis cannot decide in time: admit, or 503"
    )
    decision_deadline: float = Field(
        default=defaults.RATE_LIMIT_DECISION_DEADLINE,
        gt=0,
        le=1.0,
        description="seconds Redis has to decide before the fail mode applies",
    )

    @model_validator(mode="after")
    def _limits_something(self) -> RateLimitSpec:
        windows = (getattr(self, name) for name, _ in _WINDOWS)
        if not self.use_tier and all(limit is None for limit in windows):
            raise ValueError(
                "a rate_limit needs a window (requests_per_second, _minute, _hour or _day)"
                " or use_tier: true; this one limits nothing"
            )
        return self


class CacheSpec(Spec):
    ttl: Seconds = 60.0
    methods: list[CacheableMethod] = Field(
        default_factory=lambda: list[CacheableMethod](["GET", "HEAD"])
    )
    vary_headers: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1, le=1 << 30)
    backend: Literal["local", "redis"] = "local"


class CorsSpec(Spec):
    """Cross-origin requests: preflights answered at the edge, CORS fields on responses."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "allow_origins": ["https://app.example.com"],
                    "allow_headers": ["content-type", "authorization"],
                    "allow_credentials": True,
                },
                {"allow_origins": ["*"], "max_age": 3600},
            ]
        }
    )

    allow_origins: list[str] = Field(
        min_length=1, description='origins (scheme://host[:port]) allowed, or "*" for any'
    )
    allow_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PUT", "DELETE"])
    allow_headers: list[str] = Field(
        default_factory=list, description="empty: whatever a preflight asks for"
    )
    expose_headers: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    max_age: int = Field(default=600, ge=0, le=86_400)

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            problem = origin_problem(origin)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("allow_methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        upper = [m.upper() for m in value]
        unknown = sorted(set(upper) - HTTP_METHODS)
        if unknown:
            raise ValueError(f"unknown HTTP method(s): {', '.join(unknown)}")
        return upper

    @field_validator("allow_headers", "expose_headers")
    @classmethod
    def _header_names(cls, value: list[str]) -> list[str]:
        return [_check_header_name(name) for name in value]

    @model_validator(mode="after")
    def _no_credentials_for_any_origin(self) -> CorsSpec:
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError('allow_credentials cannot be used with the origin "*"')
        return self


class TransformSpec(Spec):
    """Query parameters removed, then added, on the way to the upstream."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"add_query": {"source": "gw"}, "remove_query": ["debug"]}]}
    )

    add_query: dict[str, str] = Field(
        default_factory=dict, description="set on every request, replacing the client's"
    )
    remove_query: list[str] = Field(default_factory=list, description="dropped if sent")

    @field_validator("add_query")
    @classmethod
    def _added(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            problem = query_name_problem(name)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("remove_query")
    @classmethod
    def _removed(cls, value: list[str]) -> list[str]:
        for name in value:
            problem = query_name_problem(name)
            if problem is not None:
                raise ValueError(problem)
        return value


class RouteSpec(Spec):
    """How requests are matched and which service answers them, with the route's policies."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "users-api",
                    "paths": ["/api/v1/users/**"],
                    "methods": ["GET", "POST"],
                    "hosts": ["api.example.com"],
                    "service": "users",
                }
            ]
        }
    )

    name: Name
    hosts: list[str] = Field(default_factory=list)
    paths: list[str] = Field(min_length=1)
    methods: list[str] = Field(default_factory=list)
    headers: list[HeaderMatchSpec] = Field(default_factory=list)
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    strip_prefix: bool = False
    rewrite: str | None = None
    request_headers: HeaderChangesSpec | None = None
    response_headers: HeaderChangesSpec | None = None
    service: Name
    timeouts: RouteTimeoutsSpec | None = None
    max_body_bytes: int | None = Field(default=None, ge=0, le=1 << 40)
    auth: AuthSpec | None = None
    rate_limit: RateLimitSpec | None = None
    cache: CacheSpec | None = None
    cors: CorsSpec | None = None
    transform: TransformSpec | None = None
    ip_allow: list[str] = Field(
        default_factory=list,
        description="client networks (CIDR, IPv4 or IPv6) admitted; empty: every one",
        examples=[["10.0.0.0/8", "2001:db8::/32"]],
    )
    ip_deny: list[str] = Field(
        default_factory=list,
        description="client networks refused (403), whatever ip_allow says",
        examples=[["192.0.2.0/24"]],
    )
    https_only: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="a plain-HTTP request gets 308 to the https:// URL"
    )
    tags: list[Tag] = Field(default_factory=list)

    @field_validator("ip_allow", "ip_deny")
    @classmethod
    def _networks(cls, value: list[str], info: ValidationInfo) -> list[str]:
        parse_networks(value, str(info.field_name))
        return value

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        upper = [m.upper() for m in value]
        unknown = sorted(set(upper) - HTTP_METHODS)
        if unknown:
            raise ValueError(f"unknown HTTP method(s): {', '.join(unknown)}")
        return upper

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        out = []
        for host in value:
            lowered = host.lower()
            problem = host_problem(lowered)
            if problem is not None:
                raise ValueError(problem)
            out.append(lowered)
        return out

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not (path.startswith("/") or (path.startswith("~") and len(path) > 1)):
                raise ValueError(f"a path starts with '/' (or '~' for a regex): {path!r}")
        return value

    @field_validator("rewrite")
    @classmethod
    def _rewrite(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("a rewrite is a path starting with '/'")
        return value


# ---------------------------------------------------------------- tenancy


class TierSpec(WindowLimits):
    """A plan: rate limits over several windows, a monthly quota, a concurrency cap."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "PRO", "requests_per_minute": 1000}]}
    )

    name: Name
    monthly_quota: Count | None = None
    max_concurrent_requests: int | None = Field(default=None, ge=1, le=1_000_000)
    priority: int = Field(default=0, ge=0, le=100, description="higher is served first")
    tags: list[Tag] = Field(default_factory=list)


class TenantSpec(Spec):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "acme", "tier": "PRO"}]})

    name: Name
    tier: Name
    metadata: dict[str, str] = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list)


class ApiKeySpec(Spec):
    """An API key: given as `key` (hashed on the way in) or as its sha256 `hash`."""

    id: Name
    hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    key: str | None = Field(default=None, min_length=16, max_length=256, exclude=True)

    @model_validator(mode="after")
    def _hash_the_key(self) -> ApiKeySpec:
        if (self.key is None) == (self.hash is None):
            raise ValueError("give exactly one of key or hash")
        if self.key is not None:
            # Bypass validate_assignment: the model is being built.
            object.__setattr__(self, "hash", hash_api_key(self.key))
            object.__setattr__(self, "key", None)
        return self


def hash_api_key(key: str) -> str:
    """The stored form of an API key: keys are high-entropy, so a plain sha256 suffices."""
    return hashlib.sha256(key.encode()).hexdigest()


class ConsumerSpec(Spec):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "acme-billing", "tenant": "acme", "roles": ["billing"]}]
        }
    )

    name: Name
    tenant: Name | None = None
    roles: list[str] = Field(default_factory=list)
    api_keys: list[ApiKeySpec] = Field(default_factory=list)
    jwt_subjects: list[str] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)


# ---------------------------------------------------------------- TLS


class CertificateSpec(Spec):
    """A certificate the HTTPS listener serves to the SNI names it lists.

    The key is write-only: it is stored and sent to nodes, but reads and exports show
    its `key_sha256`; a file giving `key_sha256` instead of `key` keeps the stored key.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "api-example-com",
                    "cert": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
                    "key": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
                    "snis": ["api.example.com", "*.api.example.com"],
                }
            ]
        }
    )

    name: Name
    cert: str = Field(
        max_length=pem.MAX_CHAIN_CHARS,
        description="PEM chain: the certificate first, then each issuer in turn",
    )
    key: str | None = Field(
        default=None,
        max_length=pem.MAX_KEY_CHARS,
        exclude=True,
        description="PEM private key of the first certificate; write-only",
    )
    key_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the key's PEM text; given alone, the stored key is kept",
    )
    snis: list[str] = Field(default_factory=list, max_length=pem.MAX_SNIS)
    tags: list[Tag] = Field(default_factory=list)

    @field_validator("snis")
    @classmethod
    def _snis(cls, value: list[str]) -> list[str]:
        out = []
        for name in value:
            lowered = name.lower()
            problem = pem.sni_problem(lowered)
            if problem is not None:
                raise ValueError(problem)
            if lowered in out:
                raise ValueError(f"{lowered!r} is listed twice")
            out.append(lowered)
        return out

    @model_validator(mode="after")
    def _chain_and_key(self) -> CertificateSpec:
        chain, _ = pem.check_chain(self.cert)
        if self.key is None:
            if self.key_sha256 is None:
                raise ValueError("give key (PEM), or key_sha256 to keep the stored key")
            return self
        pem.check_key(self.key, chain[0])
        # Bypass validate_assignment: the model is being built.
        object.__setattr__(self, "key_sha256", pem.key_sha256(self.key))
        return self


# ---------------------------------------------------------------- the whole document


class GatewayConfig(Spec):
    """A whole gateway configuration: what `apply -f` takes and `export` writes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "services": [{"name": "users", "targets": [{"address": "127.0.0.1:9001"}]}],
                    "routes": [
                        {"name": "users-api", "paths": ["/api/v1/users/**"], "service": "users"}
                    ],
                    "tiers": [{"name": "PRO", "requests_per_minute": 1000}],
                    "tenants": [{"name": "acme", "tier": "PRO"}],
                }
            ]
        }
    )

    services: list[ServiceSpec] = Field(default_factory=list, max_length=MAX_ENTITIES)
    routes: list[RouteSpec] = Field(default_factory=list, max_length=MAX_ENTITIES)
    tiers: list[TierSpec] = Field(default_factory=list, max_length=MAX_ENTITIES)
    tenants: list[TenantSpec] = Field(default_factory=list, max_length=MAX_ENTITIES)
    consumers: list[ConsumerSpec] = Field(default_factory=list, max_length=MAX_ENTITIES)
    certificates: list[CertificateSpec] = Field(default_factory=list, max_length=MAX_ENTITIES)

    def to_file_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """The file shape: defaults left out, entities ordered by name, empty kinds omitted.

        Certificate keys are left out (their `key_sha256` is there) unless `secrets`.
        """
        out: dict[str, Any] = {}
        for kind in ENTITY_KINDS:
            items = sorted(getattr(self, kind), key=lambda e: e.name)
            if items:
                out[kind] = [dump_entity(e, secrets=secrets) for e in items]
        return out


ENTITY_KINDS = ("services", "routes", "tiers", "tenants", "consumers", "certificates")
SPEC_BY_KIND: dict[str, type[Spec]] = {
    "services": ServiceSpec,
    "routes": RouteSpec,
    "tiers": TierSpec,
    "tenants": TenantSpec,
    "consumers": ConsumerSpec,
    "certificates": CertificateSpec,
}


def dump_entity(entity: Spec, *, full: bool = False, secrets: bool = False) -> dict[str, Any]:
    """One entity in the file shape, `name` first: no defaults and no None, or (`full`)
    every field with its value, defaults included. Keys (a certificate's, a service's
    tls.client_key) are write-only: only there with `secrets`."""
    if full:
        data = entity.model_dump(mode="json")
    else:
        data = entity.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
    if secrets and isinstance(entity, CertificateSpec) and entity.key is not None:
        data["key"] = entity.key
    client_key = entity.tls.client_key if isinstance(entity, ServiceSpec) and entity.tls else None
    if secrets and client_key is not None:
        data["tls"]["client_key"] = client_key
    return {"name": data.pop("name"), **data}
