"""Request-size limit (413) and the page's security headers, as plain ASGI middleware."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
# ReDoc (/redoc) runs its search index in a worker it builds from a blob of its own (same-origin) code;
# only that document may start such a worker. The other directives stay as strict as the page's.
CSP_BY_PATH = {"/redoc": CSP + "; worker-src blob:"}


def _too_large(size: int | None, limit: int) -> str:
    if size is None:
        return f"request body is over max_body_bytes={limit}"
    return f"request body is {size} bytes, over max_body_bytes={limit}"


async def _reply_413(send: Send, size: int, limit: int) -> None:
    body = json.dumps({"detail": _too_large(size, limit)}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuses bodies over `limit` bytes: by Content-Length up front, or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _reply_413(send, int(length), self.limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            # A streamed body without Content-Length: count as it arrives. FastAPI turns the
            # HTTPException raised while it reads the body into the 413 response.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, _too_large(None, self.limit))
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeaders:
    """CSP and friends on every response: the page, the API and the API docs (/docs, /redoc load
    their bundles from this origin, without inline scripts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        csp = CSP_BY_PATH.get(str(scope.get("path", "")), CSP)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra: list[Any] = [(b"content-security-policy", csp.encode()),
                                    (b"x-content-type-options", b"nosniff"),
                                    (b"referrer-policy", b"same-origin")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
