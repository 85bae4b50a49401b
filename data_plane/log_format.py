"""How fleetgate's own logs look: `--log-format text` (default) or `json`, with timestamps.

Both planes and the node's workers configure logging here, once, at start. Text is one
line per record: UTC time to the millisecond, level, logger and process, message. JSON
is one object per line with the same facts (`ts`, `level`, `logger`, `pid`, `message`),
the fields a record carries in `extra={"fields": {...}}` (the admin API's request lines),
and the traceback as `exc` when there is one. The access log is not this: it is written
by the workers themselves (access_log.py).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

FORMATS = ("text", "json")
LOG_FORMAT_VARIABLE = "FLEETGATE_LOG_FORMAT"
_TEXT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s[%(process)d]: %(message)s"
_DATE = "%Y-%m-%dT%H:%M:%S"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(_TEXT, _DATE)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or _DATE, time.gmtime(record.created))


class JsonFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or _DATE, time.gmtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": f"{self.formatTime(record, _DATE)}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every record of this process to standard error in `log_format`.

    Raises ValueError for a format that is not text or json.
    """
    if log_format not in FORMATS:
        raise ValueError(f"--log-format: expected text or json, got {log_format!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
