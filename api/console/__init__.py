"""The web console at /console: a few static files (no build step, shipped in the package) over the public API.

The page holds no data: every view calls the same REST routes any client calls, with the credential the
person typed in, kept in the tab's `sessionStorage` (gone with the tab, never in a URL). The strict
Content-Security-Policy allows only the console's own scripts and styles, and every text from the API is
put in the page as text, never as markup.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(str(files("api.console") / "static"))
ASSETS = {path.name: path for path in STATIC.iterdir() if path.suffix in {".js", ".css", ".svg"}}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/console", status_code=307)


@router.get("/console")
async def page() -> FileResponse:
    headers = SECURITY_HEADERS | {"Cache-Control": "no-cache"}  # the page names the assets: always revalidate
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=headers)


@router.get("/console/assets/{name}")
async def asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(404, f"the console has no asset {name!r}")
    headers = SECURITY_HEADERS | {"Cache-Control": "no-cache"}  # served with an ETag: a reload costs a 304
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=headers)


def install(app: FastAPI) -> None:
    """Serve the console (and send `/` to it)."""
    app.include_router(router)
