"""Error responses: their documented shapes, handlers that survive what they report, database
outages as JSON 503s, and 405s that name the methods a path really has.

Every error is JSON `{"detail": ...}`. `detail` is a string, except on a 422, where it is a list
of issues ({loc, msg, type, ...}: schema errors and limit violations) or a string for a rule that
spans parameters ("x and y must differ"): `ValidationErrorBody`, documented on every route.

A NaN, an Infinity or a lone surrogate in a request would make FastAPI's default handlers fail
to encode their own error (a 500): non-finite inputs become strings, surrogates escapes."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.designs import DESIGN_TAGS
from backend.refine_spec import REFINE_TAGS

# Union tags pydantic puts in a loc after these fields: not fields, so they are taken out.
_UNION_TAGS: dict[str, tuple[str, ...]] = {"grid": DESIGN_TAGS, "refine": REFINE_TAGS}


class ErrorBody(BaseModel):
    """Every error other than a 422."""

    detail: str


class ValidationIssue(BaseModel):
    """One problem with a request: where (`loc`, e.g. ["body", "grid", "alpha"] or ["query", "n_boot"]),
    what (`msg`) and its kind (`type`). A schema error adds `input` and `ctx`; a limit violation
    (`type` "limit") adds `limit` (the name of the limit, as in GET /meta limits), `limit_value`
    and `value`."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A 422: a list of issues, or one sentence for a rule that spans parameters or needs the data
    (an unknown metric, x equal to y, a value not on the sweep's axis, a formula that does not parse)."""

    detail: list[ValidationIssue] | str


_RETRY_AFTER = {"Retry-After": {"description": "seconds after which to try again", "schema": {"type": "integer"}}}
_DOCS: dict[int, dict[str, Any]] = {
    400: {"description": "The body could not be read (not UTF-8, or not parseable as its content type)"},
    401: {"description": "Missing or wrong bearer token: writes need one once a token is configured, reads too "
                         "with RESPHASE_REQUIRE_TOKEN_FOR_READS",
          "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}},
    403: {"description": "Only the sweep's owner or an admin may do this"},
    404: {"description": "No such sweep or point (ids are 1 to 2**31-1)"},
    413: {"description": "The body is over max_body_bytes (GET /meta limits)"},
    422: {"description": "Invalid request: schema errors and limit violations (a list), or a rule that spans "
                         "parameters (a string)", "model": ValidationErrorBody},
    429: {"description": "Over costly_requests_per_minute for this caller", "headers": _RETRY_AFTER},
    503: {"description": "The database is unavailable (down, frozen or out of connections); retry",
          "headers": _RETRY_AFTER},
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` documentation of these error statuses, for a route or a router."""
    return {code: {"model": ErrorBody, **_DOCS[code]} for code in codes}


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


def _without_union_tag(error: dict[str, Any]) -> dict[str, Any]:
    """["body", "grid", <design tag>, "alpha", ...] -> ["body", "grid", "alpha", ...], and the same
    for "refine": a union's tag is pydantic's bookkeeping, not a field; clients (the form) map locs
    to fields."""
    loc = list(error.get("loc", ()))
    if len(loc) >= 3 and loc[0] == "body" and loc[2] in _UNION_TAGS.get(str(loc[1]), ()):
        return {**error, "loc": loc[:2] + loc[3:]}
    return error


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_without_union_tag(e) for e in exc.errors()]
    detail = _finite(jsonable_encoder(errors, custom_encoder={float: lambda f: f}))
    return JSONResponse(status_code=422, content={"detail": detail})


async def http_error_handler(_request: Request, exc: Exception) -> Response:
    """FastAPI's handler for HTTPException, except that a detail echoing a NaN or a surrogate
    still encodes."""
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"detail": _finite(exc.detail)}, status_code=exc.status_code, headers=headers)


async def server_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a bug is still a JSON error (the traceback goes to the log, as before)."""
    return JSONResponse(status_code=500, content={"detail": f"internal server error ({type(exc).__name__})"})


async def database_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """The database is down, frozen or out of connections: a JSON 503 with the reason, not a
    plain-text 500 (the request may be retried)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = lines[0][:300] if lines else type(exc).__name__
    return JSONResponse(status_code=503, content={"detail": f"database unavailable: {reason}"},
                        headers={"Retry-After": "5"})


class MethodNotAllowed:
    """A request under `prefix` for a path the API documents, with a method none of its operations
    takes (OPTIONS included: the API has no CORS, the page is same-origin), gets 405 with an Allow
    header listing that path's methods. Without this the page's static files, mounted at "/",
    answered for it (405 with `Allow: GET, HEAD`, whatever the path supports).

    The table comes from the app's OpenAPI paths (plus the schema's own GET, HEAD), so it lists
    exactly the documented methods. Where a literal path and a template both match, the literal one
    decides, as in OpenAPI: GET /sweeps/validate is a 405 (Allow: POST), not GET /sweeps/{sweep_id}
    with sweep_id "validate"."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix.rstrip("/") + "/"
        self._table: list[tuple[re.Pattern[str], int, frozenset[str]]] | None = None

    def _build(self, app: Any) -> list[tuple[re.Pattern[str], int, frozenset[str]]]:
        table = []
        paths = {path: {m.upper() for m in item} for path, item in app.openapi().get("paths", {}).items()}
        if app.openapi_url:
            paths.setdefault(app.openapi_url, set()).update({"GET", "HEAD"})
        for path, methods in paths.items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
            table.append((re.compile(f"^{pattern}$"), path.count("{"), frozenset(methods)))
        return table

    def allowed(self, app: Any, path: str, method: str) -> list[str] | None:
        """None when the method is routed (or the path unknown), else the methods to list."""
        if self._table is None:
            self._table = self._build(app)
        matches = [(params, methods) for pattern, params, methods in self._table if pattern.match(path)]
        if not matches:
            return None
        fewest = min(params for params, _ in matches)
        methods = set().union(*(methods for params, methods in matches if params == fewest))
        return None if method in methods else sorted(methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path.startswith(self.prefix):
            allowed = self.allowed(scope["app"], path, scope["method"])
            if allowed:
                body = json.dumps({"detail": f"method {scope['method']} not allowed; this path takes "
                                             f"{', '.join(allowed)}"}).encode()
                await send({"type": "http.response.start", "status": 405,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"allow", ", ".join(allowed).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
