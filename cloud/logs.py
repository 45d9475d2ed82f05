"""Logging setup for the cloud processes: readable text for people, JSON lines for collectors
of logs (one object per record, with time, level, logger and message as fields).

Whatever a record says, no token reaches the output: every formatted line - message, arguments,
traceback, from our loggers or a library's (uvicorn logs ``"WebSocket /ws/1?token=..."`` at INFO)
- passes through ``redact`` first, which masks token parameters of URLs and anything shaped like a
JWT.
"""

from __future__ import annotations

import logging
import re
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message"]
REDACTED = "[redacted]"

# ?token=..., &access_token=..., refresh_token=... up to the next separator.
_TOKEN_PARAMETER = re.compile(r"(?i)\b((?:access_|refresh_)?token=)[^&\s\"'<>\\]+")
# A JWT: three base64url parts, the first two JSON objects ("eyJ" is the encoded '{"').
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """``text`` without the tokens it may carry."""
    return _JWT.sub(REDACTED, _TOKEN_PARAMETER.sub(rf"\g<1>{REDACTED}", text))


class RedactingStreamHandler(logging.StreamHandler[TextIO]):
    """A stream handler whose every formatted line is redacted: the last step before output,
    so no formatter, argument or traceback can slip a token past it."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str, log_format: str) -> None:
    handler = RedactingStreamHandler()
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                JSON_FIELDS,
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
