"""/docs (Swagger UI) and /redoc (ReDoc) from installed files: no CDN, and no inline script, so both
pages run under the same content security policy as the page (backend/api/security.py).

The UI bundles come from the fastapi-offline package's static folder; the one script Swagger UI needs
to start (static/swagger-init.js) is ours. Both are served under ASSETS_URL. ReDoc's bundle hard-codes
one remote image (its vendor's logo in the menu footer, shown unconditionally); it is served with that
URL pointed at the local favicon, so the page asks nothing of any other host.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/vendor/apidocs"
# (package, folder) pairs StaticFiles searches in order; what each page loads from them.
ASSET_PACKAGES = [("backend.apidocs", "static"), ("fastapi_offline", "static")]
ASSET_FILES = ("swagger-init.js", "swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
REDOC_REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


def missing_assets() -> list[str]:
    """Asset names not found in any of ASSET_PACKAGES (empty when the docs can be served)."""
    found: set[str] = set()
    for package, folder in ASSET_PACKAGES:
        try:
            base = resources.files(package) / folder
        except ModuleNotFoundError:
            continue
        found |= {name for name in ASSET_FILES if (base / name).is_file()}
    return [name for name in ASSET_FILES if name not in found]


@cache
def _redoc_bundle() -> bytes:
    """redoc.standalone.js (1 MB, read once) with its one remote image URL made local."""
    js = (resources.files("fastapi_offline") / "static" / "redoc.standalone.js").read_bytes()
    return js.replace(REDOC_REMOTE_LOGO, f"{ASSETS_URL}/favicon.png".encode())


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" href="{ASSETS_URL}/favicon.png">
{head}
</head>
<body>
<noscript>These API docs need JavaScript; the same description is at the OpenAPI URL.</noscript>
{body}
</body>
</html>
""")


def add_docs(app: FastAPI, openapi_url: str) -> None:
    """Routes /docs and /redoc and the asset mount; call before any catch-all mount at "/"."""
    title = app.title
    spec = escape(openapi_url, quote=True)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        # swagger-init.js reads the spec URL from data-openapi-url (no inline script under the CSP).
        return _page(f"{title} - Swagger UI",
                     f'<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">',
                     f'<div id="swagger-ui" data-openapi-url="{spec}"></div>\n'
                     f'<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>\n'
                     f'<script src="{ASSETS_URL}/swagger-init.js"></script>')

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        # ReDoc starts by itself on the <redoc> element; no Google Fonts (offline, CSP).
        return _page(f"{title} - ReDoc", "",
                     f'<redoc spec-url="{spec}"></redoc>\n<script src="{ASSETS_URL}/redoc.standalone.js"></script>')

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    def redoc_bundle() -> Response:  # registered before the mount below, so it answers this one file
        return Response(_redoc_bundle(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS_URL, StaticFiles(packages=list(ASSET_PACKAGES)), name="apidocs")
