"""Making releases: the debounce rule, version allocation, NOTIFY, and subscribers."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from control_plane.releases import Release, ReleaseMaker
from control_plane.releases.debounce import Debounce
from control_plane.store import releases
from control_plane.store.catalog import Catalog
from control_plane.store.db import Database
from control_plane.store.models import AuditRow, ReleaseRow
from control_plane.store.releases import NOTIFY_CHANNEL, make_release
from data_plane.config.model import TierSpec

WAIT = 10.0  # seconds any awaited event may take


def add_tier(db: Database, name: str, actor: str = "ops") -> None:
    with db.session() as session:
        Catalog(session, actor=actor).create("tiers", TierSpec(name=name))


# ---------------------------------------------------------------- the debounce rule


def test_a_change_is_due_after_the_quiet_time() -> None:
    debounce = Debounce(quiet=0.05, longest=1.0)
    debounce.changed(10.0)
    assert debounce.due() == pytest.approx(10.05)


def test_each_new_change_moves_the_due_time_later() -> None:
    debounce = Debounce(quiet=0.05, longest=1.0)
    debounce.changed(10.0)
    debounce.changed(10.04)
    assert debounce.due() == pytest.approx(10.09)


def test_a_steady_trickle_is_due_at_most_longest_after_the_first_change() -> None:
    debounce = Debounce(quiet=0.05, longest=1.0)
    for i in range(100):
        debounce.changed(10.0 + i * 0.04)
    assert debounce.due() == pytest.approx(11.0)


def test_taking_the_changes_leaves_nothing_pending() -> None:
    debounce = Debounce(quiet=0.05, longest=1.0)
    debounce.changed(10.0)
    debounce.take()
    assert not debounce.pending and debounce.due() is None
    assert repr(debounce) == "<Debounce pending=False due=None>"


def test_quiet_longer_than_longest_is_refused() -> None:
    with pytest.raises(ValueError):
        Debounce(quiet=2.0, longest=1.0)


# ---------------------------------------------------------------- storing releases


def test_an_empty_store_makes_no_release(db: Database) -> None:
    assert make_release(db, author="x") is None


def test_a_release_holds_the_serialized_snapshot_with_its_metadata(db: Database) -> None:
    add_tier(db, "PRO")
    release = make_release(db, author="ops")
    assert release is not None
    snapshot = release.message()
    assert (snapshot.version, snapshot.author, snapshot.hash) == (1, "ops", release.hash)
    assert [t.name for t in snapshot.tiers] == ["PRO"]
    assert snapshot.created_at_ms > 0


def test_a_release_names_who_made_its_newest_change_not_who_asked_for_it(db: Database) -> None:
    # The maker asks in its own name at start, or in the name of the change it heard of,
    # while a change committed in the meantime is read with the rest.
    add_tier(db, "PRO", actor="carol")
    first = make_release(db, author="control-plane")
    add_tier(db, "FREE", actor="bob")
    second = make_release(db, author="carol")
    assert first is not None and second is not None
    assert (first.author, second.author) == ("carol", "bob")
    assert second.message().author == "bob"


def test_a_change_the_audit_log_does_not_show_keeps_the_author_asked_for(db: Database) -> None:
    add_tier(db, "PRO", actor="carol")
    assert make_release(db, author="carol") is not None
    add_tier(db, "FREE", actor="bob")
    with db.session() as session:  # as if written behind the API's back
        session.execute(delete(AuditRow).where(AuditRow.actor == "bob"))
        session.commit()
    release = make_release(db, author="control-plane")
    assert release is not None and release.author == "control-plane"


def test_unchanged_content_makes_no_new_release(db: Database) -> None:
    add_tier(db, "PRO")
    assert make_release(db, author="x") is not None
    assert make_release(db, author="x") is None


def test_each_new_content_takes_the_next_version(db: Database) -> None:
    versions = []
    for name in ("A", "B", "C"):
        add_tier(db, name)
        release = make_release(db, author="x")
        assert release is not None
        versions.append(release.version)
    assert versions == [1, 2, 3]


def test_writers_racing_on_the_same_content_make_one_release(db: Database) -> None:
    add_tier(db, "PRO")
    made: list[Release | None] = []
    threads = [
        threading.Thread(target=lambda: made.append(make_release(db, author="x"))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert sorted(r.version for r in made if r is not None) == [1]
    assert made.count(None) == 3


@pytest.mark.postgres
def test_a_version_taken_by_another_writer_is_retried_with_the_next(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only PostgreSQL lets another writer in while a release is being made.
    db = postgres_db
    add_tier(db, "A")
    first = make_release(db, author="x")
    add_tier(db, "B")
    # Another replica stores version 2 after this one read "the latest is 1".
    real_latest = releases.latest
    stale = iter([first])

    def latest_then_real(session: Session) -> Release | None:
        seen = next(stale, None)
        if seen is None:
            return real_latest(session)
        with db.session() as other:
            other.add(
                ReleaseRow(
                    version=2, hash="0" * 64, snapshot=b"", created_at=seen.created_at, author="b"
                )
            )
            other.commit()
        return seen

    monkeypatch.setattr(releases, "latest", latest_then_real)
    release = make_release(db, author="x")
    assert release is not None and release.version == 3


@pytest.mark.postgres
def test_a_release_is_announced_with_notify_on_postgresql(postgres_db: Database) -> None:
    add_tier(postgres_db, "PRO")
    libpq_url = postgres_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        release = make_release(postgres_db, author="x")
        notices = list(listener.notifies(timeout=WAIT, stop_after=1))
    assert release is not None
    assert [(n.channel, n.payload) for n in notices] == [(NOTIFY_CHANNEL, "1")]


# ---------------------------------------------------------------- the maker


async def run_maker_until(maker: ReleaseMaker, done: asyncio.Event) -> None:
    task = asyncio.create_task(maker.run())
    try:
        await asyncio.wait_for(done.wait(), WAIT)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_subscribers_hear_of_each_release_in_order(db: Database) -> None:
    heard: list[str] = []

    async def scenario() -> None:
        maker = ReleaseMaker(db)
        done = asyncio.Event()

        async def slow_subscriber(release: Release) -> None:
            await asyncio.sleep(0)
            heard.append(f"async v{release.version}")
            done.set()

        maker.subscribe(lambda release: heard.append(f"sync v{release.version}"))
        maker.subscribe(slow_subscriber)
        # A change reported from another thread, as the admin API's handlers do.
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, lambda: threading.Thread(target=change, args=(maker,)).start())
        await run_maker_until(maker, done)

    def change(maker: ReleaseMaker) -> None:
        add_tier(db, "PRO")
        maker.changed("ops")

    asyncio.run(scenario())
    assert heard == ["sync v1", "async v1"]


def test_a_failing_subscriber_does_not_stop_the_others(db: Database) -> None:
    async def scenario() -> list[int]:
        maker = ReleaseMaker(db)
        done = asyncio.Event()
        got: list[int] = []

        def broken(release: Release) -> None:
            raise RuntimeError("subscriber bug")

        def working(release: Release) -> None:
            got.append(release.version)
            done.set()

        maker.subscribe(broken)
        maker.subscribe(working)
        add_tier(db, "PRO")
        maker.changed("ops")
        await run_maker_until(maker, done)
        return got

    assert asyncio.run(scenario()) == [1]


def test_changes_committed_while_no_maker_ran_are_released_at_start(db: Database) -> None:
    add_tier(db, "PRO", actor="carol")  # committed, never released

    async def scenario() -> Release | None:
        maker = ReleaseMaker(db)
        done = asyncio.Event()
        maker.subscribe(lambda release: done.set())
        await run_maker_until(maker, done)
        return maker.latest

    latest = asyncio.run(scenario())
    assert latest is not None and (latest.version, latest.author) == (1, "carol")


def test_unsubscribed_callbacks_are_not_called(db: Database) -> None:
    maker = ReleaseMaker(db)
    unsubscribe = maker.subscribe(lambda release: None)
    assert "subscribers=1" in repr(maker)
    unsubscribe()
    assert "subscribers=0" in repr(maker)
