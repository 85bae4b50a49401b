"""The bounds every value of a config obeys unless its field sets tighter ones.

Every string and collection an operator (or an attacker holding the admin token) can
write ends up in SQL columns, in snapshots sent to every node, and in memory on every
worker; none may be unbounded. `Spec` runs `bounds_problem` on each of its fields, so
a field added to the model later is bounded without anyone remembering to: strings at
most `MAX_TEXT` characters (`MAX_MULTILINE` for fields marked `MULTILINE`, such as PEM
keys), lists and maps at most `MAX_ITEMS` entries, and no control character in any
string but the tab (and the line breaks of a `MULTILINE` field). A field's own
`max_length` replaces the default for that field (for a list or a map of strings, the
`max_length` of its item type does so for the items); a string allowed to be longer
than `MAX_TEXT` is a document (a PEM chain, a key) and may hold line breaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, get_args, get_origin

from annotated_types import MaxLen

MAX_TEXT = 4096
MAX_MULTILINE = 64 * 1024
MAX_ITEMS = 1000

# C0 controls and DEL; tab is text. NUL also breaks PostgreSQL text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Multiline:
    """Marks a string field that may hold line breaks (PEM documents)."""

    def __repr__(self) -> str:
        return "MULTILINE"


MULTILINE = Multiline()


def declared_max(metadata: Iterable[Any]) -> int | None:
    """The `max_length` a field declares, if any."""
    for item in metadata:
        if isinstance(item, MaxLen):
            return int(item.max_length)
        inner = getattr(item, "metadata", None)  # a FieldInfo inside Annotated[...]
        if isinstance(inner, list):
            found = declared_max(inner)
            if found is not None:
                return found
    return None


def item_max(annotation: Any) -> int | None:
    """The `max_length` the items of a list or map annotation declare, if any."""
    for arg in get_args(annotation):
        if get_origin(arg) is Annotated:
            found = declared_max(get_args(arg)[1:])
            if found is not None:
                return found
        elif get_args(arg):
            found = item_max(arg)
            if found is not None:
                return found
    return None


def _text_rules(limit: int | None, multiline: bool) -> tuple[int, re.Pattern[str]]:
    document = multiline or (limit is not None and limit > MAX_TEXT)
    if limit is None:
        limit = MAX_MULTILINE if multiline else MAX_TEXT
    return limit, (_CONTROL_MULTILINE if document else _CONTROL)


def bounds_problem(value: Any, metadata: Iterable[Any], annotation: Any = None) -> str | None:
    """Why `value` of a field (`metadata`, `annotation`) breaks the bounds, or None."""
    metadata = list(metadata)
    multiline = MULTILINE in metadata
    own_max = declared_max(metadata)
    if isinstance(value, str):
        limit, control = _text_rules(own_max, multiline)
        return _text_problem(value, limit, control)
    if isinstance(value, list | dict):
        if len(value) > (own_max or MAX_ITEMS):
            return f"at most {own_max or MAX_ITEMS} items"
        limit, control = _text_rules(item_max(annotation), multiline)
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for key, item in items:
            for text in (key, item):
                if isinstance(text, str):
                    problem = _text_problem(text, limit, control)
                    if problem is not None:
                        return problem
    return None


def _text_problem(text: str, limit: int, control: re.Pattern[str]) -> str | None:
    if len(text) > limit:
        return f"at most {limit} characters"
    if control.search(text):
        return "control characters (NUL, line breaks, ...) are not allowed"
    return None
