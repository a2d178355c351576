"""create_app(settings): the API under /api/v1 and the page (frontend/) on the same origin.

The app never imports torch or the worker: it stores sweeps and sends task names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import __version__
from backend.api import analysis, claims, exports, health, meta, phase, points, sweeps
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
from backend.settings import Settings, get_settings
from backend.store import Database

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"
API_PREFIX = "/api/v1"


def plotly_js_path() -> Path:
    """Plotly.js as bundled in the installed plotly package: the page works offline."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (health, meta):  # always open: monitoring, and what the page needs to sign in
        router.include_router(module.router)
    for module in (sweeps, points, phase, exports, analysis, claims):  # RESPHASE_REQUIRE_TOKEN_FOR_READS
        router.include_router(module.router, dependencies=[Reader])
    return router


def create_app(settings: Settings | None = None, run_reaper: bool = True) -> FastAPI:
    settings = settings or get_settings()

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
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url="/docs", redoc_url=None,
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
    app.add_middleware(MethodNotAllowed, prefix=API_PREFIX)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, limit=settings.limits.max_body_bytes)
    app.include_router(api_router())

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    if FRONTEND_DIR.is_dir():
        app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")
    return app
