"""The grpc.aio ConfigSync servicer: one bidirectional stream per data-plane node.

It knows nothing of SQL, as go-control-plane's server knows nothing of storage: releases
come from the `SnapshotCache`, and what nodes say goes to an `Inventory`. A stream is
three small parts: the generator that writes (pushes taken from an outbox), a reader
task that handles the node's ACKs, NACKs and status reports, and a follower task that
wakes when the cache holds a newer release. The `NodeSession` decides every push.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Protocol

import grpc
from fleetgate_pb import sync_pb2 as pb
from fleetgate_pb import sync_pb2_grpc as pb_grpc

from data_plane.sync.contract import (
    ACCEPTED_HEADER,
    AUTHORIZATION_HEADER,
    OUTLOOK_HEADER,
    SnapshotRef,
    Unreadable,
    bearer,
    cluster_tokens,
    node_message_problem,
)

from .cache import CachedRelease, Slot, SnapshotCache
from .metrics import SyncMetrics
from .refusals import RefusalLog
from .session import NodeSession, Push
from .wire import push_bytes, push_tail

log = logging.getLogger("fleetgate.sync")

NodeMessages = AsyncIterator[pb.NodeMessage | Unreadable]
# What a stream is to send: pushes are encoded only as they are sent (`_encoded`), so a
# release woken on 2,000 streams at once is not 2,000 encoded copies waiting in queues.
Outbox = asyncio.Queue[Push | pb.ControlMessage | None]
_SLOTS = {Slot.ACTIVE: pb.ACTIVE, Slot.CANDIDATE: pb.CANDIDATE}


class Inventory(Protocol):
    """Where the service reports what nodes say; the SQL inventory implements it."""

    async def connected(self, hello: pb.Hello, peer: str) -> set[SnapshotRef]:
        """Record a node's hello; returns the snapshots it rejected before."""

    def acked(self, node_id: str, ref: SnapshotRef, apply_seconds: float) -> None: ...

    def nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None: ...

    def candidate_acked(self, node_id: str, ref: SnapshotRef | None) -> None:
        """The node serves candidate `ref` beside its active config (None: no candidate)."""

    def candidate_nacked(self, node_id: str, ref: SnapshotRef, error: str) -> None: ...

    def reported(self, node_id: str, status: pb.NodeStatus) -> None: ...

    def disconnected(self, node_id: str) -> None: ...


class ProtocolViolation(Exception):
    """A node broke the stream's rules; the stream ends with INVALID_ARGUMENT."""


def held_ref(ref: pb.SnapshotRef) -> SnapshotRef | None:
    """What a hello says the node holds; version 0 with no hash means nothing."""
    if ref.version == 0 and not ref.hash:
        return None
    return SnapshotRef(ref.version, ref.hash)


class ConfigSyncService(pb_grpc.ConfigSyncServicer):
    def __init__(
        self,
        cache: SnapshotCache,
        inventory: Inventory,
        metrics: SyncMetrics,
        *,
        cluster_token: str,
        hello_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not cluster_token:
            raise ValueError("the config sync service needs a cluster token")
        self._cache = cache
        self._inventory = inventory
        self._metrics = metrics
        # One token, or NEW,OLD while the cluster token is rotated (docs/deploy.md).
        self._tokens = tuple(bearer(token).encode() for token in cluster_tokens(cluster_token))
        self._hello_timeout = hello_timeout
        self._clock = clock
        # node id -> its session on this replica, for __repr__ and the connected gauge.
        self._sessions: dict[str, NodeSession] = {}
        self._refusals = RefusalLog(log)
        # The latest release of each slot with its encoded snapshot field, shared by streams.
        self._tails: dict[Slot, tuple[CachedRelease, bytes]] = {}

    async def Stream(
        self,
        request_iterator: NodeMessages,
        context: grpc.aio.ServicerContext[pb.NodeMessage, pb.ControlMessage],
    ) -> AsyncIterator[pb.ControlMessage | bytes]:
        if not self._authorized(context.invocation_metadata() or ()):
            self._refusals.warning(
                "token", "config sync: refused %s: missing or wrong cluster token", context.peer()
            )
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong cluster token")
        try:
            hello = await self._receive_hello(request_iterator)
        except ProtocolViolation as exc:
            self._refusals.warning("hello", "config sync: refused %s: %s", context.peer(), exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        mismatch = certificate_mismatch(hello.node_id, context.auth_context())
        if mismatch is not None:
            self._refusals.warning(
                "certificate", "config sync: refused %s: %s", context.peer(), mismatch
            )
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, mismatch)

        session = NodeSession(
            hello.node_id,
            holds=held_ref(hello.active),
            labels=dict(hello.labels),
            candidate=held_ref(hello.candidate),
        )
        session.rejected |= await self._inventory.connected(hello, context.peer())
        outbox: Outbox = asyncio.Queue()
        self._sessions[session.node_id] = session
        self._metrics.connected_nodes.inc()
        tasks: list[asyncio.Task[None]] = []
        try:
            latest = self._cache.latest()
            generation = self._cache.generation
            push, outlook = session.connect(latest, self._cache.rollout)
            await context.send_initial_metadata(
                ((ACCEPTED_HEADER, hello.node_id), (OUTLOOK_HEADER, outlook))
            )
            log.info(
                "config sync: node %s connected from %s, %s; %s",
                session.node_id,
                context.peer(),
                session.holds or "holding nothing",
                outlook,
            )
            if push is not None:
                self._send(push, outbox)
            reader = asyncio.create_task(self._read(request_iterator, session, outbox))
            tasks = [
                reader,
                asyncio.create_task(self._follow(session, outbox, generation)),
            ]
            while (message := await outbox.get()) is not None:
                yield self._encoded(message) if isinstance(message, Push) else message
            ended = reader.exception() if reader.done() and not reader.cancelled() else None
            if isinstance(ended, ProtocolViolation):
                self._refusals.warning(
                    "message", "config sync: node %s: %s", session.node_id, ended
                )
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(ended))
            if ended is not None:
                log.debug("config sync: node %s stream ended: %r", session.node_id, ended)
        finally:
            for task in tasks:
                task.cancel()
            if self._sessions.get(session.node_id) is session:
                del self._sessions[session.node_id]
            self._metrics.connected_nodes.dec()
            self._inventory.disconnected(session.node_id)
            log.info("config sync: node %s disconnected", session.node_id)

    # ------------------------------------------------------------ the stream's parts

    def _authorized(self, metadata: Iterable[tuple[str, str | bytes]]) -> bool:
        for key, value in metadata:
            if key == AUTHORIZATION_HEADER:
                given = value if isinstance(value, bytes) else value.encode()
                # Every token compared, so the time taken does not tell which one matched.
                matches = [hmac.compare_digest(given, token) for token in self._tokens]
                return any(matches)
        return False

    async def _receive_hello(self, requests: NodeMessages) -> pb.Hello:
        try:
            first = await asyncio.wait_for(anext(requests), self._hello_timeout)
        except StopAsyncIteration:
            raise ProtocolViolation("the stream ended before a hello") from None
        except TimeoutError:
            raise ProtocolViolation(f"no hello within {self._hello_timeout:g} s") from None
        message = _checked(first)
        if message.WhichOneof("msg") != "hello":
            raise ProtocolViolation("the first message on the stream must be a hello")
        return message.hello

    async def _read(
        self,
        requests: NodeMessages,
        session: NodeSession,
        outbox: Outbox,
    ) -> None:
        try:
            async for received in requests:
                message = _checked(received)
                kind = message.WhichOneof("msg")
                if kind == "ack":
                    self._on_ack(session, message.ack, outbox)
                elif kind == "nack":
                    self._on_nack(session, message.nack, outbox)
                elif kind == "status":
                    session.reported(
                        _slot_ref(message.status, pb.ACTIVE),
                        _slot_ref(message.status, pb.CANDIDATE),
                    )
                    self._inventory.reported(session.node_id, message.status)
                else:
                    raise ProtocolViolation(f"unexpected {kind or 'empty'} message after the hello")
        finally:
            outbox.put_nowait(None)

    async def _follow(
        self,
        session: NodeSession,
        outbox: Outbox,
        generation: int,
    ) -> None:
        while True:
            generation = await self._cache.wait_change(generation)
            self._offer(session, outbox, live=True)

    # ------------------------------------------------------------ decisions -> messages

    def _on_ack(
        self,
        session: NodeSession,
        ack: pb.Ack,
        outbox: Outbox,
    ) -> None:
        answer = session.ack(ack.nonce)
        if answer is None:
            log.debug("config sync: node %s: ACK of unknown nonce %r", session.node_id, ack.nonce)
            return
        push = answer.push
        if push.slot is Slot.CANDIDATE:
            ref = None if push.release is None else push.release.ref
            self._inventory.candidate_acked(session.node_id, ref)
        else:
            assert push.release is not None
            self._inventory.acked(session.node_id, push.release.ref, ack.apply_seconds)
            if session.candidate is None:
                self._inventory.candidate_acked(session.node_id, None)
            if push.live:
                lag = self._clock() - push.release.committed_at
                self._metrics.propagation.observe(max(0.0, lag))
        self._offer(session, outbox, live=True)

    def _on_nack(
        self,
        session: NodeSession,
        nack: pb.Nack,
        outbox: Outbox,
    ) -> None:
        answer = session.nack(nack.nonce, nack.error)
        if answer is None:
            log.debug("config sync: node %s: NACK of unknown nonce %r", session.node_id, nack.nonce)
            return
        push = answer.push
        error = answer.error or ""
        if push.release is None:
            log.warning(
                "config sync: node %s refused to drop its candidate: %s", session.node_id, error
            )
        else:
            ref = push.release.ref
            slot = push.slot.value
            log.warning(
                "config sync: node %s rejected %s %s: %s", session.node_id, slot, ref, error
            )
            self._metrics.nacks.inc()
            if push.slot is Slot.CANDIDATE:
                self._inventory.candidate_nacked(session.node_id, ref, error)
            else:
                self._inventory.nacked(session.node_id, ref, error)
        self._offer(session, outbox, live=True)

    def _offer(
        self,
        session: NodeSession,
        outbox: Outbox,
        *,
        live: bool,
    ) -> None:
        push = session.offer(self._cache.latest(), live=live, rollout=self._cache.rollout)
        if push is not None:
            self._send(push, outbox)

    def _send(self, push: Push, outbox: Outbox) -> None:
        if push.release is None:
            outbox.put_nowait(_push_message(push))
            return
        # A candidate's push carries this node's selector: it is encoded for this stream.
        outbox.put_nowait(push if push.slot is Slot.ACTIVE else _push_message(push))
        self._metrics.pushes.inc()
        self._metrics.pushed_bytes.inc(len(push.release.payload))

    def _encoded(self, push: Push) -> bytes:
        """The push on the wire: the release's part encoded once, the nonce per stream."""
        assert push.release is not None
        held = self._tails.get(push.slot)
        if held is None or held[0] is not push.release:
            held = (push.release, push_tail(_SLOTS[push.slot], push.release.payload))
            self._tails[push.slot] = held
        return push_bytes(push.nonce, held[1])

    def __repr__(self) -> str:
        return f"<ConfigSyncService nodes={len(self._sessions)} cache={self._cache!r}>"


def _checked(received: pb.NodeMessage | Unreadable) -> pb.NodeMessage:
    """`received` if it parsed and is within the stream's bounds; else ProtocolViolation."""
    if isinstance(received, Unreadable):
        raise ProtocolViolation(received.reason)
    problem = node_message_problem(received)
    if problem is not None:
        raise ProtocolViolation(problem)
    return received


def certificate_mismatch(node_id: str, auth: Mapping[str, Sequence[bytes]] | None) -> str | None:
    """Why the client certificate does not name `node_id`; None when it does or no TLS.

    `fleetgate certs --node NAME` writes NAME as the certificate's common name and its
    DNS name: a node holding another node's certificate cannot speak for it.
    """
    auth = auth or {}
    if auth.get("transport_security_type") != [b"ssl"]:
        return None
    names = {
        value.decode("utf-8", "replace")
        for key in ("x509_common_name", "x509_subject_alternative_name")
        for value in auth.get(key, ())
    }
    if node_id in names:
        return None
    shown = ", ".join(sorted(names)[:4]) or "no name"
    return f"the client certificate names {shown}, not node {node_id!r}"


def _slot_ref(status: pb.NodeStatus, slot: pb.Slot) -> SnapshotRef | None:
    for reported in status.slots:
        if reported.slot == slot and reported.HasField("snapshot"):
            return held_ref(reported.snapshot)
    return None


def _push_message(push: Push) -> pb.ControlMessage:
    if push.release is None:
        return pb.ControlMessage(drop_candidate=pb.DropCandidate(nonce=push.nonce))
    message = pb.SnapshotPush(
        nonce=push.nonce, slot=_SLOTS[push.slot], snapshot=push.release.payload
    )
    if push.selector is not None:
        message.selector.CopyFrom(push.selector)
    return pb.ControlMessage(push=message)
