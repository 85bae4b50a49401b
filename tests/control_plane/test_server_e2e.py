"""The real `fleetgate control-plane` process on a free loopback port, driven by `fleetgate apply`
and `fleetgate export` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.tls.pki import Authority

from .. import loopback_http
from ..conftest import empty_postgres

pytestmark = pytest.mark.e2e

FLEETGATE = str(Path(sys.executable).parent / "fleetgate")
START_WAIT = 30.0  # seconds for migrations and the first /health
STOP_WAIT = 15.0
TOKEN = "e2e-admin-token-5d1c9b7a3e8f2a64"

GATEWAY = """\
services:
  - name: users
    targets: [{address: "127.0.0.1:9001", weight: 1}]
    load_balancer: round_robin
    timeouts: {connect: 2.0, read: 30.0}
    retries: 2
routes:
  - name: users-api
    paths: ["/api/v1/users/**"]
    methods: [GET, POST]
    hosts: ["api.example.com"]
    service: users
    strip_prefix: false
tiers:   [{name: FREE, requests_per_minute: 60}, {name: PRO, requests_per_minute: 1000}]
tenants: [{name: acme, tier: PRO}]
consumers:
  - name: acme-billing
    tenant: acme
    api_keys: [{id: ci, key: "ci-key-0123456789abcdef"}]
"""


class ControlPlaneProcess:
    """A `fleetgate control-plane` child with its stderr in a file."""

    def __init__(self, db_url: str, workdir: Path, token: str | None, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = workdir / f"control-plane-{self.port}.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGATE_")}
        if token is not None:
            env["FLEETGATE_ADMIN_TOKEN"] = token
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [
                    FLEETGATE,
                    "control-plane",
                    "--db",
                    db_url,
                    "--admin-listen",
                    f"127.0.0.1:{self.port}",
                    "--sync-listen",
                    f"127.0.0.1:{free_port()}",
                    *args,
                ],
                cwd=workdir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self._wait_healthy()

    def __repr__(self) -> str:
        return f"<ControlPlaneProcess {self.url} pid={self.process.pid}>"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"control plane exited at start:\n{self.stderr}")
            try:
                if loopback_http.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"control plane not healthy in {START_WAIT} s:\n{self.stderr}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_WAIT)
            raise AssertionError(f"control plane ignored SIGTERM:\n{self.stderr}") from None


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlaneProcess]:
    """One control plane per store for this module: starting one takes seconds.

    The tests below each make the state they need with `apply`, which replaces it all.
    """
    workdir = tmp_path_factory.mktemp("control-plane")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'fleetgate.db'}"
    else:
        url = request.getfixturevalue("postgres_store")
        empty_postgres(url)
    control_plane = ControlPlaneProcess(url, workdir, TOKEN)
    try:
        yield control_plane
    finally:
        control_plane.stop()


def fleetgate(*args: str, url: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGATE_")}
    env |= {"FLEETGATE_ADMIN_URL": url, "FLEETGATE_ADMIN_TOKEN": token}
    return subprocess.run(
        [FLEETGATE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def latest_release(url: str) -> int:
    """The latest release version, 0 when there is none."""
    response = loopback_http.get(
        f"{url}/api/v1/releases", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    response.raise_for_status()
    items = response.json()["items"]
    return int(items[0]["version"]) if items else 0


def wait_for_new_release(url: str, after: int) -> int:
    """Poll until a release newer than `after` exists; its version."""
    deadline = time.monotonic() + 10.0
    while (latest := latest_release(url)) <= after:
        assert time.monotonic() < deadline, f"no release after {after} in 10 s"
        time.sleep(0.02)
    return latest


def test_apply_then_export_round_trips_byte_for_byte(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    source = tmp_path / "gateway.yaml"
    source.write_text(GATEWAY)
    applied = fleetgate("apply", "-f", str(source), url=running.url)
    assert applied.returncode == 0, applied.stderr

    first = tmp_path / "first.yaml"
    exported = fleetgate("export", "-o", str(first), url=running.url)
    assert exported.returncode == 0, exported.stderr
    assert "ci-key-0123456789abcdef" not in first.read_text()

    again = fleetgate("apply", "-f", str(first), url=running.url)
    assert again.returncode == 0 and again.stdout.startswith("no changes\n")
    second = fleetgate("export", url=running.url)
    assert second.returncode == 0 and second.stdout == first.read_text()


def test_applying_the_same_file_twice_makes_no_new_release(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    source = tmp_path / "gateway.yaml"
    source.write_text(GATEWAY.replace("retries: 2", "retries: 4"))
    before = latest_release(running.url)
    assert fleetgate("apply", "-f", str(source), url=running.url).returncode == 0
    made = wait_for_new_release(running.url, after=before)
    same = fleetgate("apply", "-f", str(source), url=running.url).stdout
    assert same == f"no changes\nrelease {made} (unchanged)\n"
    # A real change afterwards takes the very next version: the no-op made none.
    source.write_text(GATEWAY.replace("retries: 2", "retries: 3"))
    changed = fleetgate("apply", "-v", "-f", str(source), url=running.url)
    assert "~ users: retries 4 -> 3" in changed.stdout
    assert wait_for_new_release(running.url, after=made) == made + 1


def test_a_dry_run_changes_nothing(running: ControlPlaneProcess, tmp_path: Path) -> None:
    before = fleetgate("export", url=running.url).stdout
    source = tmp_path / "gateway.yaml"
    source.write_text("tiers: [{name: ONLY}]\n")
    result = fleetgate("apply", "--dry-run", "-f", str(source), url=running.url)
    assert result.returncode == 2 and "(dry run: nothing was changed)" in result.stdout
    assert "+ ONLY" in result.stdout
    assert fleetgate("export", url=running.url).stdout == before


def test_a_dry_run_without_changes_exits_0(running: ControlPlaneProcess, tmp_path: Path) -> None:
    current = tmp_path / "current.yaml"
    assert fleetgate("export", "-o", str(current), url=running.url).returncode == 0
    result = fleetgate("apply", "--dry-run", "-f", str(current), url=running.url)
    assert (result.returncode, result.stdout) == (0, "no changes\n")


def test_apply_prints_counts_per_kind_and_the_release_it_made(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    source = tmp_path / "gateway.yaml"
    source.write_text(GATEWAY)
    assert fleetgate("apply", "-f", str(source), url=running.url).returncode == 0
    source.write_text(GATEWAY.replace("retries: 2", "retries: 5") + "  - name: extra\n")
    result = fleetgate("apply", "-f", str(source), url=running.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"services: 1 changed\nconsumers: 1 added\nrelease {latest_release(running.url)}\n"
    )


def test_export_of_an_old_release_applies_back_to_that_release(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    source = tmp_path / "gateway.yaml"
    source.write_text(GATEWAY)
    fleetgate("apply", "-f", str(source), url=running.url)
    old = latest_release(running.url)
    source.write_text(GATEWAY.replace("retries: 2", "retries: 7"))
    fleetgate("apply", "-f", str(source), url=running.url)
    exported = tmp_path / "old.yaml"
    result = fleetgate("export", "--release", str(old), "-o", str(exported), url=running.url)
    assert result.returncode == 0, result.stderr
    assert f"release {old}" in result.stderr and "retries: 2" in exported.read_text()
    back = fleetgate("apply", "-f", str(exported), url=running.url)
    assert back.returncode == 0 and back.stdout.startswith("services: 1 changed\n")
    with loopback_http.client(headers={"Authorization": f"Bearer {TOKEN}"}) as admin:
        hashes = [
            admin.get(f"{running.url}/api/v1/releases/{v}").json()["hash"]
            for v in (old, latest_release(running.url))
        ]
    assert hashes[0] == hashes[1]


def test_export_of_a_release_that_does_not_exist_exits_1(running: ControlPlaneProcess) -> None:
    result = fleetgate("export", "--release", "999999", url=running.url)
    assert result.returncode == 1 and "no release 999999" in result.stderr


def test_status_prints_health_the_latest_release_and_the_nodes(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    source = tmp_path / "gateway.yaml"
    source.write_text(GATEWAY)
    fleetgate("apply", "-f", str(source), url=running.url)
    result = fleetgate("status", url=running.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"control plane  {running.url}  ok"
    assert lines[1].startswith(f"release        v{latest_release(running.url)}  ")
    assert lines[2] == "nodes          0"


def test_status_of_a_control_plane_that_is_down_exits_1() -> None:
    result = fleetgate("status", url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1 and "DOWN" in result.stdout


def test_apply_wait_with_no_node_connected_says_so_and_exits_0(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    source = tmp_path / "gateway.yaml"
    source.write_text(GATEWAY.replace("retries: 2", "retries: 1"))
    result = fleetgate("apply", "--wait", "--timeout", "5", "-f", str(source), url=running.url)
    assert result.returncode == 0, result.stderr
    assert "no node is connected" in result.stderr


def test_apply_with_a_wrong_token_is_refused_and_exits_1(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    before = fleetgate("export", url=running.url).stdout
    source = tmp_path / "gateway.yaml"
    source.write_text("tiers: [{name: ONLY}]\n")
    result = fleetgate("apply", "-f", str(source), url=running.url, token="wrong-token-123456789")
    assert result.returncode == 1 and "unauthorized" in result.stderr
    assert fleetgate("export", url=running.url).stdout == before


def test_a_generated_admin_token_is_printed_once_and_survives_a_restart(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'fleetgate.db'}"
    first = ControlPlaneProcess(db_url, tmp_path, token=None)
    try:
        lines = first.stderr.splitlines()
        announced = next(i for i, line in enumerate(lines) if "generated the admin token" in line)
        token = lines[announced + 2].strip()
        assert (
            loopback_http.get(
                f"{first.url}/api/v1/services", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )
    finally:
        assert first.stop() == 0
    second = ControlPlaneProcess(db_url, tmp_path, token=None)
    try:
        assert "generated the admin token" not in second.stderr
        assert token not in second.stderr
        assert (
            loopback_http.get(
                f"{second.url}/api/v1/services", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )
    finally:
        assert second.stop() == 0


def test_a_certificate_key_is_applied_from_a_file_and_exported_only_with_secrets(
    running: ControlPlaneProcess, tmp_path: Path
) -> None:
    issued = Authority.new().issue("api.example.com")
    source = tmp_path / "gateway.yaml"
    source.write_text(
        GATEWAY + yaml.safe_dump({"certificates": [issued.entity("api", ["api.example.com"])]})
    )
    applied = fleetgate("apply", "-f", str(source), url=running.url)
    assert applied.returncode == 0, applied.stderr
    marker = issued.key.splitlines()[1]

    plain = tmp_path / "plain.yaml"
    assert fleetgate("export", "-o", str(plain), url=running.url).returncode == 0
    assert marker not in plain.read_text() and "key_sha256:" in plain.read_text()
    secrets = fleetgate("export", "--include-secrets", url=running.url)
    assert secrets.returncode == 0
    assert yaml.safe_load(secrets.stdout)["certificates"][0]["key"] == issued.key

    again = fleetgate("apply", "-f", str(plain), url=running.url)
    assert again.returncode == 0 and again.stdout.startswith("no changes\n"), again.stdout
    still = fleetgate("export", "--include-secrets", url=running.url)
    assert yaml.safe_load(still.stdout)["certificates"][0]["key"] == issued.key


def test_json_logs_carry_timestamps_and_the_admin_request_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleetgate.db'}"
    control_plane = ControlPlaneProcess(url, tmp_path, TOKEN, "--log-format", "json")
    try:
        response = loopback_http.get(
            f"{control_plane.url}/api/v1/services",
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "log-test-1"},
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        assert control_plane.stop() == 0
    lines = [json.loads(line) for line in control_plane.stderr.splitlines() if line.strip()]
    assert lines, control_plane.stderr
    for line in lines:
        assert line["ts"].endswith("Z") and line["level"] and line["logger"], line
    (admin,) = [line for line in lines if line.get("request_id") == "log-test-1"]
    assert (admin["method"], admin["path"], admin["status"]) == ("GET", "/api/v1/services", 200)
    assert TOKEN not in control_plane.stderr
