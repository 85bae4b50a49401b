"""The node's on-disk snapshot cache: atomic writes, untrusted files ignored."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from data_plane.sync.cache import SnapshotDiskCache

from .harness import snapshot


def test_a_written_snapshot_is_loaded_back(tmp_path: Path) -> None:
    cache = SnapshotDiskCache(tmp_path / "cache")
    written = snapshot(4)
    cache.write(written.SerializeToString())
    assert cache.load() == written


def test_a_missing_cache_loads_as_nothing(tmp_path: Path) -> None:
    assert SnapshotDiskCache(tmp_path).load() is None


def test_a_new_write_replaces_the_old_snapshot_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    cache = SnapshotDiskCache(tmp_path)
    cache.write(snapshot(1).SerializeToString())
    cache.write(snapshot(2).SerializeToString())
    assert cache.load().version == 2  # type: ignore[union-attr]
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.pb"]


def test_the_cache_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    cache = SnapshotDiskCache(tmp_path / "cache")
    cache.write(snapshot(1).SerializeToString())
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700


def test_a_file_that_does_not_parse_is_ignored_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = SnapshotDiskCache(tmp_path)
    cache.path.write_bytes(b"\xff\xff\xff garbage")
    with caplog.at_level(logging.WARNING, logger="fleetgate.sync"):
        assert cache.load() is None
    assert "does not parse" in caplog.text


def test_a_truncated_file_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = SnapshotDiskCache(tmp_path)
    payload = snapshot(3).SerializeToString()
    cache.path.write_bytes(payload[: len(payload) // 2])
    with caplog.at_level(logging.WARNING, logger="fleetgate.sync"):
        assert cache.load() is None
    assert "ignoring the snapshot cache" in caplog.text


def test_a_file_whose_content_does_not_match_its_hash_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tampered = snapshot(3)
    tampered.routes[0].paths[0] = "/elsewhere/**"
    cache = SnapshotDiskCache(tmp_path)
    cache.path.write_bytes(tampered.SerializeToString())
    with caplog.at_level(logging.WARNING, logger="fleetgate.sync"):
        assert cache.load() is None
    assert "does not match its hash" in caplog.text
