"""The node's on-disk cache of the last snapshot it applied (config sync rule 6).

After each successful apply the pushed bytes are written to `<cache-dir>/snapshot.pb`
the crash-safe way: a temporary file, fsync, rename over the old one, fsync of the
directory. A node that starts while no control plane answers serves from this file.
A file that does not parse, or whose content does not match its own hash, is ignored
with a log line: better not ready than serving a torn config.

During a blue/green rollout the candidate is kept beside it, in `candidate.pb`, as the
push that brought it (the snapshot and its selector), so a node restarted mid-rollout
comes back serving both; promote and rollback remove it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fleetgate_pb import config_pb2 as pb
from fleetgate_pb import sync_pb2
from google.protobuf.message import DecodeError

from data_plane.config.snapshot import content_hash

log = logging.getLogger("fleetgate.sync")

FILE_NAME = "snapshot.pb"
CANDIDATE_FILE_NAME = "candidate.pb"


class SnapshotDiskCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self.candidate_path = self.directory / CANDIDATE_FILE_NAME

    def write(self, payload: bytes) -> None:
        """Replace the cached snapshot by `payload` (a serialized Snapshot), atomically."""
        self._write(self.path, payload)

    def write_candidate(self, push: bytes) -> None:
        """Keep the candidate's push (a serialized SnapshotPush), atomically."""
        self._write(self.candidate_path, push)

    def drop_candidate(self) -> None:
        self.candidate_path.unlink(missing_ok=True)

    def _write(self, path: Path, payload: bytes) -> None:
        # The snapshot holds key hashes and JWT secrets: only this user may read it.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.directory / f".{path.name}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        directory_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)  # makes the rename itself durable
        finally:
            os.close(directory_fd)

    def load(self) -> pb.Snapshot | None:
        """The cached snapshot, or None when there is none or it cannot be trusted."""
        payload = self._read(self.path)
        return None if payload is None else self._snapshot(self.path, payload)

    def load_candidate(self) -> tuple[pb.Snapshot, sync_pb2.CandidateSelector] | None:
        """The cached candidate and its selector, or None."""
        payload = self._read(self.candidate_path)
        if payload is None:
            return None
        try:
            push = sync_pb2.SnapshotPush.FromString(payload)
        except DecodeError as exc:
            log.warning(
                "ignoring the candidate cache %s: it does not parse (%s)", self.candidate_path, exc
            )
            return None
        snapshot = self._snapshot(self.candidate_path, push.snapshot)
        return None if snapshot is None else (snapshot, push.selector)

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("ignoring the snapshot cache %s: %s", path, exc)
            return None

    def _snapshot(self, path: Path, payload: bytes) -> pb.Snapshot | None:
        try:
            snapshot = pb.Snapshot.FromString(payload)
        except DecodeError as exc:
            log.warning("ignoring the snapshot cache %s: it does not parse (%s)", path, exc)
            return None
        if not snapshot.hash or content_hash(snapshot) != snapshot.hash:
            log.warning("ignoring the snapshot cache %s: its content does not match its hash", path)
            return None
        return snapshot

    def __repr__(self) -> str:
        return f"<SnapshotDiskCache {self.path}>"
