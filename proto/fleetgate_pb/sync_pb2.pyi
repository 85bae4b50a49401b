from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Slot(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVE: _ClassVar[Slot]
    CANDIDATE: _ClassVar[Slot]
ACTIVE: Slot
CANDIDATE: Slot

class SnapshotRef(_message.Message):
    __slots__ = ("version", "hash")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    version: int
    hash: str
    def __init__(self, version: _Optional[int] = ..., hash: _Optional[str] = ...) -> None: ...

class NodeMessage(_message.Message):
    __slots__ = ("hello", "ack", "nack", "status")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    NACK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    ack: Ack
    nack: Nack
    status: NodeStatus
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., nack: _Optional[_Union[Nack, _Mapping]] = ..., status: _Optional[_Union[NodeStatus, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("node_id", "labels", "software_version", "schema_version", "capabilities", "address", "active", "candidate")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    labels: _containers.ScalarMap[str, str]
    software_version: str
    schema_version: int
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    address: str
    active: SnapshotRef
    candidate: SnapshotRef
    def __init__(self, node_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., software_version: _Optional[str] = ..., schema_version: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., address: _Optional[str] = ..., active: _Optional[_Union[SnapshotRef, _Mapping]] = ..., candidate: _Optional[_Union[SnapshotRef, _Mapping]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("nonce", "slot", "snapshot", "apply_seconds")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    APPLY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    slot: Slot
    snapshot: SnapshotRef
    apply_seconds: float
    def __init__(self, nonce: _Optional[str] = ..., slot: _Optional[_Union[Slot, str]] = ..., snapshot: _Optional[_Union[SnapshotRef, _Mapping]] = ..., apply_seconds: _Optional[float] = ...) -> None: ...

class Nack(_message.Message):
    __slots__ = ("nonce", "slot", "snapshot", "error")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    slot: Slot
    snapshot: SnapshotRef
    error: str
    def __init__(self, nonce: _Optional[str] = ..., slot: _Optional[_Union[Slot, str]] = ..., snapshot: _Optional[_Union[SnapshotRef, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("slots", "open_connections", "uptime_seconds", "targets")
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    OPEN_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[SlotStatus]
    open_connections: int
    uptime_seconds: float
    targets: _containers.RepeatedCompositeFieldContainer[TargetStatus]
    def __init__(self, slots: _Optional[_Iterable[_Union[SlotStatus, _Mapping]]] = ..., open_connections: _Optional[int] = ..., uptime_seconds: _Optional[float] = ..., targets: _Optional[_Iterable[_Union[TargetStatus, _Mapping]]] = ...) -> None: ...

class TargetStatus(_message.Message):
    __slots__ = ("service", "address", "healthy", "breaker")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    service: str
    address: str
    healthy: bool
    breaker: str
    def __init__(self, service: _Optional[str] = ..., address: _Optional[str] = ..., healthy: _Optional[bool] = ..., breaker: _Optional[str] = ...) -> None: ...

class SlotStatus(_message.Message):
    __slots__ = ("slot", "snapshot", "request_rate", "error_rate", "p50_ms", "p99_ms", "requests")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_RATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    slot: Slot
    snapshot: SnapshotRef
    request_rate: float
    error_rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    def __init__(self, slot: _Optional[_Union[Slot, str]] = ..., snapshot: _Optional[_Union[SnapshotRef, _Mapping]] = ..., request_rate: _Optional[float] = ..., error_rate: _Optional[float] = ..., p50_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., requests: _Optional[int] = ...) -> None: ...

class ControlMessage(_message.Message):
    __slots__ = ("push", "promote", "drop_candidate")
    PUSH_FIELD_NUMBER: _ClassVar[int]
    PROMOTE_FIELD_NUMBER: _ClassVar[int]
    DROP_CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    push: SnapshotPush
    promote: Promote
    drop_candidate: DropCandidate
    def __init__(self, push: _Optional[_Union[SnapshotPush, _Mapping]] = ..., promote: _Optional[_Union[Promote, _Mapping]] = ..., drop_candidate: _Optional[_Union[DropCandidate, _Mapping]] = ...) -> None: ...

class SnapshotPush(_message.Message):
    __slots__ = ("nonce", "slot", "snapshot", "selector")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    slot: Slot
    snapshot: bytes
    selector: CandidateSelector
    def __init__(self, nonce: _Optional[str] = ..., slot: _Optional[_Union[Slot, str]] = ..., snapshot: _Optional[bytes] = ..., selector: _Optional[_Union[CandidateSelector, _Mapping]] = ...) -> None: ...

class CandidateSelector(_message.Message):
    __slots__ = ("header_name", "header_value", "percent", "whole_node", "by", "by_name")
    class By(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CLIENT_IP: _ClassVar[CandidateSelector.By]
        HEADER: _ClassVar[CandidateSelector.By]
        COOKIE: _ClassVar[CandidateSelector.By]
    CLIENT_IP: CandidateSelector.By
    HEADER: CandidateSelector.By
    COOKIE: CandidateSelector.By
    HEADER_NAME_FIELD_NUMBER: _ClassVar[int]
    HEADER_VALUE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    WHOLE_NODE_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    BY_NAME_FIELD_NUMBER: _ClassVar[int]
    header_name: str
    header_value: str
    percent: int
    whole_node: bool
    by: CandidateSelector.By
    by_name: str
    def __init__(self, header_name: _Optional[str] = ..., header_value: _Optional[str] = ..., percent: _Optional[int] = ..., whole_node: _Optional[bool] = ..., by: _Optional[_Union[CandidateSelector.By, str]] = ..., by_name: _Optional[str] = ...) -> None: ...

class Promote(_message.Message):
    __slots__ = ("nonce", "snapshot")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    snapshot: SnapshotRef
    def __init__(self, nonce: _Optional[str] = ..., snapshot: _Optional[_Union[SnapshotRef, _Mapping]] = ...) -> None: ...

class DropCandidate(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    def __init__(self, nonce: _Optional[str] = ...) -> None: ...
