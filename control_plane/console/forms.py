"""Entity forms made from the config model: one labelled field per top-level field of a spec.

The model (`data_plane/config/model.py`) is the one definition of an entity, so the
forms follow it: a text or number field for a scalar, a checkbox for a flag, a select
for a choice, one line per item for a list of words, and YAML (or JSON) for anything
nested. What the operator typed becomes the entity's file shape; the model and the
store check it exactly as they check an API body, and each problem is shown beside the
field it names (`targets.0.weight` beside `targets`). Nothing here does I/O.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from data_plane.config.model import Spec

from ..errors import FieldProblem

Widget = Literal["text", "number", "checkbox", "select", "lines", "yaml"]
INTEGER = re.compile(r"-?[0-9]{1,19}")
DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?([eE][-+]?[0-9]{1,3})?")
# Problems that name no field of the form (the entity as a whole) are shown on top.
GENERAL = ""


@dataclass(frozen=True, slots=True)
class FormField:
    """One field of an entity form."""

    name: str
    label: str
    widget: Widget
    required: bool
    hint: str = ""
    choices: tuple[str, ...] = ()
    step: str = "1"  # "any" for a decimal number


def _bare(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `Annotated` and `None`, and whether None was allowed."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, optional
            annotation = args[0]
        else:
            return annotation, optional


def _is_word(annotation: Any) -> bool:
    bare, _ = _bare(annotation)
    return bare is str or get_origin(bare) is Literal


def _field(name: str, info: FieldInfo) -> FormField:
    bare, _ = _bare(info.annotation)
    origin = get_origin(bare)
    label = name.replace("_", " ").capitalize()
    hint = info.description or ""
    required = info.is_required()
    if bare is bool:
        return FormField(name, label, "checkbox", False, hint)
    if bare is int or bare is float:
        return FormField(name, label, "number", required, hint, step="1" if bare is int else "any")
    if origin is Literal:
        return FormField(name, label, "select", required, hint, tuple(map(str, get_args(bare))))
    if bare is str:
        return FormField(name, label, "text", required, hint)
    if origin is list and _is_word(get_args(bare)[0]):
        return FormField(name, label, "lines", required, hint or "one per line")
    return FormField(name, label, "yaml", required, hint or "YAML or JSON")


def form_fields(spec: type[Spec]) -> list[FormField]:
    """The fields of `spec`'s form, in the model's order."""
    return [_field(name, info) for name, info in spec.model_fields.items()]


# ---------------------------------------------------------------- entity -> form


def _shown(field: FormField, value: Any) -> str:
    if value is None:
        return ""
    if field.widget == "checkbox":
        return "on" if value else ""
    if field.widget == "lines":
        return "\n".join(str(item) for item in value)
    if field.widget == "yaml":
        if value in ({}, []):
            return ""
        return str(yaml.safe_dump(value, sort_keys=False, default_flow_style=False)).strip()
    return str(value)


def form_values(fields: list[FormField], entity: dict[str, Any]) -> dict[str, str]:
    """What an entity's form shows: every field as the text the operator edits.

    `entity` is the file shape with every field (defaults included), so a form shows
    the values the gateway applies rather than empty boxes.
    """
    return {field.name: _shown(field, entity.get(field.name)) for field in fields}


# ---------------------------------------------------------------- form -> entity


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors and aliases: a few lines of aliases can stand for billions of
    values, which the checks after the parser would then walk."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent) or getattr(self.peek_event(), "anchor", None):
            raise yaml.YAMLError("anchors and aliases are not accepted here")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise yaml.MarkedYAMLError(
                        problem=f"the key {key.value[:64]!r} is given twice",
                        problem_mark=key.start_mark,
                    )
                seen.add(key.value)
        return super().construct_mapping(node, deep=deep)


def _parsed(field: FormField, text: str) -> Any:
    """The value of one field, or raises ValueError with the message for the operator.
    An empty field is None: the field is left out, so its default applies."""
    if field.widget == "checkbox":
        return text == "on"
    if field.widget == "lines":
        items = [line.strip() for line in text.splitlines() if line.strip()]
        return items or None
    if not text.strip():
        return None
    if field.widget == "number":
        value = text.strip()
        if field.step == "1":
            if not INTEGER.fullmatch(value):
                raise ValueError("a whole number is expected")
            return int(value)
        if not DECIMAL.fullmatch(value):
            raise ValueError("a number is expected")
        return float(value)
    if field.widget == "yaml":
        try:
            return yaml.load(text, Loader=_NoAliases)  # a SafeLoader underneath
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            reason = getattr(exc, "problem", None) or str(exc)
            raise ValueError(f"not valid YAML or JSON{where}: {reason}") from None
    return text


def parse_form(
    fields: list[FormField], posted: dict[str, str]
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The entity (file shape) the posted form describes, and what could not be read.

    Fields left empty are left out; unknown posted fields are ignored (a form only posts
    its own fields and the CSRF token).
    """
    body: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for field in fields:
        try:
            value = _parsed(field, posted.get(field.name, ""))
        except ValueError as exc:
            problems.append(FieldProblem(field.name, str(exc)))
            continue
        if value is not None:
            body[field.name] = value
    return body, problems


def problems_by_field(
    fields: list[FormField], problems: list[FieldProblem], prefix: str = ""
) -> dict[str, list[str]]:
    """Each problem under the form field it is about; those about no field under GENERAL.

    `prefix` is what the store's checks put before an entity's own fields
    (`routes.users-api.`); pydantic's messages name the fields directly (`targets.0.weight`).
    """
    names = {field.name for field in fields}
    shown: dict[str, list[str]] = {}
    for problem in problems:
        path = problem.field
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
        head, _, rest = path.partition(".")
        if head in names:
            message = f"{path}: {problem.message}" if rest else problem.message
            shown.setdefault(head, []).append(message)
        else:
            shown.setdefault(GENERAL, []).append(str(problem))
    return shown


def summary(value: Any) -> str:
    """A short text for a list column: words joined, a mapping as key=value."""
    if value is None or value in ([], {}):
        return ""
    if isinstance(value, list):
        return ", ".join(summary(item) for item in value)
    if isinstance(value, dict):
        for key in ("address", "id"):  # a target, an API key
            if key in value:
                return str(value[key])
        return " ".join(f"{k}={summary(v)}" for k, v in value.items())
    if isinstance(value, BaseModel):
        return summary(value.model_dump(mode="json"))
    return str(value)
