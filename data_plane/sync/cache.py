"""The node's on-disk cache of the last snapshot it applied (config sync rule 6).

After each successful apply the pushed bytes are written to `<cache-dir>/snapshot.pb`
the crash-safe way: a temporary file, fsync, rename over the old one, fsync of the
directory. A node that starts while no control plane answers serves from this file.
A file that does not parse, or whose content does not match its own hash, is ignored
with a log line: better not ready than serving a torn config.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fleetgate_pb import config_pb2 as pb
from google.protobuf.message import DecodeError

from data_plane.config.snapshot import content_hash

log = logging.getLogger("fleetgate.sync")

FILE_NAME = "snapshot.pb"


class SnapshotDiskCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME

    def write(self, payload: bytes) -> None:
        """Replace the cached snapshot by `payload` (a serialized Snapshot), atomically."""
        # The snapshot holds key hashes and JWT secrets: only this user may read it.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.directory / f".{FILE_NAME}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
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
        try:
            payload = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("ignoring the snapshot cache %s: %s", self.path, exc)
            return None
        try:
            snapshot = pb.Snapshot.FromString(payload)
        except DecodeError as exc:
            log.warning("ignoring the snapshot cache %s: it does not parse (%s)", self.path, exc)
            return None
        if not snapshot.hash or content_hash(snapshot) != snapshot.hash:
            log.warning(
                "ignoring the snapshot cache %s: its content does not match its hash", self.path
            )
            return None
        return snapshot

    def __repr__(self) -> str:
        return f"<SnapshotDiskCache {self.path}>"
