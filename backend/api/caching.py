"""Cache validation and compression of what the server sends (create_app installs them):

- `JsonETags`: every 200 JSON answer to a GET under the API gets a weak ETag of its body and
  `Cache-Control: no-cache` (use it, but ask first); a request whose If-None-Match names it gets
  304 with no body. A poll of a sweep that has not changed (a finished one above all) then costs
  no transfer. Streamed answers (exports) are passed through untouched.
- `PageFiles`: the page's static files (Starlette's ETag and Last-Modified, 304) with
  `Cache-Control: no-cache`, so a new version of the page is picked up at the next load.
- `gzipped_file`: a large file (Plotly's 4.8 MB bundle) compressed once, kept in memory, sent
  with Content-Encoding gzip to clients that accept it (GZipMiddleware leaves an encoded answer
  alone; it compresses the other large answers, JSON included, as they are sent).
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_CACHE = b"no-cache"
# Answers from this size up are gzipped as they are sent (JSON slices, exports, the page's files).
# Level 1: a 1.6 MB cells answer compresses in 14 ms to 380 KB (level 6: 58 ms, 306 KB), CPU a
# busy server spends on every request (a cached answer keeps its gzip: backend/api/answer_cache.py);
# Plotly's bundle is compressed once, at level 9.
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1


def body_etag(body: bytes) -> str:
    """The weak ETag of a JSON body (`JsonETags` adds it; backend/api/answer_cache.py keeps it
    with a cached body, so a 304 from the cache costs no hashing)."""
    return f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison: W/ prefixes ignored)."""
    if not if_none_match:
        return False
    bare = etag.removeprefix("W/")
    return any(tag.strip() in ("*", bare) or tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


class JsonETags:
    """Weak ETags and 304s on GET answers under `prefix` (see the module docstring)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        passing = False

        async def buffered(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
            elif message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                json = headers.get("content-type", "").startswith("application/json")
                if message["status"] != 200 or not json or "etag" in headers:
                    passing = True
                    await send(message)
                else:
                    start = message  # held until the body shows whether it is one piece
            elif message["type"] == "http.response.body" and start is not None:
                if message.get("more_body", False):  # streamed: no ETag, send as it comes
                    passing = True
                    await send(start)
                    await send(message)
                    return
                await self._finish(start, message.get("body", b""), if_none_match, send)

        await self.app(scope, receive, buffered)

    @staticmethod
    async def _finish(start: Message, body: bytes, if_none_match: str | None, send: Send) -> None:
        etag = body_etag(body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"cache-control"]
        headers += [(b"etag", etag.encode()), (b"cache-control", NO_CACHE)]
        if etag_matches(if_none_match, etag):
            kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class PageFiles(StaticFiles):
    """StaticFiles (ETag, Last-Modified, 304 on If-None-Match) with Cache-Control: no-cache."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("cache-control", "no-cache")
        return response


@lru_cache(maxsize=4)
def _compressed(path: Path, mtime_ns: int) -> tuple[bytes, bytes, str]:
    """(the file, its gzip, its ETag) for this version of the file (mtime in the cache key)."""
    raw = path.read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0), f'"{hashlib.blake2b(raw, digest_size=16).hexdigest()}"'


def gzipped_file(request: Request, path: Path, media_type: str, cache_control: str) -> Response:
    """`path` gzipped (once per version of the file) where the client accepts gzip, else as is;
    with an ETag, 304 when If-None-Match names it, and Vary: Accept-Encoding."""
    raw, packed, etag = _compressed(path, path.stat().st_mtime_ns)
    headers = {"etag": etag, "cache-control": cache_control, "vary": "Accept-Encoding"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(packed, media_type=media_type, headers={**headers, "content-encoding": "gzip"})
    return Response(raw, media_type=media_type, headers=headers)
