"""Log lines lose their tokens, whatever part of a record carries them."""

from __future__ import annotations

import io
import logging

from cloud.logs import RedactingStreamHandler, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIyIn0.c2lnbmF0dXJlLV8"


def test_token_parameters_and_jwts_are_masked() -> None:
    assert redact(f'"WebSocket /ws/2?token={JWT}" [accepted]') == (
        '"WebSocket /ws/2?token=[redacted]" [accepted]'
    )
    assert redact("/x?a=1&access_token=abc&b=2") == "/x?a=1&access_token=[redacted]&b=2"
    assert redact("refresh_token=opaque-value done") == "refresh_token=[redacted] done"
    assert redact(f"bare {JWT} in text") == "bare [redacted] in text"
    assert redact("GET /alerts?limit=5 200") == "GET /alerts?limit=5 200"


def test_the_handler_masks_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = RedactingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.unit.test_log_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("path %s", f"/ws/1?token={JWT}")
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "/ws/1?token=[redacted]" in output
    assert "ValueError: bad token [redacted]" in output
    assert "eyJ" not in output
