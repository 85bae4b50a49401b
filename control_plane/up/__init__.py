"""`fleetgate up`: a whole gateway on a laptop, from one command.

A control plane on embedded SQLite, one data-plane node synced from it, and a demo
upstream with a service and a route to it (`/demo/**`). Everything lives in the data
directory (`--data-dir`, the current one by default): the store `fleetgate.db`, the
node cache and the admin token, generated on the first run and kept (0600) for the next
ones, so a shell that exported it once goes on working. The tokens reach the children
through their environment, not their command lines. The banner prints only URLs that
answer. Ctrl-C stops the node, then the control plane.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

from control_plane.settings import STORE_FILE
from data_plane.config.syntax import parse_host_port
from data_plane.settings import CACHE_DIR

from .children import Child, ChildExited
from .echo import start_echo
from .seed import ROUTE_PATH, SeedError, seed_demo

READY_TIMEOUT = 60.0
TOKEN_FILE = "fleetgate-admin-token"
NODE_ID = "up-node"


class UpError(RuntimeError):
    """`up` cannot start; the message says why."""


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_up(args))
    except UpError as exc:
        print(f"fleetgate up: {exc}", file=sys.stderr)
        return 1


async def _up(args: argparse.Namespace) -> int:
    listens = {
        "--listen": args.listen,
        "--admin-listen": args.admin_listen,
        "--sync-listen": args.sync_listen,
        "--status-listen": args.status_listen,
        "--https-listen": args.https_listen,
    }
    for flag, listen in listens.items():
        _check_free(flag, listen)
    data_dir = Path(args.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        admin_token = args.admin_token or kept_token(data_dir / TOKEN_FILE)
    except OSError as exc:
        raise UpError(f"--data-dir {args.data_dir}: {exc.strerror or exc}") from None
    db = args.db or f"sqlite:///{data_dir / STORE_FILE}"
    cache_dir = data_dir / CACHE_DIR
    env = {
        **os.environ,
        "FLEETGATE_ADMIN_TOKEN": admin_token,
        "FLEETGATE_CLUSTER_TOKEN": secrets.token_urlsafe(32),
    }
    command = [sys.executable, "-m", "control_plane.cli"]
    control_plane = Child(
        "control-plane",
        [
            *command,
            "control-plane",
            "--db",
            db,
            "--admin-listen",
            args.admin_listen,
            "--sync-listen",
            args.sync_listen,
        ],
        env,
    )
    node = Child(
        "node",
        [
            *command,
            "data-plane",
            "--listen",
            args.listen,
            "--status-listen",
            args.status_listen,
            "--https-listen",
            args.https_listen,
            "--control-plane",
            args.sync_listen,
            "--cache-dir",
            str(cache_dir),
            "--workers",
            str(args.workers),
            "--node-id",
            NODE_ID,
        ],
        env,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    upstream = await start_echo()
    upstream_address = f"127.0.0.1:{upstream.sockets[0].getsockname()[1]}"
    admin_url = f"http://{args.admin_listen}"
    try:
        await control_plane.start()
        await _until_answers(f"{admin_url}/health", control_plane, stop)
        try:
            await asyncio.to_thread(seed_demo, admin_url, admin_token, upstream_address)
        except (SeedError, httpx.HTTPError) as exc:
            raise UpError(str(exc)) from None
        await node.start()
        await _until_answers(f"http://{args.status_listen}/ready", node, stop)
        if not stop.is_set():
            print(banner(args, admin_url, admin_token, db, cache_dir), flush=True)
            return await _until_stopped(stop, control_plane, node)
        return 130
    except ChildExited as exc:
        raise UpError(str(exc)) from None
    finally:
        await node.stop()
        await control_plane.stop()
        upstream.close()
        await upstream.wait_closed()


def _check_free(flag: str, listen: str) -> None:
    try:
        host, port = parse_host_port(listen)
    except ValueError as exc:
        raise UpError(f"{flag}: {exc}") from None
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UpError(f"{flag} {listen} is not available: {exc.strerror}") from None


async def _until_answers(url: str, child: Child, stop: asyncio.Event) -> None:
    """Poll `url` until it answers 200, the child dies, Ctrl-C, or READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as client:
        while not stop.is_set():
            child.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise UpError(f"{child.name} did not answer {url} within {READY_TIMEOUT:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


async def _until_stopped(stop: asyncio.Event, *children: Child) -> int:
    """Wait for Ctrl-C (0) or for a child to end on its own (1)."""
    waits = [asyncio.create_task(child.wait()) for child in children]
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopping, *waits], return_when=asyncio.FIRST_COMPLETED)
    for task in (stopping, *waits):
        task.cancel()
    if stopping in done:
        print("\nfleetgate up: stopping", file=sys.stderr)
        return 0
    for child in children:
        if child.exited:
            print(
                f"fleetgate up: {child.name} stopped on its own; stopping the rest", file=sys.stderr
            )
    return 1


def kept_token(path: Path) -> str:
    """The admin token kept at `path`, made (and written, readable by its owner only) if none."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if token and not any(c.isspace() for c in token):
        return token
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token


def banner(
    args: argparse.Namespace, admin_url: str, admin_token: str, db: str, cache_dir: Path
) -> str:
    """What `up` prints once everything answers: every URL in it answers too."""
    demo = f"http://{args.listen}{ROUTE_PATH.rstrip('*')}hello"
    kept = Path(args.data_dir).resolve() / TOKEN_FILE
    source = "given with --admin-token" if args.admin_token else f"kept in {kept}"
    return (
        "\nfleetgate is up\n"
        f"  console      {admin_url}/console    (sign in with the admin token)\n"
        f"  admin API    {admin_url}/docs    (the API is under /api/v1)\n"
        f"  proxy        {demo}    (the demo route)\n"
        f"  https        https://{args.https_listen}{ROUTE_PATH.rstrip('*')}hello"
        "    (a generated certificate: curl -k)\n"
        f"  node status  http://{args.status_listen}/ready\n"
        f"  store        {db}    node cache: {cache_dir.resolve()}\n"
        f"  admin token  {admin_token}    ({source})\n"
        "For the fleetgate CLI in another shell:\n"
        f"  export FLEETGATE_ADMIN_TOKEN={admin_token}\n"
        "Ctrl-C stops everything.\n"
    )
