"""`fleetgate apply -f FILE` and `fleetgate export`: the whole config as a file, via the admin API.

`apply` reads YAML or JSON, validates it here first (errors name the file and the
field), then asks the admin API to make the store equal to it - entities absent from
the file are deleted, like decK's sync - all or nothing, and prints what changed.
`export` writes the stored config in the same shape; `export | apply` changes nothing,
and `export` after `apply` writes the very same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import ValidationError

from data_plane.config.model import ENTITY_KINDS, GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.config.validate import check_snapshot

from .errors import problems_from

TOKEN_ENV = "FLEETGATE_ADMIN_TOKEN"
TIMEOUT = 60.0  # seconds: applying thousands of routes is one long transaction


class CliError(Exception):
    """A failure the command reports in one message, and exits 1 on."""


def run_apply(args: argparse.Namespace) -> int:
    try:
        config = read_config(args.file)
        client = AdminClient(args.admin_url, _token(args))
        result = client.call(
            "PUT",
            "/api/v1/config",
            params={"dry_run": "true" if args.dry_run else "false"},
            json=config.to_file_dict(),
        )
    except CliError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    print(render_diff(result["diff"]), end="")
    if args.dry_run and result["changed"]:
        print("(dry run: nothing was changed)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    try:
        client = AdminClient(args.admin_url, _token(args))
        document = client.call("GET", "/api/v1/config")
    except CliError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    text = dump_yaml(document)
    counts = ", ".join(f"{len(document[k])} {k}" for k in ENTITY_KINDS if k in document)
    what = counts or "an empty config"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"fleetgate: cannot write {args.output}: {exc}", file=sys.stderr)
            return 1
        print(f"fleetgate: exported {what} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"fleetgate: exported {what}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- the file


def read_config(path: str) -> GatewayConfig:
    """The declarative file at `path` ('-' for stdin), validated as the nodes would."""
    where = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise CliError(f"{where}: not valid YAML or JSON: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kinds = ", ".join(ENTITY_KINDS)
        raise CliError(f"{where}: the top level must be a mapping with any of {kinds}")
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {_entity_path(problem.field, data)}: {problem.message}"
            for problem in problems_from(exc.errors())
        ]
        raise CliError(f"{where} is not a valid config:\n" + "\n".join(lines)) from None
    problems = check_snapshot(build_snapshot(config))
    if problems:
        lines = [f"  {problem}" for problem in problems]
        raise CliError(f"{where} is not a consistent config:\n" + "\n".join(lines))
    return config


def _entity_path(field: str, data: dict[str, Any]) -> str:
    """`services.0.retries` as `services.users.retries`, when the entity has a name."""
    kind, _, rest = field.partition(".")
    index, _, inner = rest.partition(".")
    entities = data.get(kind)
    if kind in ENTITY_KINDS and index.isdigit() and isinstance(entities, list):
        entity = entities[int(index)] if int(index) < len(entities) else None
        if isinstance(entity, dict) and isinstance(entity.get("name"), str):
            return ".".join(part for part in (kind, entity["name"], inner) if part)
    return field


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def render_diff(diff: dict[str, Any]) -> str:
    """The diff as an operator reads it: + added, - removed, ~ changed (with the fields)."""
    lines: list[str] = []
    counts = {"added": 0, "changed": 0, "removed": 0}
    for kind in ENTITY_KINDS:
        changes = diff.get(kind) or {}
        entries = [f"  + {e['name']}" for e in changes.get("added", [])]
        entries += [
            f"  ~ {c['name']}: {_changed_fields(c['before'], c['after'])}"
            for c in changes.get("changed", [])
        ]
        entries += [f"  - {e['name']}" for e in changes.get("removed", [])]
        for key in counts:
            counts[key] += len(changes.get(key, []))
        if entries:
            lines += [f"{kind}:", *entries]
    if not lines:
        return "no changes\n"
    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    return "\n".join([*lines, summary]) + "\n"


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            parts.append(f"{key} {_short(before.get(key))} -> {_short(after.get(key))}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    if value is None:
        return "(default)"
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- the admin API


def _token(args: argparse.Namespace) -> str:
    token: str | None = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CliError(f"no admin token: give --token or set {TOKEN_ENV}")
    return token


class AdminClient:
    """Calls the admin API with the bearer token; any failure becomes a CliError."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "X-Actor": "fleetgate-cli"}

    def __repr__(self) -> str:
        return f"<AdminClient {self.base_url}>"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.base_url + path
        try:
            response = httpx.request(method, url, headers=self._headers, timeout=TIMEOUT, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the admin API at {self.base_url}: {exc}") from None
        if response.is_success:
            return response.json()
        raise CliError(_refusal(response))


def _refusal(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        message = f"{error['code']}: {error['message']}"
        details = error.get("details") or []
    except (ValueError, KeyError, TypeError):
        return f"the admin API answered {response.status_code}: {response.text[:200]}"
    text = f"the admin API refused ({response.status_code}) {message}"
    if len(details) > 1:
        text += "".join(f"\n  {d['field']}: {d['message']}" for d in details)
    return text
