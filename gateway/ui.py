"""The web dashboard and the API docs, served as static files; no logic, no data shaping.

- `GET /` is the dashboard's page; its scripts, styles and the vendored libraries are under
  `/ui/`. The browser reads everything through the public REST API (and `GET /ws/events`).
- `GET /docs` (Swagger UI) and `GET /redoc` use vendored copies of their assets, so they render
  with no request leaving the origin (FastAPI's defaults load them from a CDN).

Every response here says `X-Content-Type-Options: nosniff` and carries a Content-Security-Policy:
the dashboard's is strict (`default-src 'self'`, no inline script or style); the docs pages also
allow inline styles, data: images and blob: workers, which Swagger UI and ReDoc need. The page
and the app's own files are revalidated on every load (`no-cache`, with ETag); vendored files
sit under a versioned folder and never change, so they are cached for a year.
"""

from __future__ import annotations

import pathlib

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

WEB_DIR = pathlib.Path(__file__).parent / "web"
PREFIX = "/ui"

DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
REVALIDATE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"


def _headers(csp: str, cache: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache,
    }


class _Assets(StaticFiles):
    """StaticFiles plus the security and cache headers above."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        cache = IMMUTABLE if f"{PREFIX}/vendor/" in path else REVALIDATE
        csp = DOCS_CSP if f"{PREFIX}/docs/" in path else DASHBOARD_CSP
        extra = [(k.lower().encode(), v.encode()) for k, v in _headers(csp, cache).items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def _page(name: str, csp: str) -> FileResponse:
    return FileResponse(WEB_DIR / name, media_type="text/html", headers=_headers(csp, REVALIDATE))


def mount(app: FastAPI) -> None:
    """Serve the dashboard at `/` (assets under /ui/) and the offline docs at /docs, /redoc.
    The app must be created with docs_url=None and redoc_url=None."""

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def dashboard() -> FileResponse:
        return _page("index.html", DASHBOARD_CSP)

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    async def swagger_ui() -> FileResponse:
        return _page("docs.html", DOCS_CSP)

    @app.api_route("/redoc", methods=["GET", "HEAD"], include_in_schema=False)
    async def redoc() -> FileResponse:
        return _page("redoc.html", DOCS_CSP)

    app.mount(PREFIX, _Assets(directory=WEB_DIR), name="ui")
