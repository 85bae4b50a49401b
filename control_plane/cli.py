"""The `fleetgate` command: one console script, one sub-command per job.

Every flag can also come from the environment as `FLEETGATE_<FLAG>` (`--admin-listen`
is `FLEETGATE_ADMIN_LISTEN`), or from the file named by `FLEETGATE_<FLAG>_FILE` (how
container secrets arrive: `FLEETGATE_CLUSTER_TOKEN_FILE=/run/secrets/cluster-token`);
a flag on the command line wins, then the variable, then the file. Sub-commands import
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

from control_plane.settings import STORE_FILE, ControlPlaneSettings
from data_plane.config.syntax import join_host_port, parse_host_port
from data_plane.settings import ACCESS_LOG, LISTEN, STATUS_LISTEN, NodeSettings
from data_plane.sync.identity import software_version

# sub-command -> "module:function" taking the parsed namespace and returning an exit code
HANDLERS = {
    "control-plane": "control_plane.server:run",
    "db upgrade": "control_plane.store.migrate:run",
    "apply": "control_plane.declarative:run_apply",
    "export": "control_plane.declarative:run_export",
    "validate": "control_plane.declarative:run_validate",
    "status": "control_plane.fleet_status:run_status",
    "data-plane": "data_plane.cli:run",
    "up": "control_plane.up:run",
    "certs": "control_plane.certs:run",
    "rollout": "control_plane.rollout_cli:run_rollout",
}
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
# A setting read from a file is a token, a URL or a list of addresses: one short line.
MAX_SETTING_FILE_BYTES = 4096


def _from_file(variable: str, path: str) -> str:
    """The value held in the file `FLEETGATE_<FLAG>_FILE` names, without its line ending."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_SETTING_FILE_BYTES + 1)
    except OSError as exc:
        sys.exit(f"fleetgate: {variable}: cannot read {path}: {exc.strerror}")
    if len(raw) > MAX_SETTING_FILE_BYTES:
        sys.exit(f"fleetgate: {variable}: {path} holds more than {MAX_SETTING_FILE_BYTES} bytes")
    value = raw.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")
    if "\n" in value or "\r" in value:
        sys.exit(f"fleetgate: {variable}: {path} holds more than one line")
    return value


class _Flags:
    """Adds flags whose default comes from FLEETGATE_<FLAG> when set.

    Each flag's help ends with its default and its environment variable; a secret's
    default (a token) is never printed, not even when it comes from the environment.
    """

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def __call__(
        self,
        *names: str,
        default: Any = None,
        secret: bool = False,
        env: str | None = None,
        shown: str | None = None,
        **kwargs: Any,
    ) -> None:
        long_name = next(n for n in reversed(names) if n.startswith("--"))
        env = env or "FLEETGATE_" + long_name.lstrip("-").upper().replace("-", "_")
        from_env = os.environ.get(env)
        if from_env is None and os.environ.get(env + "_FILE"):
            from_env = _from_file(env + "_FILE", os.environ[env + "_FILE"])
        action = kwargs.get("action")
        if from_env is not None:
            if action == "store_true":
                default = from_env.lower() in TRUE_WORDS
            elif action == "append":
                default = [v for v in from_env.split(",") if v]
            else:
                default = from_env
            # A required flag is given once its variable is set.
            kwargs["required"] = False
        help_text = kwargs.pop("help", "")
        if kwargs.get("required"):
            shown = "required"
        elif shown is None or from_env is not None:
            shown = "default: " + _shown_default(default, action, secret, from_env is not None)
        else:
            shown = "default: " + shown
        kwargs["help"] = f"{help_text} ({shown}) [env {env}]".strip()
        self.parser.add_argument(*names, default=default, **kwargs)


def _shown_default(default: Any, action: Any, secret: bool, from_env: bool) -> str:
    if secret:
        return f"{'set' if default else 'none'}{', from the environment' if from_env else ''}"
    if action == "store_true":
        shown = "on" if default else "off"
    elif default is None or default == []:
        shown = "none"
    elif isinstance(default, list):
        shown = ",".join(str(v) for v in default)
    else:
        shown = str(default)
    return shown + (", from the environment" if from_env else "")


def _sync_security(flag: _Flags) -> None:
    flag("--cluster-token", secret=True, help="shared secret of the config sync stream")
    flag("--tls-cert", help="PEM certificate of this side of the sync stream")
    flag("--tls-key", help="PEM private key of --tls-cert")
    flag("--tls-ca", help="PEM CA that signed the other side's certificate")


def _log_format(flag: _Flags) -> None:
    flag(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="the process's own log lines: text or one JSON object per line",
    )


def _admin_client(flag: _Flags) -> None:
    flag("--admin-url", default=DEFAULT_ADMIN_URL, help="admin API base URL")
    flag("--token", secret=True, env="FLEETGATE_ADMIN_TOKEN", help="admin token")


def _control_plane(setting: str) -> Any:
    """The default of a control-plane setting, as `ControlPlaneSettings` holds it."""
    return ControlPlaneSettings.model_fields[setting].default


def _on_loopback(listen: str) -> str:
    """The loopback address on the port of `listen`: what `up` listens on."""
    return join_host_port("127.0.0.1", parse_host_port(listen)[1])


DEFAULT_ADMIN_URL = f"http://{_control_plane('admin_listen')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetgate", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fleetgate {software_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cp = commands.add_parser("control-plane", help="run the admin API and config sync")
    flag = _Flags(cp)
    flag("--db", default=_control_plane("db"), help="SQLAlchemy URL of the store")
    flag(
        "--admin-listen", default=_control_plane("admin_listen"), help="HOST:PORT of the admin API"
    )
    flag("--sync-listen", default=_control_plane("sync_listen"), help="HOST:PORT of the gRPC sync")
    flag(
        "--admin-token",
        secret=True,
        help="bearer token of the admin API (generated on the first start when absent)",
    )
    flag("--no-migrate", action="store_true", help="do not apply pending migrations at start")
    _log_format(flag)
    flag(
        "--node-offline-after",
        type=float,
        default=_control_plane("node_offline_after"),
        help="seconds of silence -> OFFLINE",
    )
    flag(
        "--node-purge-after",
        type=float,
        default=_control_plane("node_purge_after"),
        help="seconds OFFLINE -> forgotten",
    )
    _sync_security(flag)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply pending migrations")
    _Flags(upgrade)("--db", default=_control_plane("db"), help="SQLAlchemy URL of the store")

    apply = commands.add_parser("apply", help="make the store equal to a declarative file")
    flag = _Flags(apply)
    flag("-f", "--file", required=True, help="YAML or JSON file ('-' for stdin)")
    flag("--dry-run", action="store_true", help="print the diff, change nothing; exit 2 on drift")
    flag("-v", "--verbose", action="store_true", help="print every entity changed")
    flag("--wait", action="store_true", help="wait until every connected node ACKs or NACKs")
    flag("--timeout", type=float, default=60.0, help="seconds --wait waits at most")
    _admin_client(flag)

    export = commands.add_parser("export", help="write the stored config (or a release) as YAML")
    flag = _Flags(export)
    flag("-o", "--output", shown="stdout", help="file to write")
    flag("--release", type=_positive, help="write this release instead of the stored config")
    flag(
        "--include-secrets",
        action="store_true",
        help="write certificate keys too (else their key_sha256 only)",
    )
    _admin_client(flag)

    validate = commands.add_parser("validate", help="check a declarative file, offline")
    _Flags(validate)("-f", "--file", required=True, help="YAML or JSON file ('-' for stdin)")

    status = commands.add_parser(
        "status", help="control plane health, the latest release and the nodes"
    )
    _admin_client(_Flags(status))

    dp = commands.add_parser("data-plane", help="run a data-plane node")
    flag = _Flags(dp)
    flag("--listen", default=LISTEN, help="HOST:PORT of the proxy")
    flag(
        "--https-listen",
        shown="off",
        help="HOST:PORT of the HTTPS proxy listener (certificates from the config, by SNI)",
    )
    flag("--status-listen", default=STATUS_LISTEN, help="HOST:PORT of health and metrics")
    flag("--control-plane", help="HOST:PORT of the control plane's sync service")
    flag("--config", help="serve this declarative file, without a control plane")
    flag(
        "--cache-dir",
        default=NodeSettings.__dataclass_fields__["cache_dir"].default,
        help="where the last good snapshot is kept",
    )
    flag("--workers", type=int, default=0, help="worker processes (0: one per core)")
    flag(
        "--node-id",
        shown="derived from host name and listen address",
        help="stable node id",
    )
    flag("--label", action="append", default=[], help="KEY=VALUE label, repeatable")
    flag(
        "--access-log",
        default=ACCESS_LOG,
        help="where a JSON line per request goes: - (standard output), a file, or off",
    )
    _log_format(flag)
    flag(
        "--trusted-proxies",
        shown="none",
        metavar="CIDR,...",
        help="load balancers whose X-Forwarded-For names the client (the right-most entry"
        " not among them)",
    )
    flag(
        "--redis-url",
        secret=True,
        shown="none",
        help="Redis of the rate limits with backend: redis (redis://[:password@]host:port/db)",
    )
    _sync_security(flag)

    up = commands.add_parser("up", help="control plane on SQLite plus one node, with a demo route")
    flag = _Flags(up)
    flag("--data-dir", default=".", help="where the store, node cache and admin token are kept")
    flag("--db", shown=f"{STORE_FILE} in --data-dir", help="SQLAlchemy URL of the store")
    flag("--listen", default=_on_loopback(LISTEN), help="HOST:PORT of the proxy")
    flag(
        "--admin-listen", default=_control_plane("admin_listen"), help="HOST:PORT of the admin API"
    )
    flag("--sync-listen", default=_control_plane("sync_listen"), help="HOST:PORT of the gRPC sync")
    flag("--status-listen", default=STATUS_LISTEN, help="HOST:PORT of node health")
    flag(
        "--https-listen",
        default="127.0.0.1:8443",
        help="HOST:PORT of the node's HTTPS listener (a generated certificate)",
    )
    flag(
        "--admin-token",
        secret=True,
        shown="the one kept in --data-dir",
        help="bearer token of the admin API",
    )
    flag("--workers", type=int, default=1, help="node worker processes")

    certs = commands.add_parser("certs", help="make a CA, a server and node certificates")
    flag = _Flags(certs)
    flag("--out", default="./certs", help="directory to write PEM files to")
    flag("--server-name", action="append", default=[], help="DNS name or IP, repeatable")
    flag("--node", action="append", default=[], help="node certificate name, repeatable")

    _rollout(commands)
    return parser


def _rollout(commands: Any) -> None:
    rollout = commands.add_parser(
        "rollout", help="blue/green: a candidate config beside the active"
    )
    steps = rollout.add_subparsers(dest="rollout_command", required=True, metavar="ACTION")
    start = steps.add_parser("start", help="start a rollout of a file (or a release)")
    flag = _Flags(start)
    candidate = start.add_mutually_exclusive_group(required=True)
    candidate.add_argument("-f", "--file", help="YAML or JSON file ('-' for stdin)")
    candidate.add_argument("--release", type=_positive, help="roll out this release again")
    chosen = start.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--percent", type=int, help="a sticky share of clients, 0..100")
    chosen.add_argument("--header", metavar="NAME=VALUE", help="requests with this header")
    chosen.add_argument("--nodes", metavar="KEY=VALUE", help="every request of these nodes")
    flag("--by", help="what keeps a client on its side: client_ip, header:NAME, cookie:NAME")
    flag("--soak", type=float, help="gate: seconds the candidate runs before promotion")
    flag("--min-requests", type=int, help="gate: candidate requests needed to judge")
    flag("--max-error-rate-delta", type=float, help="gate: 5xx share above the active's")
    flag("--max-p99-ratio", type=float, help="gate: p99 at most this times the active's")
    _admin_client(flag)
    for action, text in (
        ("status", "the current rollout: both sides' figures and the gate's verdict"),
        ("promote", "make the candidate the active config everywhere"),
        ("rollback", "drop the candidate everywhere"),
    ):
        _admin_client(_Flags(steps.add_parser(action, help=text)))


def _positive(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 2**63:
        raise argparse.ArgumentTypeError(f"expected a release version (1, 2, ...), got {value!r}")
    return int(value)


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
