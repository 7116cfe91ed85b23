"""The web console at /console: a few static files (no build step, shipped in the package) over the public API.

The page holds no data: every view calls the same REST routes any client calls, with the credential the
person typed in, kept in the tab's `sessionStorage` (gone with the tab, never in a URL). The strict
Content-Security-Policy allows only the console's own scripts and styles, and every text from the API is
put in the page as text, never as markup.

Assets are served under a digest of their contents (`/console/assets/<digest>/app.js`), so a browser keeps
them for good and a new release is a new address; only the small page itself is asked for again each time.
"""

from __future__ import annotations

import gzip
import hashlib
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

STATIC = Path(str(files("api.console") / "static"))
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
ASSETS = {path.name: path.read_bytes() for path in sorted(STATIC.iterdir()) if path.suffix in MEDIA_TYPES}
DIGEST = hashlib.sha256(b"".join(ASSETS.values())).hexdigest()[:16]
ZIPPED = {name: gzip.compress(body, mtime=0) for name, body in ASSETS.items()}
PAGE = (STATIC / "index.html").read_text().replace("/console/assets/", f"/console/assets/{DIGEST}/").encode()
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


@router.api_route("/console", methods=["GET", "HEAD"])
async def page() -> Response:
    headers = SECURITY_HEADERS | {"Cache-Control": "no-cache"}  # it names the assets of this release
    return Response(PAGE, media_type="text/html; charset=utf-8", headers=headers)


@router.api_route("/console/assets/{digest}/{name}", methods=["GET", "HEAD"])
async def asset(digest: str, name: str, request: Request) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"the console has no asset {name!r}")
    # another release's address (a page open across an upgrade) gets today's file, but not for keeps
    cache = "public, max-age=31536000, immutable" if digest == DIGEST else "no-cache"
    headers = SECURITY_HEADERS | {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    body = ASSETS[name]
    if "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = ZIPPED[name], "gzip"
    return Response(body, media_type=MEDIA_TYPES[Path(name).suffix], headers=headers)


def install(app: FastAPI) -> None:
    """Serve the console (and send `/` to it)."""
    app.include_router(router)
