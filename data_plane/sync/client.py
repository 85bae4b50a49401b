"""The node's ConfigSync stream: hello, apply what is pushed, ACK or NACK, report status.

One stream at a time to one of the `--control-plane` replicas. When it ends or cannot
be opened, the client waits a jittered, exponentially growing delay (at most 10 s) and
tries the next replica. If the very first attempts fail and the node serves nothing
yet, it starts from its on-disk cache. Every applied push is written to that cache.

The node itself is reached through `SyncedNode`: compile and swap happen in
`apply_snapshot`, off the event loop; this module only speaks the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, cast

import grpc
from fleetgate_pb import config_pb2
from fleetgate_pb import sync_pb2 as pb
from fleetgate_pb import sync_pb2_grpc as pb_grpc
from google.protobuf.message import DecodeError

from data_plane.runtime import SnapshotView
from data_plane.sync.contract import (
    ACCEPTED_HEADER,
    AUTHORIZATION_HEADER,
    MAX_SNAPSHOT_BYTES,
    OUTLOOK_HEADER,
    SnapshotRef,
    bearer,
)

from .backoff import Backoff
from .cache import SnapshotDiskCache
from .identity import SCHEMA_VERSION, software_version
from .settings import SyncSettings

log = logging.getLogger("fleetgate.sync")

ROLLOUT_STATUS_INTERVAL = 2.0  # seconds between status reports while serving a candidate

CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_SNAPSHOT_BYTES),
    # Detect a control plane that vanished without closing the connection.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # Our own backoff decides when to reconnect, not the channel's.
    ("grpc.enable_retries", 0),
)


class SyncedNode(Protocol):
    """What the client needs of the node it configures."""

    async def apply_snapshot(self, snapshot: config_pb2.Snapshot, payload: bytes = b"") -> float:
        """Compile and swap; returns the apply time in seconds, raises with a reason.
        `payload`: the bytes `snapshot` was parsed from, when it came over the stream."""

    async def apply_candidate(
        self, snapshot: config_pb2.Snapshot, selector: pb.CandidateSelector
    ) -> float:
        """Compile and serve beside the active config for what `selector` picks."""

    async def promote_candidate(self) -> float:
        """The candidate becomes the active config."""

    async def drop_candidate(self) -> None:
        """Stop serving the candidate."""


class StreamRefused(Exception):
    """The control plane answered the hello with an error status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        super().__init__(f"{code.name}: {details}")


class SyncClient:
    def __init__(
        self,
        node: SyncedNode,
        settings: SyncSettings,
        *,
        capabilities: Iterable[str],
        status: Callable[[], pb.NodeStatus],
        disk: SnapshotDiskCache | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._node = node
        self._settings = settings
        self._capabilities = sorted(capabilities)
        self._status = status
        self._disk = disk or SnapshotDiskCache(settings.cache_dir)
        self._backoff = backoff or Backoff(cap=settings.reconnect_max_delay)
        self._sleep = sleep
        # Connection state
        self.applied: SnapshotRef | None = None
        self.candidate: SnapshotRef | None = None  # served beside `applied` in a rollout
        self.connected_to: str | None = None
        self._cache_tried = False
        self._attempts = 0
        self._routes: list[bytes] = []  # of the last active release read, serialized

    async def run(self) -> None:
        """Keep a stream open to some replica, forever (until cancelled)."""
        addresses = self._settings.addresses
        while True:
            address = addresses[self._attempts % len(addresses)]
            self._attempts += 1
            try:
                await self._stream(address)
                log.warning("config sync: %s ended the stream", address)
            except StreamRefused as exc:
                log.error("config sync: %s refused this node: %s", address, exc)
            except (grpc.aio.AioRpcError, TimeoutError, OSError) as exc:
                log.warning("config sync: %s: %s", address, _describe(exc))
            except Exception:
                # A node must keep trying whatever went wrong with one stream.
                log.exception("config sync: the stream to %s failed", address)
            finally:
                self.connected_to = None
            if self.applied is None and not self._cache_tried:
                await self._serve_cache()
            delay = self._backoff.next_delay()
            log.info("config sync: next attempt in %.1f s", delay)
            await self._sleep(delay)

    # ------------------------------------------------------------ one stream

    async def _stream(self, address: str) -> None:
        channel = self._channel(address)
        try:
            await _ready(channel, self._settings.connect_timeout)
            call = pb_grpc.ConfigSyncStub(channel).Stream(
                metadata=((AUTHORIZATION_HEADER, bearer(self._settings.cluster_token)),)
            )
            sender = _Sender(call)
            await sender.send(pb.NodeMessage(hello=self._hello()))
            metadata = await asyncio.wait_for(
                call.initial_metadata(), self._settings.connect_timeout
            )
            answers = {key: value for key, value in metadata or ()}
            if ACCEPTED_HEADER not in answers:
                raise StreamRefused(await call.code(), await call.details() or "")
            self.connected_to = address
            self._backoff.reset()
            outlook = answers.get(OUTLOOK_HEADER, "")
            log.info(
                "config sync: connected to %s as %s (%s)", address, self._settings.node_id, outlook
            )
            if outlook == "rejected" and self.applied is None and not self._cache_tried:
                # This node refused the latest release before it restarted: the control
                # plane has nothing else for it, and its last good snapshot is on disk.
                await self._serve_cache()
            await sender.send(self._status_message)
            reporter = asyncio.create_task(self._report_every(sender))
            try:
                while (message := await call.read()) is not grpc.aio.EOF:
                    assert isinstance(message, pb.ControlMessage)
                    await self._handle(message, sender)
            finally:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
        finally:
            await channel.close()

    def _channel(self, address: str) -> grpc.aio.Channel:
        tls = self._settings.tls
        if tls is None:
            return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
        )
        return grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)

    def _hello(self) -> pb.Hello:
        hello = pb.Hello(
            node_id=self._settings.node_id,
            labels=self._settings.labels,
            software_version=software_version(),
            schema_version=SCHEMA_VERSION,
            capabilities=self._capabilities,
            address=self._settings.address,
        )
        if self.applied is not None:
            hello.active.CopyFrom(
                pb.SnapshotRef(version=self.applied.version, hash=self.applied.hash)
            )
        if self.candidate is not None:
            hello.candidate.CopyFrom(
                pb.SnapshotRef(version=self.candidate.version, hash=self.candidate.hash)
            )
        return hello

    async def _report_every(self, sender: _Sender) -> None:
        while True:
            interval = self._settings.status_interval
            if self.candidate is not None:
                interval = min(interval, ROLLOUT_STATUS_INTERVAL)  # the gate's figures
            await asyncio.sleep(interval)
            try:
                await sender.send(self._status_message)
            except (ConnectionError, grpc.aio.AioRpcError):
                return  # the read loop sees the end of the stream and reconnects

    # ------------------------------------------------------------ what the control plane says

    async def _handle(self, message: pb.ControlMessage, sender: _Sender) -> None:
        kind = message.WhichOneof("msg")
        if kind == "push":
            await self._on_push(message.push, sender)
        elif kind == "drop_candidate":
            await self._drop_candidate()
            await sender.send(_ack(message.drop_candidate.nonce, None, 0.0, pb.CANDIDATE))
            await sender.send(self._status_message)
        elif kind == "promote":
            # Promotion comes as the candidate's content pushed as the active release,
            # which every node applies alike, holding the candidate or not.
            nonce = message.promote.nonce
            await sender.send(_nack(nonce, pb.CANDIDATE, None, "promote comes as an active push"))

    async def _on_push(self, push: pb.SnapshotPush, sender: _Sender) -> None:
        try:
            snapshot = self._read(push)
        except DecodeError as exc:
            await sender.send(_nack(push.nonce, push.slot, None, f"snapshot does not parse: {exc}"))
            return
        pushed = SnapshotRef(snapshot.version, snapshot.hash)
        if push.slot == pb.CANDIDATE:
            await self._on_candidate(push, snapshot, pushed, sender)
            return
        if pushed == self.applied:
            await sender.send(_ack(push.nonce, pushed, 0.0))
            return
        if self.candidate is not None and pushed.hash == self.candidate.hash:
            # The candidate promoted: it is compiled and serving already.
            try:
                seconds = await self._node.promote_candidate()
            except Exception:
                log.exception("config sync: promoting candidate %s failed; applying it", pushed)
            else:
                self.applied, self.candidate = pushed, None
                await asyncio.to_thread(self._cache_promoted, push.snapshot)
                log.info("config sync: promoted candidate %s in %.3f s", pushed, seconds)
                await sender.send(_ack(push.nonce, pushed, seconds))
                await sender.send(self._status_message)
                return
        try:
            seconds = await self._node.apply_snapshot(snapshot, push.snapshot)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            if not isinstance(exc, ValueError):  # ConfigInvalid and ApplyError are expected
                log.exception("config sync: applying %s failed", pushed)
            log.warning("config sync: rejected %s: %s", pushed, reason)
            await sender.send(_nack(push.nonce, push.slot, pushed, reason))
            return
        self.applied = pushed
        log.info("config sync: applied %s in %.3f s", pushed, seconds)
        # Cached before the ACK: a node restarted right after it still holds what it ACKed.
        try:
            await asyncio.to_thread(self._disk.write, push.snapshot)
        except OSError as exc:
            log.error("config sync: cannot write the snapshot cache %s: %s", self._disk.path, exc)
        await sender.send(_ack(push.nonce, pushed, seconds))
        await sender.send(self._status_message)

    def _read(self, push: pb.SnapshotPush) -> config_pb2.Snapshot:
        """The pushed snapshot; raises DecodeError when it does not parse.

        An active release is read as a `SnapshotView` checked against the routes of
        the release read before: only the routes that changed are parsed (all of them
        are at the first push, or when what was read before does not help), and a
        payload that does not parse raises what parsing it whole raises."""
        if push.slot == pb.CANDIDATE:
            return config_pb2.Snapshot.FromString(push.snapshot)
        view = SnapshotView.checked(push.snapshot, self._routes)
        self._routes = view.definitions.routes
        return cast(config_pb2.Snapshot, view)

    async def _on_candidate(
        self,
        push: pb.SnapshotPush,
        snapshot: config_pb2.Snapshot,
        pushed: SnapshotRef,
        sender: _Sender,
    ) -> None:
        try:
            seconds = await self._node.apply_candidate(snapshot, push.selector)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            if not isinstance(exc, ValueError):
                log.exception("config sync: applying candidate %s failed", pushed)
            log.warning("config sync: rejected candidate %s: %s", pushed, reason)
            await sender.send(_nack(push.nonce, push.slot, pushed, reason))
            return
        log.info("config sync: serving candidate %s in %.3f s", pushed, seconds)
        cached = pb.SnapshotPush(slot=pb.CANDIDATE, snapshot=push.snapshot, selector=push.selector)
        try:
            await asyncio.to_thread(self._disk.write_candidate, cached.SerializeToString())
        except OSError as exc:
            log.error("config sync: cannot write the candidate cache %s: %s", self._disk.path, exc)
        # Only now: status reports name the candidate once it is cached (see _status_message).
        self.candidate = pushed
        await sender.send(_ack(push.nonce, pushed, seconds, pb.CANDIDATE))
        await sender.send(self._status_message)

    async def _drop_candidate(self) -> None:
        if self.candidate is not None:
            await self._node.drop_candidate()
            log.info("config sync: dropped candidate %s", self.candidate)
            self.candidate = None
        try:
            await asyncio.to_thread(self._disk.drop_candidate)
        except OSError as exc:
            log.error("config sync: cannot remove the candidate cache: %s", exc)

    def _cache_promoted(self, payload: bytes) -> None:
        try:
            self._disk.write(payload)
            self._disk.drop_candidate()
        except OSError as exc:
            log.error("config sync: cannot write the snapshot cache %s: %s", self._disk.path, exc)

    def _status_message(self) -> pb.NodeMessage:
        """The node's status; a candidate it serves is named only once this client holds
        it (`self.candidate`: set after its disk cache is written), so that the control
        plane never counts a node serving a candidate that a restart would lose."""
        status = self._status()
        held = None if self.candidate is None else self.candidate.hash
        slots = [s for s in status.slots if s.slot != pb.CANDIDATE or s.snapshot.hash == held]
        if len(slots) != len(status.slots):
            del status.slots[:]
            status.slots.extend(slots)
        return pb.NodeMessage(status=status)

    # ------------------------------------------------------------ the control plane is away

    async def _serve_cache(self) -> None:
        self._cache_tried = True
        snapshot = await asyncio.to_thread(self._disk.load)
        if snapshot is None:
            log.warning(
                "config sync: no usable snapshot cache in %s; not ready until a "
                "control plane answers",
                self._disk.directory,
            )
            return
        cached = SnapshotRef(snapshot.version, snapshot.hash)
        try:
            await self._node.apply_snapshot(snapshot)
        except Exception as exc:
            log.error("config sync: the cached snapshot %s cannot be applied: %s", cached, exc)
            return
        self.applied = cached
        log.warning("config sync: no control plane answers; serving the cached snapshot %s", cached)
        candidate = await asyncio.to_thread(self._disk.load_candidate)
        if candidate is None:
            return
        snapshot, selector = candidate
        held = SnapshotRef(snapshot.version, snapshot.hash)
        try:
            await self._node.apply_candidate(snapshot, selector)
        except Exception as exc:
            log.error("config sync: the cached candidate %s cannot be applied: %s", held, exc)
            return
        self.candidate = held
        log.warning("config sync: serving the cached candidate %s beside it", held)

    def __repr__(self) -> str:
        where = self.connected_to or "disconnected"
        return (
            f"<SyncClient {self._settings.node_id} {where} applied={self.applied}"
            f" candidate={self.candidate}>"
        )


class _Sender:
    """Writes to the stream one message at a time: the read loop and the reporter share it."""

    def __init__(self, call: grpc.aio.StreamStreamCall[pb.NodeMessage, pb.ControlMessage]) -> None:
        self._call = call
        self._lock = asyncio.Lock()

    async def send(self, message: pb.NodeMessage | Callable[[], pb.NodeMessage]) -> None:
        """Write `message`; a callable is called under the lock, so a status report is
        never built before an ACK and written after it."""
        async with self._lock:
            if callable(message):
                message = message()
            try:
                await self._call.write(message)
            except asyncio.InvalidStateError:  # grpc.aio's word for "the RPC has ended"
                raise ConnectionResetError("the stream has ended") from None


async def _ready(channel: grpc.aio.Channel, timeout: float) -> None:
    """Wait for a connection, failing at the first refusal instead of retrying inside gRPC."""
    async with asyncio.timeout(timeout):
        state = channel.get_state(try_to_connect=True)
        while state is not grpc.ChannelConnectivity.READY:
            if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                raise ConnectionError(
                    "cannot connect: nothing listens there, or the TLS handshake failed"
                )
            await channel.wait_for_state_change(state)
            state = channel.get_state(try_to_connect=True)


def _ack(
    nonce: str, held: SnapshotRef | None, seconds: float, slot: pb.Slot = pb.ACTIVE
) -> pb.NodeMessage:
    ack = pb.Ack(nonce=nonce, slot=slot, apply_seconds=seconds)
    if held is not None:
        ack.snapshot.CopyFrom(pb.SnapshotRef(version=held.version, hash=held.hash))
    return pb.NodeMessage(ack=ack)


def _nack(nonce: str, slot: pb.Slot, held: SnapshotRef | None, error: str) -> pb.NodeMessage:
    nack = pb.Nack(nonce=nonce, slot=slot, error=error)
    if held is not None:
        nack.snapshot.CopyFrom(pb.SnapshotRef(version=held.version, hash=held.hash))
    return pb.NodeMessage(nack=nack)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__
