"""Syntax of the names a config holds, kept apart from the pydantic models.

The models check these when a config is written; a node's route table checks host
patterns again when it compiles a snapshot. A worker imports this module, never the
models: pydantic and the built model classes would cost each worker process
megabytes it never uses.
"""

from __future__ import annotations

import re

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
HOST_PATTERN = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$"
)
