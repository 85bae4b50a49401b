from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoadBalancer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUND_ROBIN: _ClassVar[LoadBalancer]
    WEIGHTED_ROUND_ROBIN: _ClassVar[LoadBalancer]
    LEAST_CONNECTIONS: _ClassVar[LoadBalancer]
    RANDOM: _ClassVar[LoadBalancer]
    EWMA: _ClassVar[LoadBalancer]
    CONSISTENT_HASH: _ClassVar[LoadBalancer]
ROUND_ROBIN: LoadBalancer
WEIGHTED_ROUND_ROBIN: LoadBalancer
LEAST_CONNECTIONS: LoadBalancer
RANDOM: LoadBalancer
EWMA: LoadBalancer
CONSISTENT_HASH: LoadBalancer

class Snapshot(_message.Message):
    __slots__ = ("version", "hash", "created_at_ms", "author", "required_capabilities", "services", "routes", "tiers", "tenants", "consumers", "certificates")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    version: int
    hash: str
    created_at_ms: int
    author: str
    required_capabilities: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedCompositeFieldContainer[Service]
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    tiers: _containers.RepeatedCompositeFieldContainer[Tier]
    tenants: _containers.RepeatedCompositeFieldContainer[Tenant]
    consumers: _containers.RepeatedCompositeFieldContainer[Consumer]
    certificates: _containers.RepeatedCompositeFieldContainer[Certificate]
    def __init__(self, version: _Optional[int] = ..., hash: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., author: _Optional[str] = ..., required_capabilities: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[_Union[Service, _Mapping]]] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., tiers: _Optional[_Iterable[_Union[Tier, _Mapping]]] = ..., tenants: _Optional[_Iterable[_Union[Tenant, _Mapping]]] = ..., consumers: _Optional[_Iterable[_Union[Consumer, _Mapping]]] = ..., certificates: _Optional[_Iterable[_Union[Certificate, _Mapping]]] = ...) -> None: ...

class SnapshotEntities(_message.Message):
    __slots__ = ("version", "hash", "created_at_ms", "author", "required_capabilities", "services", "routes", "tiers", "tenants", "consumers", "certificates")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    version: int
    hash: str
    created_at_ms: int
    author: str
    required_capabilities: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedScalarFieldContainer[bytes]
    routes: _containers.RepeatedScalarFieldContainer[bytes]
    tiers: _containers.RepeatedCompositeFieldContainer[Tier]
    tenants: _containers.RepeatedCompositeFieldContainer[Tenant]
    consumers: _containers.RepeatedCompositeFieldContainer[Consumer]
    certificates: _containers.RepeatedCompositeFieldContainer[Certificate]
    def __init__(self, version: _Optional[int] = ..., hash: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., author: _Optional[str] = ..., required_capabilities: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[bytes]] = ..., routes: _Optional[_Iterable[bytes]] = ..., tiers: _Optional[_Iterable[_Union[Tier, _Mapping]]] = ..., tenants: _Optional[_Iterable[_Union[Tenant, _Mapping]]] = ..., consumers: _Optional[_Iterable[_Union[Consumer, _Mapping]]] = ..., certificates: _Optional[_Iterable[_Union[Certificate, _Mapping]]] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("name", "targets", "load_balancer", "hash_key", "timeouts", "retries", "health_check", "circuit_breaker", "max_concurrent_requests", "tags", "retry_non_idempotent", "tls")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCER_FIELD_NUMBER: _ClassVar[int]
    HASH_KEY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    RETRY_NON_IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    name: str
    targets: _containers.RepeatedCompositeFieldContainer[Target]
    load_balancer: LoadBalancer
    hash_key: HashKey
    timeouts: Timeouts
    retries: int
    health_check: HealthCheck
    circuit_breaker: CircuitBreaker
    max_concurrent_requests: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    retry_non_idempotent: bool
    tls: UpstreamTls
    def __init__(self, name: _Optional[str] = ..., targets: _Optional[_Iterable[_Union[Target, _Mapping]]] = ..., load_balancer: _Optional[_Union[LoadBalancer, str]] = ..., hash_key: _Optional[_Union[HashKey, _Mapping]] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ..., retries: _Optional[int] = ..., health_check: _Optional[_Union[HealthCheck, _Mapping]] = ..., circuit_breaker: _Optional[_Union[CircuitBreaker, _Mapping]] = ..., max_concurrent_requests: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ..., retry_non_idempotent: _Optional[bool] = ..., tls: _Optional[_Union[UpstreamTls, _Mapping]] = ...) -> None: ...

class UpstreamTls(_message.Message):
    __slots__ = ("verify", "ca", "sni", "client_cert", "client_key")
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    CA_FIELD_NUMBER: _ClassVar[int]
    SNI_FIELD_NUMBER: _ClassVar[int]
    CLIENT_CERT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_KEY_FIELD_NUMBER: _ClassVar[int]
    verify: bool
    ca: str
    sni: str
    client_cert: str
    client_key: str
    def __init__(self, verify: _Optional[bool] = ..., ca: _Optional[str] = ..., sni: _Optional[str] = ..., client_cert: _Optional[str] = ..., client_key: _Optional[str] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("address", "weight")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    address: str
    weight: int
    def __init__(self, address: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class HashKey(_message.Message):
    __slots__ = ("source", "name")
    class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CLIENT_IP: _ClassVar[HashKey.Source]
        HEADER: _ClassVar[HashKey.Source]
        COOKIE: _ClassVar[HashKey.Source]
    CLIENT_IP: HashKey.Source
    HEADER: HashKey.Source
    COOKIE: HashKey.Source
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    source: HashKey.Source
    name: str
    def __init__(self, source: _Optional[_Union[HashKey.Source, str]] = ..., name: _Optional[str] = ...) -> None: ...

class Timeouts(_message.Message):
    __slots__ = ("connect", "read", "total", "per_try")
    CONNECT_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PER_TRY_FIELD_NUMBER: _ClassVar[int]
    connect: float
    read: float
    total: float
    per_try: float
    def __init__(self, connect: _Optional[float] = ..., read: _Optional[float] = ..., total: _Optional[float] = ..., per_try: _Optional[float] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("enabled", "path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "expected_statuses")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    UNHEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STATUSES_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    expected_statuses: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, enabled: _Optional[bool] = ..., path: _Optional[str] = ..., interval: _Optional[float] = ..., timeout: _Optional[float] = ..., healthy_threshold: _Optional[int] = ..., unhealthy_threshold: _Optional[int] = ..., expected_statuses: _Optional[_Iterable[int]] = ...) -> None: ...

class CircuitBreaker(_message.Message):
    __slots__ = ("enabled", "failure_threshold", "recovery_time", "half_open_requests")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    FAILURE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_TIME_FIELD_NUMBER: _ClassVar[int]
    HALF_OPEN_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    failure_threshold: int
    recovery_time: float
    half_open_requests: int
    def __init__(self, enabled: _Optional[bool] = ..., failure_threshold: _Optional[int] = ..., recovery_time: _Optional[float] = ..., half_open_requests: _Optional[int] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("name", "hosts", "paths", "methods", "headers", "priority", "strip_prefix", "rewrite", "request_headers", "response_headers", "service", "timeouts", "max_body_bytes", "tags", "auth", "rate_limit", "cache", "cors", "transform", "https_only", "ip_allow", "ip_deny")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STRIP_PREFIX_FIELD_NUMBER: _ClassVar[int]
    REWRITE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HEADERS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    MAX_BODY_BYTES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    CORS_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    HTTPS_ONLY_FIELD_NUMBER: _ClassVar[int]
    IP_ALLOW_FIELD_NUMBER: _ClassVar[int]
    IP_DENY_FIELD_NUMBER: _ClassVar[int]
    name: str
    hosts: _containers.RepeatedScalarFieldContainer[str]
    paths: _containers.RepeatedScalarFieldContainer[str]
    methods: _containers.RepeatedScalarFieldContainer[str]
    headers: _containers.RepeatedCompositeFieldContainer[HeaderMatch]
    priority: int
    strip_prefix: bool
    rewrite: str
    request_headers: HeaderChanges
    response_headers: HeaderChanges
    service: str
    timeouts: Timeouts
    max_body_bytes: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    auth: AuthPolicy
    rate_limit: RateLimitPolicy
    cache: CachePolicy
    cors: CorsPolicy
    transform: TransformPolicy
    https_only: bool
    ip_allow: _containers.RepeatedScalarFieldContainer[str]
    ip_deny: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., hosts: _Optional[_Iterable[str]] = ..., paths: _Optional[_Iterable[str]] = ..., methods: _Optional[_Iterable[str]] = ..., headers: _Optional[_Iterable[_Union[HeaderMatch, _Mapping]]] = ..., priority: _Optional[int] = ..., strip_prefix: _Optional[bool] = ..., rewrite: _Optional[str] = ..., request_headers: _Optional[_Union[HeaderChanges, _Mapping]] = ..., response_headers: _Optional[_Union[HeaderChanges, _Mapping]] = ..., service: _Optional[str] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ..., max_body_bytes: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ..., auth: _Optional[_Union[AuthPolicy, _Mapping]] = ..., rate_limit: _Optional[_Union[RateLimitPolicy, _Mapping]] = ..., cache: _Optional[_Union[CachePolicy, _Mapping]] = ..., cors: _Optional[_Union[CorsPolicy, _Mapping]] = ..., transform: _Optional[_Union[TransformPolicy, _Mapping]] = ..., https_only: _Optional[bool] = ..., ip_allow: _Optional[_Iterable[str]] = ..., ip_deny: _Optional[_Iterable[str]] = ...) -> None: ...

class HeaderMatch(_message.Message):
    __slots__ = ("name", "kind", "value", "invert")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        EXACT: _ClassVar[HeaderMatch.Kind]
        PREFIX: _ClassVar[HeaderMatch.Kind]
        REGEX: _ClassVar[HeaderMatch.Kind]
        PRESENT: _ClassVar[HeaderMatch.Kind]
    EXACT: HeaderMatch.Kind
    PREFIX: HeaderMatch.Kind
    REGEX: HeaderMatch.Kind
    PRESENT: HeaderMatch.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    INVERT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: HeaderMatch.Kind
    value: str
    invert: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[HeaderMatch.Kind, str]] = ..., value: _Optional[str] = ..., invert: _Optional[bool] = ...) -> None: ...

class HeaderChanges(_message.Message):
    __slots__ = ("set", "add", "remove")
    class SetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AddEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SET_FIELD_NUMBER: _ClassVar[int]
    ADD_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    set: _containers.ScalarMap[str, str]
    add: _containers.ScalarMap[str, str]
    remove: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, set: _Optional[_Mapping[str, str]] = ..., add: _Optional[_Mapping[str, str]] = ..., remove: _Optional[_Iterable[str]] = ...) -> None: ...

class AuthPolicy(_message.Message):
    __slots__ = ("methods", "api_key_header", "api_key_query", "roles", "jwt", "anonymous")
    METHODS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_HEADER_FIELD_NUMBER: _ClassVar[int]
    API_KEY_QUERY_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    JWT_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    methods: _containers.RepeatedScalarFieldContainer[str]
    api_key_header: str
    api_key_query: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    jwt: JwtSettings
    anonymous: bool
    def __init__(self, methods: _Optional[_Iterable[str]] = ..., api_key_header: _Optional[str] = ..., api_key_query: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., jwt: _Optional[_Union[JwtSettings, _Mapping]] = ..., anonymous: _Optional[bool] = ...) -> None: ...

class JwtSettings(_message.Message):
    __slots__ = ("issuer", "audiences", "algorithms", "jwks_url", "secret", "roles_claim", "public_keys", "leeway")
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    ALGORITHMS_FIELD_NUMBER: _ClassVar[int]
    JWKS_URL_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    ROLES_CLAIM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    LEEWAY_FIELD_NUMBER: _ClassVar[int]
    issuer: str
    audiences: _containers.RepeatedScalarFieldContainer[str]
    algorithms: _containers.RepeatedScalarFieldContainer[str]
    jwks_url: str
    secret: str
    roles_claim: str
    public_keys: _containers.RepeatedScalarFieldContainer[str]
    leeway: float
    def __init__(self, issuer: _Optional[str] = ..., audiences: _Optional[_Iterable[str]] = ..., algorithms: _Optional[_Iterable[str]] = ..., jwks_url: _Optional[str] = ..., secret: _Optional[str] = ..., roles_claim: _Optional[str] = ..., public_keys: _Optional[_Iterable[str]] = ..., leeway: _Optional[float] = ...) -> None: ...

class RateLimitPolicy(_message.Message):
    __slots__ = ("requests_per_second", "requests_per_minute", "requests_per_hour", "requests_per_day", "by", "use_tier", "backend", "fail_mode", "decision_deadline")
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    USE_TIER_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    FAIL_MODE_FIELD_NUMBER: _ClassVar[int]
    DECISION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    requests_per_second: int
    requests_per_minute: int
    requests_per_hour: int
    requests_per_day: int
    by: str
    use_tier: bool
    backend: str
    fail_mode: str
    decision_deadline: float
    def __init__(self, requests_per_second: _Optional[int] = ..., requests_per_minute: _Optional[int] = ..., requests_per_hour: _Optional[int] = ..., requests_per_day: _Optional[int] = ..., by: _Optional[str] = ..., use_tier: _Optional[bool] = ..., backend: _Optional[str] = ..., fail_mode: _Optional[str] = ..., decision_deadline: _Optional[float] = ...) -> None: ...

class CachePolicy(_message.Message):
    __slots__ = ("ttl", "methods", "vary_headers", "max_body_bytes", "backend")
    TTL_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    VARY_HEADERS_FIELD_NUMBER: _ClassVar[int]
    MAX_BODY_BYTES_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ttl: float
    methods: _containers.RepeatedScalarFieldContainer[str]
    vary_headers: _containers.RepeatedScalarFieldContainer[str]
    max_body_bytes: int
    backend: str
    def __init__(self, ttl: _Optional[float] = ..., methods: _Optional[_Iterable[str]] = ..., vary_headers: _Optional[_Iterable[str]] = ..., max_body_bytes: _Optional[int] = ..., backend: _Optional[str] = ...) -> None: ...

class CorsPolicy(_message.Message):
    __slots__ = ("allow_origins", "allow_methods", "allow_headers", "expose_headers", "allow_credentials", "max_age")
    ALLOW_ORIGINS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_METHODS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_HEADERS_FIELD_NUMBER: _ClassVar[int]
    EXPOSE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    allow_origins: _containers.RepeatedScalarFieldContainer[str]
    allow_methods: _containers.RepeatedScalarFieldContainer[str]
    allow_headers: _containers.RepeatedScalarFieldContainer[str]
    expose_headers: _containers.RepeatedScalarFieldContainer[str]
    allow_credentials: bool
    max_age: int
    def __init__(self, allow_origins: _Optional[_Iterable[str]] = ..., allow_methods: _Optional[_Iterable[str]] = ..., allow_headers: _Optional[_Iterable[str]] = ..., expose_headers: _Optional[_Iterable[str]] = ..., allow_credentials: _Optional[bool] = ..., max_age: _Optional[int] = ...) -> None: ...

class TransformPolicy(_message.Message):
    __slots__ = ("add_query", "remove_query")
    class AddQueryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ADD_QUERY_FIELD_NUMBER: _ClassVar[int]
    REMOVE_QUERY_FIELD_NUMBER: _ClassVar[int]
    add_query: _containers.ScalarMap[str, str]
    remove_query: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, add_query: _Optional[_Mapping[str, str]] = ..., remove_query: _Optional[_Iterable[str]] = ...) -> None: ...

class Tier(_message.Message):
    __slots__ = ("name", "requests_per_second", "requests_per_minute", "requests_per_hour", "requests_per_day", "monthly_quota", "max_concurrent_requests", "priority", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_QUOTA_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    requests_per_second: int
    requests_per_minute: int
    requests_per_hour: int
    requests_per_day: int
    monthly_quota: int
    max_concurrent_requests: int
    priority: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., requests_per_second: _Optional[int] = ..., requests_per_minute: _Optional[int] = ..., requests_per_hour: _Optional[int] = ..., requests_per_day: _Optional[int] = ..., monthly_quota: _Optional[int] = ..., max_concurrent_requests: _Optional[int] = ..., priority: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class Tenant(_message.Message):
    __slots__ = ("name", "tier", "metadata", "tags")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tier: str
    metadata: _containers.ScalarMap[str, str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., tier: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class Consumer(_message.Message):
    __slots__ = ("name", "tenant", "roles", "api_keys", "jwt_subjects", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    JWT_SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tenant: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    jwt_subjects: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., tenant: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., api_keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., jwt_subjects: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "hash")
    ID_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    id: str
    hash: str
    def __init__(self, id: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("name", "cert", "key", "snis", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CERT_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SNIS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    cert: str
    key: str
    snis: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., cert: _Optional[str] = ..., key: _Optional[str] = ..., snis: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...
