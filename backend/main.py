"""create_app(settings): the API under /api/v1, the page (frontend/) and the API docs on one origin.

The app never imports torch or the worker: it stores sweeps and sends task names. Every file it
serves comes from an installed package: the page from backend/frontend/ (package data; frontend/ at
the top of a source tree), Plotly.js from plotly, the docs' bundles from fastapi-offline. Without
them create_app raises MissingPageAssets (one line) instead of serving 404s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from backend import __version__, apidocs
from backend.api import analysis, claims, exports, health, meta, phase, points, sweeps, table
from backend.api.answer_cache import AnswerCache
from backend.api.caching import GZIP_LEVEL, GZIP_MIN_BYTES, JsonETags, PageFiles, gzipped_file
from backend.api.deps import Reader
from backend.api.errors import (
    MethodNotAllowed,
    database_error_handler,
    http_error_handler,
    server_error_handler,
    validation_error_handler,
)
from backend.api.security import BodySizeLimit, SecurityHeaders
from backend.queue import TaskQueue
from backend.reaper import ReaperThread
from backend.settings import Settings, UnsafeConfig, get_settings
from backend.store import Database

API_PREFIX = "/api/v1"
# What the page cannot start without (relative to its folder).
PAGE_FILES = ("index.html", "css/style.css", "js/main.js")


class MissingPageAssets(UnsafeConfig):
    """Files the server must serve are not installed; str() is the one line to print."""


def frontend_dir() -> Path | None:
    """The page's folder: backend/frontend/ in an installed wheel (package data), else frontend/
    beside backend/ (a source checkout, an editable install); None when neither has index.html."""
    installed = resources.files("backend") / "frontend"
    source = Path(__file__).resolve().parent.parent / "frontend"
    for candidate in (installed, source):
        if isinstance(candidate, Path) and all((candidate / name).is_file() for name in PAGE_FILES):
            return candidate
    return None


def plotly_js_path() -> Path:
    """Plotly.js as bundled in the installed plotly package: the page works offline."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def check_assets() -> Path:
    """The page's folder, after checking every served file is installed; else MissingPageAssets."""
    page = frontend_dir()
    missing = [] if page is not None else [f"backend/frontend/{name}" for name in PAGE_FILES]
    if not plotly_js_path().is_file():
        missing.append("plotly/package_data/plotly.min.js")
    missing += [f"API docs asset {name}" for name in apidocs.missing_assets()]
    if missing or page is None:
        raise MissingPageAssets(f"this resphase installation lacks {', '.join(missing)}; "
                                "reinstall it (pip install --force-reinstall resphase) or run from a source checkout")
    return page


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (health, meta):  # always open: monitoring, and what the page needs to sign in
        router.include_router(module.router)
    for module in (sweeps, points, table, phase, exports, analysis, claims):  # RESPHASE_REQUIRE_TOKEN_FOR_READS
        router.include_router(module.router, dependencies=[Reader])
    return router


def create_app(settings: Settings | None = None, run_reaper: bool = True) -> FastAPI:
    settings = settings or get_settings()
    page = check_assets()  # before anything connects: refuse to start rather than serve 404s

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reaper = ReaperThread(app.state.db, app.state.queue, settings) if run_reaper else None
        if reaper is not None:
            reaper.start()
        yield
        if reaper is not None:
            reaper.stop()
        app.state.db.dispose()

    app = FastAPI(title="resphase", version=__version__, lifespan=lifespan,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None,
                  description="Phase diagrams of deep ResNets: sweeps, results, slices, fits. See docs/api.md.")
    # Every error is JSON {"detail": ...} (backend/api/errors.py documents the shapes).
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, server_error_handler)
    for error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(error, database_error_handler)
    app.state.settings = settings
    app.state.db = Database.connect(settings.resolved_database_url)
    app.state.queue = TaskQueue(settings)
    app.state.answer_cache = AnswerCache(int(settings.answer_cache_mb * 1024**2))  # backend/api/answer_cache.py
    app.add_middleware(JsonETags, prefix=API_PREFIX)  # ETag of each JSON body, 304 (backend/api/caching.py)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(MethodNotAllowed, prefix=API_PREFIX)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, limit=settings.limits.max_body_bytes)
    app.include_router(api_router())

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js(request: Request) -> Response:  # 4.8 MB, about 1.4 MB gzipped once (not per request)
        return gzipped_file(request, plotly_js_path(), "text/javascript", "public, max-age=86400")

    apidocs.add_docs(app, f"{API_PREFIX}/openapi.json")  # /docs, /redoc: offline, under the CSP
    app.mount("/", PageFiles(directory=page, html=True), name="frontend")
    return app
