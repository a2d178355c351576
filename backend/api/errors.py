"""Error responses that survive what they report, and database outages as JSON 503s.

A NaN, an Infinity or a lone surrogate in a request body would make FastAPI's default handler
fail to encode its own error (a 500): non-finite inputs become strings, surrogates escapes."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):  # a lone surrogate echoed back would not encode as UTF-8
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = _finite(jsonable_encoder(exc.errors(), custom_encoder={float: lambda f: f}))
    return JSONResponse(status_code=422, content={"detail": detail})


async def database_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """The database is down, frozen or out of connections: a JSON 503 with the reason, not a
    plain-text 500 (the request may be retried)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = lines[0][:300] if lines else type(exc).__name__
    return JSONResponse(status_code=503, content={"detail": f"database unavailable: {reason}"},
                        headers={"Retry-After": "5"})
