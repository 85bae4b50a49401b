"""What a path, query or header value of an admin request may hold.

Each is compared with a column or bound into a query, so each is bounded like the
column: names as names are written, integers within a signed 64-bit BIGINT (Python's
int is not, and 2^63 was a 500 OverflowError), text on one line without NUL (which
PostgreSQL text refuses with an error, not a miss). pydantic checks `pattern` with
Rust's regex crate, where `$` is the end of the text only.
"""

from __future__ import annotations

from data_plane.config.syntax import NAME_PATTERN
from data_plane.sync.contract import NODE_ID

MAX_SQL_INTEGER = 2**63 - 1
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
NAME = f"^{NAME_PATTERN}$"
NODE_ID_PATTERN = f"^{NODE_ID.pattern}$"
MAX_TAGS = 50
