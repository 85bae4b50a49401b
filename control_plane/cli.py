"""The `fleetgate` command: one console script, one sub-command per job.

Every flag can also come from the environment as `FLEETGATE_<FLAG>` (`--admin-listen`
is `FLEETGATE_ADMIN_LISTEN`); a flag on the command line wins. Sub-commands import
their implementation only when chosen, so `fleetgate data-plane` never loads FastAPI
or SQLAlchemy.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_DB = "sqlite:///./fleetgate.db"
DEFAULT_ADMIN_URL = "http://127.0.0.1:8001"

# sub-command -> "module:function" taking the parsed namespace and returning an exit code
HANDLERS = {
    "control-plane": "control_plane.server:run",
    "db upgrade": "control_plane.store.migrate:run",
    "apply": "control_plane.declarative:run_apply",
    "export": "control_plane.declarative:run_export",
    "data-plane": "data_plane.cli:run",
    "up": "control_plane.up:run",
    "certs": "control_plane.certs:run",
}


class _Flags:
    """Adds flags whose default comes from FLEETGATE_<FLAG> when set."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def __call__(self, flag: str, *, default: Any = None, **kwargs: Any) -> None:
        env = "FLEETGATE_" + flag.lstrip("-").upper().replace("-", "_")
        from_env = os.environ.get(env)
        if from_env is not None:
            if kwargs.get("action") == "store_true":
                default = from_env.lower() in {"1", "true", "yes", "on"}
            elif kwargs.get("action") == "append":
                default = [v for v in from_env.split(",") if v]
            else:
                default = from_env
        help_text = kwargs.pop("help", "")
        kwargs["help"] = f"{help_text} [env {env}]".strip()
        self.parser.add_argument(flag, default=default, **kwargs)


def _sync_security(flag: _Flags) -> None:
    flag("--cluster-token", help="shared secret of the config sync stream")
    flag("--tls-cert", help="PEM certificate of this side of the sync stream")
    flag("--tls-key", help="PEM private key of --tls-cert")
    flag("--tls-ca", help="PEM CA that signed the other side's certificate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetgate", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cp = commands.add_parser("control-plane", help="run the admin API and config sync")
    flag = _Flags(cp)
    flag("--db", default=DEFAULT_DB, help="SQLAlchemy URL of the store")
    flag("--admin-listen", default="127.0.0.1:8001", help="HOST:PORT of the admin API")
    flag("--sync-listen", default="127.0.0.1:50051", help="HOST:PORT of the gRPC sync")
    flag("--admin-token", help="bearer token of the admin API (generated when absent)")
    flag("--no-migrate", action="store_true", help="do not apply pending migrations at start")
    flag("--node-offline-after", type=float, default=30.0, help="seconds of silence -> OFFLINE")
    flag("--node-purge-after", type=float, default=3600.0, help="seconds OFFLINE -> forgotten")
    _sync_security(flag)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply pending migrations")
    _Flags(upgrade)("--db", default=DEFAULT_DB, help="SQLAlchemy URL of the store")

    apply = commands.add_parser("apply", help="make the store equal to a declarative file")
    flag = _Flags(apply)
    apply.add_argument("-f", "--file", required=True, help="YAML or JSON file ('-' for stdin)")
    apply.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    flag("--admin-url", default=DEFAULT_ADMIN_URL, help="admin API base URL")
    flag("--token", help="admin token (else FLEETGATE_ADMIN_TOKEN)")

    export = commands.add_parser("export", help="write the stored config as YAML")
    flag = _Flags(export)
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    flag("--admin-url", default=DEFAULT_ADMIN_URL, help="admin API base URL")
    flag("--token", help="admin token (else FLEETGATE_ADMIN_TOKEN)")

    dp = commands.add_parser("data-plane", help="run a data-plane node")
    flag = _Flags(dp)
    flag("--listen", default="0.0.0.0:8080", help="HOST:PORT of the proxy")
    flag("--status-listen", default="127.0.0.1:9901", help="HOST:PORT of health and metrics")
    flag("--control-plane", help="HOST:PORT of the control plane's sync service")
    flag("--config", help="serve this declarative file, without a control plane")
    flag("--cache-dir", default="./fleetgate-cache", help="where the last good snapshot is kept")
    flag("--workers", type=int, default=0, help="worker processes (0: one per core)")
    flag("--node-id", help="stable node id (default: derived from host name and listen address)")
    flag("--label", action="append", default=[], help="KEY=VALUE label, repeatable")
    _sync_security(flag)

    up = commands.add_parser("up", help="control plane on SQLite plus one node, with a demo route")
    flag = _Flags(up)
    flag("--db", default=DEFAULT_DB, help="SQLAlchemy URL of the store")
    flag("--listen", default="127.0.0.1:8080", help="HOST:PORT of the proxy")
    flag("--admin-listen", default="127.0.0.1:8001", help="HOST:PORT of the admin API")
    flag("--sync-listen", default="127.0.0.1:50051", help="HOST:PORT of the gRPC sync")
    flag("--status-listen", default="127.0.0.1:9901", help="HOST:PORT of node health")
    flag("--admin-token", help="bearer token of the admin API (generated when absent)")
    flag("--workers", type=int, default=1, help="node worker processes")

    certs = commands.add_parser("certs", help="make a CA, a server and node certificates")
    certs.add_argument("--out", default="./certs", help="directory to write PEM files to")
    certs.add_argument("--server-name", action="append", default=[], help="DNS name or IP")
    certs.add_argument("--node", action="append", default=[], help="node certificate name")
    return parser


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    key = "db upgrade" if args.command == "db" else args.command
    module_name, _, function = HANDLERS[key].partition(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(module_name), function
    )
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _handler(args)(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
