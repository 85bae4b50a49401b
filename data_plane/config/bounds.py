"""The bounds every value of a config obeys unless its field sets tighter ones.

Every string and collection an operator (or an attacker holding the admin token) can
write ends up in SQL columns, in snapshots sent to every node, and in memory on every
worker; none may be unbounded. `Spec` runs `bounds_problem` on each of its fields, so
a field added to the model later is bounded without anyone remembering to: strings at
most `MAX_TEXT` characters (`MAX_MULTILINE` for fields marked `MULTILINE`, such as PEM
keys), lists and maps at most `MAX_ITEMS` entries, and no control character in any
string but the tab (and the line breaks of a `MULTILINE` field). A field's own
`max_length` replaces the default for that field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

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
    return None


def bounds_problem(value: Any, metadata: Iterable[Any]) -> str | None:
    """Why `value` of a field with `metadata` breaks the bounds, or None."""
    metadata = list(metadata)
    multiline = MULTILINE in metadata
    own_max = declared_max(metadata)
    text_max = MAX_MULTILINE if multiline else MAX_TEXT
    control = _CONTROL_MULTILINE if multiline else _CONTROL
    if isinstance(value, str):
        return _text_problem(value, own_max or text_max, control)
    if isinstance(value, list | dict):
        if len(value) > (own_max or MAX_ITEMS):
            return f"at most {own_max or MAX_ITEMS} items"
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for key, item in items:
            for text in (key, item):
                if isinstance(text, str):
                    problem = _text_problem(text, text_max, control)
                    if problem is not None:
                        return problem
    return None


def _text_problem(text: str, limit: int, control: re.Pattern[str]) -> str | None:
    if len(text) > limit:
        return f"at most {limit} characters"
    if control.search(text):
        return "control characters (NUL, line breaks, ...) are not allowed"
    return None
