"""`fleetgate up`, the README's first command: a real process tree on free loopback ports."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .. import loopback_http
from ..conftest import free_port
from .fleet import Process, environment, running, until

pytestmark = pytest.mark.e2e

BANNER_END = "Ctrl-C stops everything."
UP_TIMEOUT = 60.0


class Up(Process):
    """`fleetgate up` in its own directory (its store and node cache go there)."""

    def __init__(self, directory: Path) -> None:
        self.proxy = f"127.0.0.1:{free_port()}"
        self.admin = f"127.0.0.1:{free_port()}"
        self.https = f"127.0.0.1:{free_port()}"
        super().__init__(
            "up",
            [
                "up",
                "--listen",
                self.proxy,
                "--admin-listen",
                self.admin,
                "--sync-listen",
                f"127.0.0.1:{free_port()}",
                "--status-listen",
                f"127.0.0.1:{free_port()}",
                "--https-listen",
                self.https,
            ],
            directory / "up.log",
            environment(),
            cwd=directory,
        )

    def banner(self) -> str:
        """What `up` printed once everything answered; fails if it exits first."""

        def printed() -> str | None:
            self.check_alive()
            text = self.log_tail(100_000)
            start = text.find("fleetgate is up")
            return text[start:] if start >= 0 and BANNER_END in text[start:] else None

        return until(printed, "the banner of fleetgate up", UP_TIMEOUT)

    def token(self) -> str:
        found = re.search(r"export FLEETGATE_ADMIN_TOKEN=(\S+)", self.banner())
        assert found, self.banner()
        return found.group(1)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    gateway = Up(tmp_path_factory.mktemp("up"))
    with running(gateway):
        gateway.start().banner()
        yield gateway


def test_the_demo_route_printed_answers_through_the_proxy(up: Up) -> None:
    found = re.search(r"proxy +(\S+)", up.banner())
    assert found, up.banner()
    answer = loopback_http.get(found.group(1), timeout=10.0)
    assert answer.status_code == 200
    assert answer.json()["path"] == "/demo/hello"


def test_every_url_printed_answers(up: Up) -> None:
    urls = re.findall(r"http://[^\s)]+", up.banner())
    assert len(urls) >= 3
    for url in urls:
        answer = loopback_http.get(url, timeout=10.0, follow_redirects=True)
        assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:200]}"


def test_the_demo_route_answers_over_https_with_the_generated_certificate(up: Up) -> None:
    assert f"https://{up.https}/demo/hello" in up.banner()
    answer = loopback_http.get(f"https://{up.https}/demo/hello", verify=False, timeout=10.0)
    assert answer.status_code == 200
    assert answer.json()["path"] == "/demo/hello"
    assert answer.json()["headers"]["x-forwarded-proto"] == "https"


def test_the_printed_admin_token_opens_the_admin_api(up: Up) -> None:
    url = f"http://{up.admin}/api/v1/routes/demo"
    assert loopback_http.get(url, timeout=10.0).status_code == 401
    answer = loopback_http.get(url, headers={"Authorization": f"Bearer {up.token()}"}, timeout=10.0)
    assert answer.status_code == 200
    assert answer.json()["paths"] == ["/demo/**"]


def test_the_node_is_synced_at_the_latest_release(up: Up) -> None:
    headers = {"Authorization": f"Bearer {up.token()}"}
    with loopback_http.client(base_url=f"http://{up.admin}/api/v1", headers=headers) as admin:
        latest = admin.get("/releases").json()["items"][0]["version"]

        def synced() -> bool:
            node = admin.get("/nodes/up-node").json()
            return node["status"] == "SYNCED" and node["applied_version"] == latest

        until(synced, "up-node SYNCED at the latest release")


def test_the_admin_token_is_kept_across_runs(up: Up) -> None:
    assert up.cwd is not None
    kept = (up.cwd / "fleetgate-admin-token").read_text().strip()
    assert kept == up.token()


def test_a_second_run_in_the_same_directory_uses_the_same_token(tmp_path: Path) -> None:
    kept = tmp_path / "fleetgate-admin-token"
    first = Up(tmp_path)
    with running(first):  # stopped once it has made its token: the rest is not in question
        first.start()
        made = until(lambda: kept.is_file() and kept.read_text().strip(), "the token file")
    # Stopped that early, it may have left a store half made: the token is what is kept.
    (tmp_path / "fleetgate.db").unlink(missing_ok=True)
    second = Up(tmp_path)
    second.log.unlink(missing_ok=True)  # the banner read is this run's
    with running(second):
        second.start()
        assert second.token() == made


def test_ctrl_c_stops_everything_and_exits_0(tmp_path: Path) -> None:
    gateway = Up(tmp_path)
    with running(gateway):
        gateway.start().banner()
        assert gateway.popen is not None
        gateway.popen.send_signal(signal.SIGINT)
        assert gateway.popen.wait(30) == 0
    assert "fleetgate up: stopping" in gateway.log_tail()
    with pytest.raises(httpx.ConnectError):
        loopback_http.get(f"http://{gateway.proxy}/demo/x", timeout=5.0)
