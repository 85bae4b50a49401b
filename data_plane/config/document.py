"""Declarative files read once, for everyone: `apply -f`, `validate -f` and a node's `--config`.

A file is YAML (JSON is YAML too) parsed with the positions of its nodes kept, so each
problem names the file and the line of the field it is about: `gateway.yaml:12:
routes.users-api.service: no service named 'user'`. The model's checks and the snapshot
checks the admin API and every node run are applied in the same way, so a file that
passes here passes there. A key given twice in one mapping is refused: a YAML parser
would keep the last one silently.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fleetgate_pb import config_pb2 as pb
from pydantic import ValidationError

from .errors import ConfigError
from .model import ENTITY_KINDS, GatewayConfig
from .snapshot import build_snapshot
from .validate import MISSING_KEY, SnapshotChecks, check_snapshot

STDIN = "-"
# pydantic's wording for the two mistakes operators make most, in the gateway's words.
PLAIN_MESSAGES = {"extra_forbidden": "unknown field", "missing": "required field is missing"}


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One reason a file cannot be served, with where it is."""

    path: str
    line: int
    field: str  # in the file shape, entities by name: "routes.users-api.service"
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigFileError(ValueError):
    """The file cannot be served; `problems` says where and why, one per line."""

    def __init__(self, path: str, problems: Sequence[FileProblem | str]) -> None:
        self.path = path
        self.problems = [str(p) for p in problems]
        super().__init__("\n".join(self.problems))


class Document:
    """A parsed file: its data, and the line of every node in it."""

    def __init__(self, path: str, root: yaml.Node | None, data: dict[str, Any]) -> None:
        self.path = path
        self.root = root
        self.data = data

    def __repr__(self) -> str:
        return f"<Document {self.path} kinds={sorted(self.data)}>"

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The 1-based line of the deepest node `loc` reaches (a key's line for a mapping)."""
        node = self.root
        line = 0 if node is None else node.start_mark.line
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                found = next(
                    ((k, v) for k, v in node.value if k.value == str(part)),
                    None,
                )
                if found is None:
                    break
                line, node = found[0].start_mark.line, found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line
            else:
                break
        return line + 1

    def named(self, loc: Sequence[str | int]) -> str:
        """`services.users.retries` for ("services", 0, "retries"), as the checks name fields."""
        parts = [str(part) for part in loc]
        if len(loc) >= 2 and isinstance(loc[1], int):
            entities = self.data.get(str(loc[0]))
            if isinstance(entities, list) and 0 <= loc[1] < len(entities):
                entity = entities[loc[1]]
                if isinstance(entity, dict) and isinstance(entity.get("name"), str):
                    parts[1] = entity["name"]
        return ".".join(parts)

    def loc_of(self, field: str) -> list[str | int]:
        """The path to a field named by the snapshot checks (`routes.users-api.paths.0`).

        Names may hold dots, so the entity is the longest name of that kind that the
        field starts with.
        """
        kind, _, rest = field.partition(".")
        entities = self.data.get(kind)
        loc: list[str | int] = [kind]
        if not isinstance(entities, list) or not rest:
            return loc
        best: tuple[int, int] | None = None  # (length of the name, index)
        for index, entity in enumerate(entities):
            name = entity.get("name") if isinstance(entity, dict) else None
            if not isinstance(name, str) or not (rest == name or rest.startswith(name + ".")):
                continue
            if best is None or len(name) > best[0]:
                best = (len(name), index)
        if best is None:
            return loc
        loc.append(best[1])
        tail = rest[best[0] + 1 :]
        loc += [int(p) if p.isdigit() else p for p in tail.split(".") if p]
        return loc

    def problem(
        self, loc: Sequence[str | int], message: str, field: str | None = None
    ) -> FileProblem:
        return FileProblem(
            self.path, self.line_of(loc), self.named(loc) if field is None else field, message
        )


# libyaml's loader when PyYAML has it (a 10,000-route file: ~0.7 s instead of ~2 s), with
# the same nodes, marks and errors.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: str) -> Document:
    """Parse the file at `path` ('-' for stdin) into a Document; raises ConfigFileError."""
    where = "<stdin>" if path == STDIN else path
    try:
        text = sys.stdin.read() if path == STDIN else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(where, [f"{where}: cannot read it: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(where, [f"{where}: not UTF-8 text: {exc.reason}"]) from None
    if where.endswith(".json") or text.lstrip().startswith("{"):
        # JSON allows tabs between tokens, YAML does not; in a JSON document a raw tab can
        # only be whitespace (inside strings it must be escaped), and lines are kept.
        text = text.replace("\t", " ")
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _refuse_duplicate_keys(where, root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = exc.problem or exc.context or "cannot be parsed"
        raise ConfigFileError(
            where, [f"{where}:{line}: not valid YAML or JSON: {reason}"]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(where, [f"{where}:1: not valid YAML or JSON: {exc}"]) from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kinds = ", ".join(ENTITY_KINDS)
        raise ConfigFileError(
            where, [f"{where}:1: the top level must be a mapping with any of {kinds}"]
        )
    return Document(where, root, data)


def _refuse_duplicate_keys(path: str, root: yaml.Node) -> None:
    problems: list[FileProblem] = []
    pending = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        line = key.start_mark.line + 1
                        problems.append(
                            FileProblem(path, line, key.value, "this key is given twice")
                        )
                    seen.add(key.value)
                pending.append(value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    if problems:
        problems.sort(key=lambda problem: problem.line)
        raise ConfigFileError(path, problems)


def check_document(document: Document, *, for_store: bool = False) -> GatewayConfig:
    """The document as a GatewayConfig that passes every check a node runs; raises
    ConfigFileError with one problem per field.

    `for_store`: the file goes to the admin API, where a certificate given by its
    `key_sha256` alone keeps the stored key; a node's own file must hold every key.
    """
    return _checked(document, for_store, check_snapshot)[0]


def _checked(
    document: Document, for_store: bool, check: Callable[[pb.Snapshot], list[ConfigError]]
) -> tuple[GatewayConfig, pb.Snapshot]:
    try:
        config = GatewayConfig.model_validate(document.data)
    except ValidationError as exc:
        problems = [
            document.problem(error["loc"], PLAIN_MESSAGES.get(error["type"], error["msg"]))
            for error in exc.errors()
        ]
        raise ConfigFileError(document.path, problems) from None
    snapshot = build_snapshot(config)
    errors = check(snapshot)
    if for_store:
        errors = [e for e in errors if e.message != MISSING_KEY]
    if errors:
        problems = [
            document.problem(document.loc_of(e.field), e.message, field=e.field) for e in errors
        ]
        raise ConfigFileError(document.path, problems)
    return config, snapshot


def read_gateway_file(path: str, *, for_store: bool = False) -> GatewayConfig:
    """The declarative file at `path` ('-' for stdin), checked as the admin API and nodes
    check it; raises ConfigFileError naming the file and the line of every problem."""
    return check_document(read_document(path), for_store=for_store)


def read_gateway_snapshot(path: str, checks: SnapshotChecks | None = None) -> pb.Snapshot:
    """The snapshot of the declarative file at `path`, checked as `read_gateway_file`
    checks it; `checks`: what the previous file that passed left (a reload checks only
    the routes that changed). Raises ConfigFileError."""
    check = check_snapshot if checks is None else checks.check
    return _checked(read_document(path), False, check)[1]
