"""The bench harness itself: wrk parsing, /proc readers, generated configs, a quick run.

Nothing here asserts on a time or a throughput: the bench reports those, tests only
check that the instrument reads and starts things correctly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import wrk
from bench.cli import expand, scenario_names
from bench.machine import cpu_model
from bench.measure import PeerResult, Rig, RunFigures, measure_scenario
from bench.peers.base import Launch, Ports, Setup
from bench.peers.fleetgate import API_KEY, needed_capabilities
from bench.peers.fleetgate import config as fleetgate_config
from bench.peers.haproxy import config as haproxy_config
from bench.peers.nginx import config as nginx_proxy_config
from bench.peers.nginx import location
from bench.procfs import (
    cpu_seconds_between,
    cpu_times,
    parse_stat,
    parse_vmhwm,
    peak_rss_by_pid,
    peak_rss_bytes,
    process_tree,
    worker_rss_bytes,
)
from bench.proxies.hop_by_hop import end_to_end
from bench.route_table import HIT_PATTERN, HIT_ROUTE, Kind, RouteEntry, route_table
from bench.scenarios import Scenario, scaling_unavailable, scaling_workers
from bench.summary import scaling_by_peer, scaling_efficiency, spread, summarize, versus
from bench.toolchain import Toolchain, find_tool, short_version
from bench.upstream import BODY, HIT_PATH, LARGE_BODY, LARGE_PATH, expected_body
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import check_snapshot
from tests.conftest import service_missing

REPO_ROOT = Path(__file__).resolve().parents[2]

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:18090/x
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    90.19us   55.06us   1.80ms   91.41%
    Req/Sec    37.04k     7.65k   48.17k    63.64%
  40438 requests in 1.10s, 8.87MB read
Requests/sec:  36780.17
Transfer/sec:      8.07MB
FLEETGATE-BENCH {"requests":40438,"duration_us":1099451,"bytes":9300740,"connect_errors":1,\
"read_errors":2,"write_errors":3,"status_errors":5,"timeouts":4,"p50_us":78,"p99_us":219,\
"max_us":1802}
"""

# /proc/<pid>/stat of a process whose name holds a space and a parenthesis.
STAT = (
    "4242 (my (odd) proc) S 17 4242 4242 0 -1 4194560 1500 0 0 0 "
    "250 75 0 0 20 0 3 0 123456 1000000 2000 18446744073709551615"
)


# ---------------------------------------------------------------- wrk


def test_wrk_report_is_read_from_the_marker_line() -> None:
    run = wrk.parse_report(WRK_OUTPUT)
    assert run.requests == 40438
    assert run.duration_s == pytest.approx(1.099451)
    assert (run.p50_ms, run.p99_ms, run.max_ms) == (0.078, 0.219, 1.802)
    assert run.requests_per_s == pytest.approx(40438 / 1.099451)


def test_wrk_errors_count_socket_errors_and_bad_statuses_apart() -> None:
    run = wrk.parse_report(WRK_OUTPUT)
    assert run.socket_errors == 1 + 2 + 3 + 4
    assert run.bad_statuses == 5
    assert run.failed == 15


def test_wrk_output_without_report_is_an_error() -> None:
    with pytest.raises(wrk.WrkError, match="no report"):
        wrk.parse_report("Running 1s test @ http://127.0.0.1:1/\n")


def test_wrk_command_carries_load_and_headers() -> None:
    load = wrk.Load(threads=2, connections=64, duration_s=5, headers=("x-api-key: k",))
    argv = wrk.command(Path("/usr/bin/wrk"), Path("/tmp/r.lua"), "http://h/p", load)
    assert argv[:4] == ["/usr/bin/wrk", "-t2", "-c64", "-d5s"]
    assert "--script=/tmp/r.lua" in argv
    assert argv[-3:] == ["-H", "x-api-key: k", "http://h/p"]


def test_wrk_connections_are_never_fewer_than_threads() -> None:
    argv = wrk.command(Path("wrk"), Path("r.lua"), "http://h/", wrk.Load(threads=4, connections=1))
    assert "-c4" in argv


# ---------------------------------------------------------------- /proc


def test_stat_is_parsed_past_a_command_name_with_spaces_and_parentheses() -> None:
    assert parse_stat(STAT) == (17, 250 + 75)


def test_vmhwm_is_read_in_bytes() -> None:
    status = "Name:\tnginx\nVmPeak:\t  20000 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1024 kB\n"
    assert parse_vmhwm(status) == 1536 * 1024


def test_a_process_without_memory_lines_has_no_peak() -> None:
    assert parse_vmhwm("Name:\tkthreadd\nState:\tS (sleeping)\n") == 0


def test_process_tree_holds_the_children_of_a_process() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],"
            " stdin=subprocess.PIPE)\n"
            "print(child.pid, flush=True)\n"
            "sys.stdin.read()\n"
            "child.stdin.close(); child.wait()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert process_tree(parent.pid) == sorted([parent.pid, child])
    finally:
        assert parent.stdin is not None
        parent.stdin.close()
        parent.wait(timeout=10)


def _fake_proc(tmp_path: Path, peaks_kb: dict[int, int]) -> Path:
    for pid, kb in peaks_kb.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "status").write_text(f"Name:\tp\nVmHWM:\t{kb} kB\n")
    return tmp_path


def test_worker_memory_leaves_the_master_out(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {10: 4096, 11: 20480, 12: 30720})
    assert worker_rss_bytes(10, peak_rss_by_pid([10, 11, 12], proc)) == 25 * 1024 * 1024


def test_a_single_process_proxy_is_its_own_worker(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {10: 4096})
    assert worker_rss_bytes(10, peak_rss_by_pid([10], proc)) == 4 * 1024 * 1024


def test_process_tree_of_a_gone_process_is_empty() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    assert process_tree(gone.pid) == []


def test_cpu_time_of_a_process_born_between_samples_counts_from_zero() -> None:
    before = {10: 1.0}
    after = {10: 1.5, 11: 0.25}
    assert cpu_seconds_between(before, after) == pytest.approx(0.75)


def test_this_process_has_cpu_time_and_a_resident_peak() -> None:
    pid = os.getpid()
    assert set(cpu_times([pid])) == {pid}
    assert peak_rss_bytes([pid]) > 0


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("nginx version: nginx/1.22.1\n", "nginx version: nginx/1.22.1"),
        (
            "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\nStatus: ...",
            "HAProxy version 2.6.12-1+deb12u4",
        ),
        (
            "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: ...",
            "wrk debian/4.1.0-3+b2",
        ),
        ("", "unknown"),
    ],
)
def test_tool_versions_keep_name_and_version_only(output: str, version: str) -> None:
    assert short_version(output) == version


def test_cpu_model_comes_from_cpuinfo() -> None:
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
    assert cpu_model(text) == "AMD EPYC 7B13"


# ---------------------------------------------------------------- upstream and routes


def test_upstream_answers_76_bytes_of_json() -> None:
    assert len(BODY) == 76
    json.loads(BODY)


def test_the_large_path_answers_one_mebibyte() -> None:
    assert expected_body(LARGE_PATH) is LARGE_BODY
    assert len(LARGE_BODY) == 1 << 20
    assert expected_body(HIT_PATH) == BODY


@pytest.mark.parametrize("count", [1, 10, 1000, 10_000])
def test_route_table_has_the_asked_size_and_unique_names(count: int) -> None:
    table = route_table(count)
    assert len(table) == count
    assert len({entry.name for entry in table}) == count
    assert len({entry.pattern for entry in table}) == count


def test_the_hit_route_sits_mid_table() -> None:
    table = route_table(1000)
    index = [entry.name for entry in table].index(HIT_ROUTE)
    assert index == 499
    assert table[index].pattern == HIT_PATTERN


def test_route_tables_mix_prefix_exact_and_segment_patterns() -> None:
    kinds = {entry.kind for entry in route_table(10)}
    assert kinds == {Kind.PREFIX, Kind.EXACT, Kind.SEGMENT}


def test_a_route_table_needs_the_hit_route() -> None:
    with pytest.raises(ValueError):
        route_table(0)


# ---------------------------------------------------------------- generated configs


@pytest.mark.parametrize(
    "setup",
    [
        Setup(),
        Setup(routes=10),
        Setup(routes=10_000),
        Setup(policies=True),
        Setup(policies=True, rate_limit_backend="redis"),
        Setup(routes=10, auth="api_key"),
        Setup(routes=10, auth="jwt"),
    ],
)
def test_fleetgate_config_is_a_consistent_declarative_config(setup: Setup) -> None:
    config = GatewayConfig.model_validate(fleetgate_config(9000, setup))
    assert len(config.routes) == setup.routes
    assert check_snapshot(build_snapshot(config)) == []


def test_fleetgate_policies_put_auth_and_rate_limit_on_the_hit_route_only() -> None:
    config = GatewayConfig.model_validate(fleetgate_config(9000, Setup(routes=10, policies=True)))
    guarded = [route.name for route in config.routes if route.auth and route.rate_limit]
    assert guarded == [HIT_ROUTE]
    assert config.consumers[0].api_keys[0].hash is not None
    assert API_KEY not in json.dumps(config.model_dump(mode="json"))


def test_the_redis_policies_setup_decides_on_redis_or_refuses() -> None:
    setup = Setup(routes=10, policies=True, rate_limit_backend="redis")
    config = GatewayConfig.model_validate(fleetgate_config(9000, setup))
    limited = [route for route in config.routes if route.rate_limit]
    assert [route.name for route in limited] == [HIT_ROUTE]
    assert limited[0].rate_limit is not None
    assert limited[0].rate_limit.backend == "redis"
    assert limited[0].rate_limit.fail_mode == "closed"


@pytest.mark.parametrize(("auth", "needs"), [("api_key", set()), ("jwt", {"auth.jwt"})])
def test_an_auth_setup_guards_the_hit_route_only(auth: str, needs: set[str]) -> None:
    config = GatewayConfig.model_validate(fleetgate_config(9000, Setup(routes=10, auth=auth)))
    guarded = [route.name for route in config.routes if route.auth]
    assert guarded == [HIT_ROUTE]
    assert [route.name for route in config.routes if route.rate_limit] == []
    assert needed_capabilities(Setup(auth=auth)) == {"policy.auth", *needs}


def test_only_the_policies_setup_needs_policy_capabilities_of_the_node() -> None:
    assert needed_capabilities(Setup(routes=1000)) == set()
    assert needed_capabilities(Setup(policies=True)) == {"policy.auth", "policy.rate_limit"}


def test_nginx_locations_keep_the_patterns_meaning() -> None:
    assert "location ^~ /api/v1/orders/ {" in location(
        RouteEntry("o", Kind.PREFIX, "/api/v1/orders/**", "s")
    )
    assert "location = /internal/x/health {" in location(
        RouteEntry("x", Kind.EXACT, "/internal/x/health", "s")
    )
    assert "location ~ ^/api/v1/tenants/[^/]+/carts-4(/|$) {" in location(
        RouteEntry("c", Kind.SEGMENT, "/api/v1/tenants/*/carts-4/**", "s")
    )


def test_nginx_proxy_keeps_upstream_connections_alive_with_one_worker(tmp_path: Path) -> None:
    text = nginx_proxy_config(tmp_path, Ports(8080, 9000), Setup())
    assert "worker_processes 1;" in text
    assert "keepalive 64;" in text
    assert "server 127.0.0.1:9000;" in text
    assert 'proxy_set_header Connection "";' in text


def test_haproxy_runs_one_thread() -> None:
    text = haproxy_config(Ports(8080, 9000), Setup())
    assert "nbthread 1" in text
    assert "server upstream 127.0.0.1:9000" in text


# ---------------------------------------------------------------- scenarios and summary


def test_scaling_needs_spare_cores() -> None:
    assert scaling_workers(2) == [1]
    assert scaling_workers(16) == [1, 2, 4, 8]
    assert "has 2" in (scaling_unavailable(2) or "")
    assert scaling_unavailable(8) is None


def test_scaling_expands_to_the_machines_worker_counts() -> None:
    assert expand(["plain", "scaling"], cores=8) == [
        "plain",
        "scaling",
        "workers-1",
        "workers-2",
        "workers-4",
    ]
    assert expand(["scaling"], cores=2) == ["scaling"]


def test_scenario_names_list_every_scenario_once() -> None:
    names = scenario_names()
    assert names[0] == "plain"
    assert {"routes-10", "routes-10000", "policies", "conns-1000", "large-1mib"} <= set(names)
    assert names[-2:] == ["scaling", "config"]
    assert len(names) == len(set(names))


def test_spread_is_median_and_range() -> None:
    result = spread([3.0, 1.0, 10.0])
    assert (result.median, result.low, result.high) == (3.0, 1.0, 10.0)


def test_ratios_are_against_the_reference_medians() -> None:
    peer = {
        "requests_per_s": spread([30.0]),
        "requests_per_cpu_s": spread([45.0]),
        "p99_ms": spread([4.0]),
    }
    reference = {
        "requests_per_s": spread([50.0]),
        "requests_per_cpu_s": spread([60.0]),
        "p99_ms": spread([2.0]),
    }
    assert versus(peer, reference) == {
        "requests_per_s": 0.6,
        "requests_per_cpu_s": 0.75,
        "p99_ms": 2.0,
    }


def _figures(requests: int, p99_ms: float | None) -> RunFigures:
    """Five seconds of a run: `requests` completed, with this p99 (None: nothing completed)."""
    return RunFigures(
        requests=requests,
        requests_per_s=requests / 5,
        p50_ms=None if p99_ms is None else p99_ms / 2,
        p99_ms=p99_ms,
        cpu_s=5.0,
        requests_per_cpu_s=requests / 5,
        peak_rss_mb=40.0,
        worker_rss_mb=40.0,
        failed=0,
    )


def test_latency_of_runs_where_nothing_completed_is_left_out() -> None:
    figures = summarize([_figures(500, 40.0), _figures(0, None), _figures(0, None)])
    assert figures["requests_per_s"] == spread([100.0, 0.0, 0.0])
    assert figures["p99_ms"] == spread([40.0])


def test_no_latency_at_all_gives_no_latency_ratio() -> None:
    peer = summarize([_figures(0, None)])
    reference = summarize([_figures(500, 4.0)])
    assert versus(peer, reference)["p99_ms"] is None
    assert versus(peer, reference)["requests_per_s"] == 0.0


def test_scaling_efficiency_is_against_n_single_workers() -> None:
    assert scaling_efficiency({1: 100.0, 2: 180.0, 4: 340.0}) == {1: 1.0, 2: 0.9, 4: 0.85}
    assert scaling_efficiency({2: 180.0}) == {}


def test_scaling_is_read_from_the_scaling_group_of_a_report() -> None:
    def scenario(group: str, workers: int, rps: float) -> dict[str, object]:
        peer = {"peer": "nginx", "median": {"requests_per_s": rps}}
        return {"group": group, "workers": workers, "peers": [peer]}

    scenarios = [scenario("", 1, 5.0), scenario("scaling", 1, 10.0), scenario("scaling", 2, 19.0)]
    assert scaling_by_peer(scenarios) == {"nginx": {1: 1.0, 2: 0.95}}


def test_python_proxies_drop_hop_by_hop_headers_and_those_connection_names() -> None:
    headers = [
        ("Host", "a"),
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Accept", "*/*"),
    ]
    assert end_to_end(headers) == [("Host", "a"), ("Accept", "*/*")]


# ---------------------------------------------------------------- measuring


class ExitingPeer:
    """A proxy whose process ends at once, as a misconfigured one does."""

    name = "exiting"

    def unsupported(self, setup: Setup) -> str | None:
        return None

    def launch(self, tools: Toolchain, workdir: Path, ports: Ports, setup: Setup) -> Launch:
        return Launch([sys.executable, "-c", "raise SystemExit('bad config')"], 30.0)


class RefusingPeer(ExitingPeer):
    name = "refusing"

    def unsupported(self, setup: Setup) -> str | None:
        return "not built for this"


def test_a_peer_that_dies_at_start_fails_and_one_that_cannot_run_is_skipped(
    tmp_path: Path,
) -> None:
    unused = Path("/nonexistent")
    rig = Rig(Toolchain(unused, unused, unused), 1, tmp_path, unused, dict(os.environ))
    said: list[str] = []
    results = measure_scenario(
        rig, Scenario("plain", "t"), [ExitingPeer(), RefusingPeer()], said.append
    )
    assert results[0].peer == "exiting"
    assert results[0].error is not None
    assert "exited with 1" in results[0].error
    assert "bad config" in results[0].error
    assert results[1] == PeerResult("refusing", skipped="not built for this")
    assert said == ["[plain] starting exiting"]


# ---------------------------------------------------------------- the command


def _bench(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_an_unknown_scenario_is_refused_by_name() -> None:
    done = _bench("--scenarios", "plain,nosuch")
    assert done.returncode == 2
    assert "unknown scenario: nosuch" in done.stderr


@pytest.fixture
def tools_present() -> None:
    missing = [name for name in ("nginx", "wrk") if find_tool(name) is None]
    if missing:
        service_missing(" and ".join(missing), FileNotFoundError("not installed"))


@pytest.mark.usefixtures("tools_present")
def test_generated_nginx_configs_are_accepted_by_nginx(tmp_path: Path) -> None:
    nginx = find_tool("nginx")
    for routes in (1, 1000):
        conf = tmp_path / f"nginx-{routes}.conf"
        conf.write_text(nginx_proxy_config(tmp_path, Ports(8080, 9000), Setup(routes=routes)))
        done = subprocess.run(
            [str(nginx), "-t", "-p", str(tmp_path), "-c", str(conf)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr


def test_generated_haproxy_config_is_accepted_by_haproxy(tmp_path: Path) -> None:
    haproxy = find_tool("haproxy")
    if haproxy is None:
        service_missing("haproxy", FileNotFoundError("not installed"))
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(haproxy_config(Ports(8080, 9000), Setup()))
    done = subprocess.run(
        [str(haproxy), "-c", "-f", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.usefixtures("tools_present")
def test_quick_run_measures_the_python_peers_against_nginx(tmp_path: Path) -> None:
    # bare-python is the ceiling of the stack fleetgate runs on: it must run and answer.
    done = _bench(
        "--quick", "--no-install", "--peers", "nginx,bare-python,aiohttp,fastapi-httpx",
        "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "plain: one route" in done.stdout
    document = json.loads((tmp_path / "latest.json").read_text())
    (scenario,) = document["scenarios"]
    peers = {peer["peer"]: peer for peer in scenario["peers"]}
    assert list(peers) == ["nginx", "bare-python", "aiohttp", "fastapi-httpx"]
    for name, peer in peers.items():
        assert "error" not in peer, name
        assert peer["median"]["requests_per_s"] > 0, name
        assert peer["median"]["peak_rss_mb"] > 0, name
        assert 0 < peer["median"]["worker_rss_mb"] <= peer["median"]["peak_rss_mb"], name
        assert peer["failed_requests"] == 0, name
    assert peers["nginx"]["vs_nginx"]["requests_per_s"] == 1.0
    assert set(peers["aiohttp"]["vs_nginx"]) == {"requests_per_s", "requests_per_cpu_s", "p99_ms"}


def test_the_fleetgate_peers_run_the_compiled_head_path_and_its_twin(tmp_path: Path) -> None:
    from bench.peers import PEERS

    switches = {}
    for name in ("fleetgate", "fleetgate-py"):
        workdir = tmp_path / name
        workdir.mkdir()
        launch = PEERS[name].launch(None, workdir, Ports(proxy=1, upstream=2), Setup())  # type: ignore[arg-type]
        switches[name] = launch.env["FLEETGATE_NO_EXTENSIONS"]
    assert switches == {"fleetgate": "0", "fleetgate-py": "1"}
