"""422 answers that can always be sent: FastAPI echoes the offending ``input`` in each error,
and an input of NaN or Infinity (which Python's JSON parser accepts, and 1e309 becomes) cannot
be written as JSON, so the default handler answered 500 instead of saying what was wrong."""

from __future__ import annotations

import math

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse


async def validation_error_answer(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 body, with non-finite numbers in it written as text ("NaN", ...)."""
    if not isinstance(exc, RequestValidationError):  # registered for it alone
        raise exc
    return JSONResponse(
        status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))}
    )


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value
