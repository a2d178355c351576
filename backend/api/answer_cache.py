"""Serialized answers of sweep reads (phase slices, cells, table pages), kept in memory.

A key is (route, sweep id, normalized query parameters, the sweep's data version): the version
(backend/store/sweep_version.py) changes with every write to any of the sweep's points, so an
entry is never stale, only unused; old entries leave by LRU order. Bounded by the total bytes of
the bodies and their gzips (RESPHASE_ANSWER_CACHE_MB, default 64; 0: off, routes serialize every answer).

A cached answer is the exact body FastAPI would send (the route's response model, validated
and dumped to JSON by the same pydantic TypeAdapter calls: `serialize`) with its ETag
(backend/api/caching.py `body_etag`); a request whose If-None-Match names it gets 304 here,
and `JsonETags` passes an answer that has its ETag through untouched. Thread-safe: FastAPI runs
the sync routes in a thread pool. The answer's gzip (what GZipMiddleware would send a client
asking for it) is kept beside it once one asked, so a cached answer costs no compression either.
Each API process has its own cache (keys come from the
database, so processes never disagree).
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import TypeAdapter
from starlette.responses import Response

from backend.api.caching import GZIP_LEVEL, GZIP_MIN_BYTES, NO_CACHE, body_etag, etag_matches

ENTRY_OVERHEAD = 256  # bytes counted per entry besides its body (key, dict slot, object headers)


@dataclass(frozen=True)
class Answer:
    body: bytes  # the JSON body
    etag: str  # W/"..." of body
    gzipped: bytes | None = None  # body gzipped at GZIP_LEVEL, once a client asked for it

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"") + ENTRY_OVERHEAD


class AnswerCache:
    """LRU of Answers bounded by total bytes (body + ENTRY_OVERHEAD each); max_bytes 0: off."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Answer] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Answer | None:
        with self._lock:
            answer = self._entries.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, key: Hashable, answer: Answer) -> None:
        if answer.size > self.max_bytes:
            return  # larger than the whole cache: never kept
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.size
            self._entries[key] = answer
            self.bytes += answer.size
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.size
                self.evictions += 1


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}  # one per response model (building one takes ms)


def _adapter(model: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


def serialize(model: type[Any], content: Any, exclude_unset: bool) -> bytes:
    """`content` as FastAPI sends it for response_model=model (fastapi/_compat: validate_python
    with from_attributes, then dump_json by alias)."""
    adapter = _adapter(model)
    return adapter.dump_json(adapter.validate_python(content, from_attributes=True), by_alias=True,
                             exclude_unset=exclude_unset)


def wants_gzip(request: Request, body: bytes) -> bool:
    """Whether GZipMiddleware would compress this answer (its own test of Accept-Encoding)."""
    return "gzip" in request.headers.get("accept-encoding", "") and len(body) >= GZIP_MIN_BYTES


def _respond(request: Request, answer: Answer) -> Response:
    """200 with the body (gzipped where GZipMiddleware would), or 304 when If-None-Match names its
    ETag: the headers JsonETags and GZipMiddleware send, which pass an answer with an ETag and a
    Content-Encoding through untouched."""
    headers = {"etag": answer.etag, "cache-control": NO_CACHE.decode()}
    if etag_matches(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    if answer.gzipped is not None and wants_gzip(request, answer.body):
        headers.update({"content-encoding": "gzip", "vary": "Accept-Encoding"})
        return Response(answer.gzipped, media_type="application/json", headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)


def cached_answer(request: Request, cache: AnswerCache, key: Callable[[], Hashable], compute: Callable[[], Any],
                  model: type[Any], exclude_unset: bool = False) -> Any:
    """The answer of a sweep read: from the cache when it holds `key()`, else `compute()`
    serialized and kept. `key` must read the sweep's data version before `compute` reads any
    data (see backend/store/sweep_version.py). Off: `compute()` as it is, for FastAPI to serialize."""
    if not cache.enabled:
        return compute()
    k = key()
    answer = cache.get(k)
    if answer is None:
        body = serialize(model, compute(), exclude_unset)
        answer = Answer(body, body_etag(body))
        cache.put(k, answer)
    if answer.gzipped is None and wants_gzip(request, answer.body) and \
            not etag_matches(request.headers.get("if-none-match"), answer.etag):
        answer = replace(answer, gzipped=gzip.compress(answer.body, compresslevel=GZIP_LEVEL, mtime=0))
        cache.put(k, answer)  # replaces the entry, its size now counts the gzip
    return _respond(request, answer)


async def get_answer_cache(request: Request) -> AnswerCache:
    cache: AnswerCache = request.app.state.answer_cache
    return cache


AnswerCacheDep = Annotated[AnswerCache, Depends(get_answer_cache)]
