"""`fleetgate apply`, `export` and `validate`: the whole config as a file.

`apply` reads YAML or JSON, validates it here first with the loader nodes use (errors
name the file, the line and the field), then asks the admin API to make the store equal
to it - entities absent from the file are deleted, like decK's sync - all or nothing.
It prints a summary of what changed and the release it made (`-v`: every entity), and
with `--wait` waits until every connected node ACKs or NACKs that release. `--dry-run`
prints the diff and exits 2 when there is one, so CI can gate on drift. `export` writes
the stored config (or an old release, `--release N`) in the same shape; `export |
apply` changes nothing, and `export` after `apply` writes the very same bytes.
`validate` runs the same checks offline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from data_plane.config.document import ConfigFileError, read_gateway_file
from data_plane.config.model import ENTITY_KINDS, GatewayConfig

from .admin_client import AdminClient, CliError, release_of
from .fleet_status import report_progress, wait_for_release

EXIT_DRIFT = 2  # `apply --dry-run` found changes
RELEASE_METADATA = ("version", "hash", "created_at", "author")


def run_apply(args: argparse.Namespace) -> int:
    try:
        config = read_config(args.file)
        client = AdminClient.from_args(args)
        response = client.request(
            "PUT",
            "/api/v1/config",
            params={"dry_run": "true" if args.dry_run else "false"},
            json=config.to_file_dict(secrets=True),
        )
    except CliError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    result = response.json()
    if args.dry_run:
        print(render_diff(result["diff"]), end="")
        if result["changed"]:
            print("(dry run: nothing was changed)")
            return EXIT_DRIFT
        return 0
    print(render_diff(result["diff"]) if args.verbose else render_summary(result["diff"]), end="")
    release = release_of(response)
    if release is None:
        print("no release yet (the store holds no config)")
        return 0
    print(f"release {release}" if result["changed"] else f"release {release} (unchanged)")
    if not args.wait:
        return 0
    try:
        progress = wait_for_release(client, release, args.timeout)
    except CliError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    return report_progress(progress, args.timeout)


def run_export(args: argparse.Namespace) -> int:
    try:
        client = AdminClient.from_args(args)
        params = {"include_secrets": "true"} if args.include_secrets else None
        if args.release is None:
            document = client.call("GET", "/api/v1/config", params=params)
            source = "the stored config"
        else:
            release = client.call("GET", f"/api/v1/releases/{args.release}", params=params)
            document = {k: v for k, v in release.items() if k not in RELEASE_METADATA}
            source = f"release {args.release}"
    except CliError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    text = dump_yaml(document)
    counts = ", ".join(f"{len(document[k])} {k}" for k in ENTITY_KINDS if k in document)
    what = f"{source}: {counts or 'empty'}"
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


def run_validate(args: argparse.Namespace) -> int:
    """Offline: the checks the admin API and nodes run, every problem as `file:line`."""
    try:
        config = read_gateway_file(args.file, for_store=True)
    except ConfigFileError as exc:
        count = len(exc.problems)
        print(
            f"fleetgate: {exc.path} is not a valid config ({count} problem"
            f"{'s' if count != 1 else ''}):",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    where = "<stdin>" if args.file == "-" else args.file
    counts = ", ".join(f"{len(getattr(config, k))} {k}" for k in ENTITY_KINDS if getattr(config, k))
    print(f"{where}: valid ({counts or 'empty'})")
    return 0


# ---------------------------------------------------------------- the file


def read_config(path: str) -> GatewayConfig:
    """The declarative file at `path` ('-' for stdin), validated as the nodes would."""
    try:
        return read_gateway_file(path, for_store=True)
    except ConfigFileError as exc:
        if len(exc.problems) == 1:
            raise CliError(exc.problems[0]) from None
        raise CliError(f"{exc.path} is not a valid config:\n" + "\n".join(exc.problems)) from None


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def render_summary(diff: dict[str, Any]) -> str:
    """What `apply` changed, counted per kind: `services: 1 added, 2 changed`."""
    lines = []
    for kind in ENTITY_KINDS:
        changes = diff.get(kind) or {}
        counts = [
            f"{len(changes.get(what, []))} {what}"
            for what in ("added", "changed", "removed")
            if changes.get(what)
        ]
        if counts:
            lines.append(f"{kind}: {', '.join(counts)}")
    return "\n".join(lines) + "\n" if lines else "no changes\n"


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
