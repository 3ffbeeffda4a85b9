"""The API documentation pages, offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

FastAPI's own pages load Swagger UI / ReDoc (and a favicon, and Google fonts) from CDNs, so
on a county intranet ``/docs`` was blank. Here the same pages load the files of the npm
packages ``swagger-ui-dist`` and ``redoc``, pinned by sha512 and vendored like the map
plugins (maps/vendor.py; scripts/bootstrap.sh fetches them once), served by the app itself.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from emgis.api.http.errors import NotFound

#: the files the pages load: URL name -> path under the vendor directory
ASSETS = {
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
}
PREFIX = "/docs-assets"
#: a blank icon, so the browser does not ask a CDN (or the server) for one
_ICON = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="

router = APIRouter(include_in_schema=False)


#: what the vendored ReDoc would fetch from a CDN (its "powered by" logo), served blank instead
_CDN_IN_REDOC = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@router.get(PREFIX + "/{name}")
def asset(name: str) -> Response:
    from emgis.maps.vendor import VendorMissing, vendor_dir

    rel = ASSETS.get(name)
    path = vendor_dir() / rel if rel else None
    if path is None or not path.is_file():
        if rel:
            raise NotFound(str(VendorMissing(
                f"{rel} is not in {vendor_dir()}: run `.venv/bin/python -m emgis.maps.vendor` "
                "(or scripts/bootstrap.sh)")))
        raise NotFound(f"no documentation asset {name!r}")
    media = "text/css" if name.endswith(".css") else "text/javascript"
    if name.startswith("redoc"):
        text = path.read_text(encoding="utf-8").replace(_CDN_IN_REDOC, _ICON)
        return Response(text, media_type=media)
    return FileResponse(path, media_type=media)


def install(app: FastAPI) -> None:
    """Serve /docs and /redoc from the vendored files (create the app with docs_url=None,
    redoc_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} – API",
                                   swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=_ICON,
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} – API",
                              redoc_js_url=f"{PREFIX}/redoc.standalone.js",
                              redoc_favicon_url=_ICON, with_google_fonts=False)

    app.include_router(router)
