"""Load balancers: distribution, weights, health, retries and consistent-hash remapping."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.balancing import (
    Balancer,
    LeastConnections,
    Maglev,
    PeakEwma,
    RoundRobin,
    SmoothWeightedRoundRobin,
    Upstream,
    WeightedRandom,
    make_balancer,
)
from data_plane.config.errors import ConfigInvalid

ALGORITHMS = [
    pb.ROUND_ROBIN,
    pb.WEIGHTED_ROUND_ROBIN,
    pb.LEAST_CONNECTIONS,
    pb.RANDOM,
    pb.EWMA,
    pb.CONSISTENT_HASH,
]


def service(algorithm: int, *weights: int, name: str = "svc") -> pb.Service:
    """A service with one target per weight, at 10.0.0.1:80, 10.0.0.2:80, ..."""
    return pb.Service(
        name=name,
        load_balancer=algorithm,
        targets=[pb.Target(address=f"10.0.0.{i + 1}:80", weight=w) for i, w in enumerate(weights)],
    )


def balancer(algorithm: int, *weights: int, seed: int = 7) -> Balancer:
    return make_balancer(service(algorithm, *weights), rng=random.Random(seed))


def share(picks: list[Upstream | None]) -> dict[int, float]:
    """The fraction of picks per target index."""
    counts = Counter(p.index for p in picks if p is not None)
    return {i: n / len(picks) for i, n in sorted(counts.items())}


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- every algorithm


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_unhealthy_target_is_never_picked(algorithm: int) -> None:
    b = balancer(algorithm, 1, 1, 1)
    b.set_healthy(b.targets[1], False)
    picks = [b.pick(key=f"client-{i}") for i in range(600)]
    assert {p.index for p in picks if p is not None} == {0, 2}
    assert None not in picks


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_target_back_up_is_picked_again(algorithm: int) -> None:
    b = balancer(algorithm, 1, 1)
    b.set_healthy(b.targets[0], False)
    b.set_healthy(b.targets[0], True)
    picks = [b.pick(key=f"client-{i}") for i in range(200)]
    assert {p.index for p in picks if p is not None} == {0, 1}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_healthy_target_gives_none(algorithm: int) -> None:
    b = balancer(algorithm, 1, 2)
    for target in b.targets:
        b.set_healthy(target, False)
    assert b.pick() is None
    assert b.pick(key="client", exclude=b.targets[0]) is None


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_drained_target_is_never_picked(algorithm: int) -> None:
    b = balancer(algorithm, 1, 0, 1)
    picks = [b.pick(key=f"client-{i}") for i in range(600)]
    assert {p.index for p in picks if p is not None} == {0, 2}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_retry_avoids_the_target_just_tried(algorithm: int) -> None:
    b = balancer(algorithm, 3, 1, 1)
    tries = random.Random(5)
    for i in range(300):
        tried = b.targets[tries.randrange(3)]
        again = b.pick(key=f"client-{i}", exclude=tried)
        assert again is not None and again is not tried


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_retry_gets_the_same_target_when_it_is_the_only_one(algorithm: int) -> None:
    b = balancer(algorithm, 1, 1)
    b.set_healthy(b.targets[1], False)
    assert b.pick(key="client", exclude=b.targets[0]) is b.targets[0]


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [
        (pb.ROUND_ROBIN, RoundRobin),
        (pb.WEIGHTED_ROUND_ROBIN, SmoothWeightedRoundRobin),
        (pb.LEAST_CONNECTIONS, LeastConnections),
        (pb.RANDOM, WeightedRandom),
        (pb.EWMA, PeakEwma),
        (pb.CONSISTENT_HASH, Maglev),
    ],
)
def test_the_service_setting_chooses_the_algorithm(algorithm: int, kind: type) -> None:
    assert isinstance(balancer(algorithm, 1), kind)


def test_targets_keep_their_address_parts_and_position() -> None:
    s = pb.Service(
        name="svc",
        targets=[
            pb.Target(address="users.internal:8080", weight=3),
            pb.Target(address="[::1]:9000", weight=1),
        ],
    )
    a, b = make_balancer(s).targets
    assert (a.address, a.host, a.port, a.weight, a.index) == (
        "users.internal:8080",
        "users.internal",
        8080,
        3,
        0,
    )
    assert (b.host, b.port, b.index) == ("::1", 9000, 1)
    assert (a.active, a.healthy, a.ewma) == (0, True, 0.0)


def test_a_target_without_a_port_is_refused_naming_the_field() -> None:
    s = pb.Service(name="svc", targets=[pb.Target(address="users.internal", weight=1)])
    with pytest.raises(ConfigInvalid) as caught:
        make_balancer(s)
    assert [e.field for e in caught.value.errors] == ["services.svc.targets.0.address"]


def test_a_balancer_shows_its_live_targets_in_its_repr() -> None:
    b = balancer(pb.ROUND_ROBIN, 1, 2)
    b.set_healthy(b.targets[0], False)
    b.targets[1].active = 3
    assert repr(b) == "<RoundRobin live=1/2 [10.0.0.2:80 w=2 active=3]>"


# ---------------------------------------------------------------- round robin


def test_round_robin_takes_every_target_in_turn() -> None:
    b = balancer(pb.ROUND_ROBIN, 5, 1, 1)
    picks = [b.pick() for _ in range(9)]
    assert [p.index for p in picks if p is not None] in (
        [0, 1, 2] * 3,
        [1, 2, 0] * 3,
        [2, 0, 1] * 3,
    )


def test_round_robin_starts_at_a_random_target() -> None:
    firsts = set()
    for seed in range(20):
        first = balancer(pb.ROUND_ROBIN, 1, 1, 1, seed=seed).pick()
        assert first is not None
        firsts.add(first.index)
    assert firsts == {0, 1, 2}


# ---------------------------------------------------------------- smooth weighted round robin


def test_smooth_weighted_round_robin_interleaves_like_nginx() -> None:
    b = balancer(pb.WEIGHTED_ROUND_ROBIN, 5, 1, 1)
    names = "abc"
    sequence = "".join(names[p.index] for p in (b.pick() for _ in range(14)) if p is not None)
    assert sequence == "aabacaa" * 2


def test_smooth_weighted_round_robin_follows_the_weights_exactly_per_cycle() -> None:
    b = balancer(pb.WEIGHTED_ROUND_ROBIN, 3, 2, 1, 4)
    counts = Counter(p.index for p in (b.pick() for _ in range(100)) if p is not None)
    assert counts == {0: 30, 1: 20, 2: 10, 3: 40}


def test_smooth_weighted_round_robin_redistributes_when_a_target_goes_down() -> None:
    b = balancer(pb.WEIGHTED_ROUND_ROBIN, 2, 1, 1)
    b.set_healthy(b.targets[0], False)
    counts = Counter(p.index for p in (b.pick() for _ in range(100)) if p is not None)
    assert counts == {1: 50, 2: 50}


# ---------------------------------------------------------------- least connections


def test_least_connections_picks_the_target_with_fewest_in_flight() -> None:
    b = balancer(pb.LEAST_CONNECTIONS, 1, 1, 1)
    b.targets[0].active = 4
    b.targets[1].active = 1
    b.targets[2].active = 2
    assert b.pick() is b.targets[1]


def test_least_connections_shares_ties_in_turn() -> None:
    b = balancer(pb.LEAST_CONNECTIONS, 1, 1, 1)
    picks = [b.pick() for _ in range(30)]
    assert share(picks) == {
        0: pytest.approx(1 / 3),
        1: pytest.approx(1 / 3),
        2: pytest.approx(1 / 3),
    }


def test_least_connections_keeps_in_flight_requests_in_proportion_to_weight() -> None:
    b = balancer(pb.LEAST_CONNECTIONS, 3, 1)
    # Requests that stay open: each pick adds one in flight to the chosen target.
    for _ in range(40):
        target = b.pick()
        assert target is not None
        target.active += 1
    assert [t.active for t in b.targets] == [30, 10]


def test_least_connections_serves_the_target_that_frees_up() -> None:
    b = balancer(pb.LEAST_CONNECTIONS, 1, 1)
    b.targets[0].active = 5
    b.targets[1].active = 5
    b.targets[0].active -= 3
    assert [b.pick() for _ in range(3)] == [b.targets[0]] * 3


# ---------------------------------------------------------------- random


def test_random_spreads_picks_in_proportion_to_weight() -> None:
    b = balancer(pb.RANDOM, 1, 2, 7)
    picks = [b.pick() for _ in range(30_000)]
    assert share(picks) == {
        0: pytest.approx(0.1, abs=0.01),
        1: pytest.approx(0.2, abs=0.015),
        2: pytest.approx(0.7, abs=0.015),
    }


def test_random_retries_spread_over_the_other_targets_by_weight() -> None:
    b = balancer(pb.RANDOM, 1, 2, 7)
    picks = [b.pick(exclude=b.targets[2]) for _ in range(30_000)]
    assert share(picks) == {0: pytest.approx(1 / 3, abs=0.015), 1: pytest.approx(2 / 3, abs=0.015)}


def test_random_with_the_same_seed_repeats_its_picks() -> None:
    first = [p.index for p in (balancer(pb.RANDOM, 1, 1, 1, seed=3).pick() for _ in range(50)) if p]
    again = [p.index for p in (balancer(pb.RANDOM, 1, 1, 1, seed=3).pick() for _ in range(50)) if p]
    assert first == again


# ---------------------------------------------------------------- EWMA


def ewma_balancer(*weights: int) -> tuple[Balancer, Clock]:
    clock = Clock()
    return make_balancer(service(pb.EWMA, *weights), rng=random.Random(11), clock=clock), clock


def test_ewma_prefers_the_faster_target() -> None:
    b, _ = ewma_balancer(1, 1, 1)
    for target, latency in zip(b.targets, (0.200, 0.010, 0.100), strict=True):
        b.observe(target, latency)
    picks = [b.pick() for _ in range(3000)]
    shares = share(picks)
    # Two of three targets are drawn per pick: the fastest wins whenever it is drawn
    # (2/3 of picks), the middle one the rest, the slowest never.
    assert shares[1] == pytest.approx(2 / 3, abs=0.03)
    assert 0 not in shares


def test_ewma_counts_requests_in_flight_into_the_cost() -> None:
    b, _ = ewma_balancer(1, 1)
    b.observe(b.targets[0], 0.010)
    b.observe(b.targets[1], 0.030)
    b.targets[0].active = 5  # cost 0.010 * 6 = 0.060 > 0.030 * 1
    assert b.pick() is b.targets[1]


def test_ewma_takes_a_latency_peak_at_once() -> None:
    b, clock = ewma_balancer(1, 1)
    target = b.targets[0]
    b.observe(target, 0.010)
    clock.now += 0.1
    b.observe(target, 0.500)
    assert target.ewma == 0.500


def test_ewma_blends_lower_latencies_in_over_the_decay_time() -> None:
    b, clock = ewma_balancer(1, 1)
    target = b.targets[0]
    b.observe(target, 1.0)
    clock.now += 10.0  # one time constant: the old value keeps a weight of 1/e
    b.observe(target, 0.0)
    assert target.ewma == pytest.approx(0.3679, abs=1e-4)


def test_ewma_tries_a_slow_target_again_once_its_cost_has_decayed() -> None:
    b, clock = ewma_balancer(1, 1)
    slow, fast = b.targets
    b.observe(slow, 1.0)
    b.observe(fast, 0.010)
    assert {b.pick() for _ in range(50)} == {fast}
    clock.now += 30.0
    b.observe(fast, 0.010)
    # The slow target's last word is 30 s (three time constants) old: 1.0 s decays to
    # about 0.05 s, still slower than 0.01 s...
    assert {b.pick() for _ in range(50)} == {fast}
    clock.now += 30.0
    b.observe(fast, 0.010)
    # ...and after 60 s to 0.0025 s: worth trying again.
    assert slow in {b.pick() for _ in range(50)}


def test_ewma_tries_targets_it_has_not_heard_from() -> None:
    b, _ = ewma_balancer(1, 1, 1)
    b.observe(b.targets[0], 0.010)
    picks = {b.pick() for _ in range(100)}
    assert {b.targets[1], b.targets[2]} <= picks


# ---------------------------------------------------------------- consistent hashing

KEYS = [f"198.51.{i // 256}.{i % 256}" for i in range(20_000)]


def owners(b: Balancer, keys: list[str] = KEYS) -> list[str]:
    picks = [b.pick(key=k) for k in keys]
    return [p.address for p in picks if p is not None]


def moved(before: list[str], after: list[str]) -> float:
    return sum(1 for a, b in zip(before, after, strict=True) if a != b) / len(before)


def test_consistent_hashing_sends_a_key_to_the_same_target_every_time() -> None:
    b = balancer(pb.CONSISTENT_HASH, 1, 1, 1, 1)
    assert owners(b, ["203.0.113.9"] * 100) == [owners(b, ["203.0.113.9"])[0]] * 100


def test_consistent_hashing_agrees_across_balancers_and_target_order() -> None:
    s = service(pb.CONSISTENT_HASH, 1, 1, 1, 1)
    shuffled = pb.Service(name="svc", load_balancer=pb.CONSISTENT_HASH)
    shuffled.targets.extend(reversed(s.targets))
    assert owners(make_balancer(s)) == owners(make_balancer(shuffled))


def test_consistent_hashing_spreads_keys_evenly() -> None:
    b = balancer(pb.CONSISTENT_HASH, 1, 1, 1, 1)
    counts = Counter(owners(b))
    assert all(n / len(KEYS) == pytest.approx(0.25, abs=0.02) for n in counts.values())


def test_consistent_hashing_spreads_keys_by_weight() -> None:
    b = balancer(pb.CONSISTENT_HASH, 1, 3)
    counts = Counter(owners(b))
    assert counts["10.0.0.2:80"] / len(KEYS) == pytest.approx(0.75, abs=0.02)


@pytest.mark.parametrize("count", [3, 5, 10, 20])
def test_removing_one_of_n_targets_remaps_about_one_nth_of_keys(count: int) -> None:
    full = service(pb.CONSISTENT_HASH, *[1] * count)
    fewer = service(pb.CONSISTENT_HASH, *[1] * count)
    del fewer.targets[count // 2]
    fraction = moved(owners(make_balancer(full)), owners(make_balancer(fewer)))
    assert 0.85 / count <= fraction <= 1.3 / count


def test_a_target_going_down_moves_only_about_its_own_keys() -> None:
    b = balancer(pb.CONSISTENT_HASH, *[1] * 10)
    before = owners(b)
    down = b.targets[4]
    b.set_healthy(down, False)
    after = owners(b)
    assert down.address not in after
    assert moved(before, after) <= 1.3 / 10
    b.set_healthy(down, True)
    assert owners(b) == before


def test_a_retry_of_a_key_falls_back_to_one_other_target() -> None:
    b = balancer(pb.CONSISTENT_HASH, 1, 1, 1, 1)
    first = b.pick(key="203.0.113.9")
    retries = {b.pick(key="203.0.113.9", exclude=first) for _ in range(20)}
    assert len(retries) == 1
    assert first not in retries


def test_retries_spread_over_the_other_targets() -> None:
    b = balancer(pb.CONSISTENT_HASH, 1, 1, 1, 1)
    excluded = b.targets[0]
    fallbacks = Counter(
        p.index for p in (b.pick(key=k, exclude=excluded) for k in KEYS[:8000]) if p is not None
    )
    assert set(fallbacks) == {1, 2, 3}
    assert min(fallbacks.values()) / 8000 > 0.25


def test_a_request_without_a_hash_key_still_gets_a_target() -> None:
    b = balancer(pb.CONSISTENT_HASH, 1, 1, 1)
    assert {p.index for p in (b.pick(key=None) for _ in range(300)) if p} == {0, 1, 2}
