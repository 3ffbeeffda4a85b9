"""The FastAPI application: `create_app` builds it; `emgis serve` runs it with uvicorn.

The app holds one SQLAlchemy engine (``app.state.engine``; ``pool_pre_ping`` lets it
survive a database restart: requests in flight fail with 503 + Retry-After, later ones
reconnect) and serves:

- ``/health`` (200 when the database answers with the schema this code needs, 503 when
  not), ``/openapi.json``, ``/docs``;
- the layers as OGC API – Features (api/features.py);
- incidents and live resource state, writes with a bearer token (api/live.py, api/auth.py);
- analyses: nearest resources with routes, service areas (api/analyses.py);
- the Leaflet files at ``/static/leaflet`` so map pages work with no internet.

Errors are mapped to HTTP answers in one place: api/errors.py.
"""

from __future__ import annotations

import contextlib
import logging

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from emgis.api.http import (
    alerts,
    analyses,
    coverage,
    dispatch,
    documents,
    drills,
    experts,
    features,
    field,
    live,
    pages,
    planning,
    plans,
    proposal,
    readiness,
    relief,
    sitrep,
    tiles,
    warning,
)
from emgis.api.http import batch as batch_api
from emgis.api.http.errors import RETRY_AFTER_S, install_handlers
from emgis.api.http.limits import BodyLimit
from emgis.layers.settings import ApiSettings, DatabaseSettings

log = logging.getLogger("emgis.api")

#: tables /health asks for: the schema's revision and the ones nearly every request reads
HEALTH_TABLES = ("alembic_version", "admin_units", "shelters", "incidents", "road_networks")


def create_app(settings: ApiSettings | None = None, *, engine: Engine | None = None,
               db_settings: DatabaseSettings | None = None, map_settings=None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings
        API settings (default: from ``EMGIS_API_*``).
    engine
        The database engine (schema already migrated). Without one, the engine is made
        from ``EMGIS_DATABASE_URL``; `emgis serve` passes the engine of `open_database`.
    db_settings
        Database settings; ``home`` is where compiled road graphs are rebuilt if missing.
    map_settings
        Base map and live-map refresh of the map pages (default from ``EMGIS_MAP_*``).
    """
    settings = settings or ApiSettings()
    db_settings = db_settings or DatabaseSettings()
    if engine is None:
        if not db_settings.database_url:
            raise ValueError("create_app needs an engine or EMGIS_DATABASE_URL; "
                             "`emgis serve` starts emgis's own database and passes its engine")
        from emgis.layers.db import make_engine

        engine = make_engine(db_settings.database_url)
    from emgis.api.http.changes import ChangeFeed, Memo

    feed = ChangeFeed(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.cache:
            await run_in_threadpool(feed.start)
        try:
            yield
        finally:
            await run_in_threadpool(feed.close)

    app = FastAPI(
        lifespan=lifespan,
        title="emgis",
        version="0.1.0",
        docs_url=None, redoc_url=None,  # served offline by api/http/docs.py
        description="County emergency-management GIS: layers as OGC API – Features (GeoJSON), "
                    "incidents and live resource state, routing analyses.",
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.home = db_settings.home
    app.state.graphs = analyses.GraphCache()
    app.state.results = analyses.ResultCache()
    from emgis.api.http.nearest_store import NearestStores

    app.state.nearest_stores = NearestStores(settings.nearest_k_max, settings.topk_mb << 20)
    app.state.changes = feed
    app.state.memo = Memo(feed)

    def forget_everything() -> None:  # another database under the same name (a restore)
        app.state.engine.dispose()
        app.state.graphs.clear()
        app.state.results.clear()
        app.state.memo.clear()
        app.state.nearest_stores.clear()

    feed.on_new_database(forget_everything)
    from emgis.layers.db import head_revision

    head = head_revision()
    from emgis.layers.settings import MapSettings

    app.state.map_settings = map_settings or MapSettings()
    from emgis.layers.settings import LoadSettings

    app.state.margin_km = LoadSettings().study_area_margin_km  # posted places (api/inputs.py)
    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=int(settings.max_body_mb * 1024 * 1024))
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.get("/health", tags=["service"], summary="Is the service and its database up?",
             responses={503: {"description": "the database is unreachable, or its schema is "
                                             "missing or not the one this code needs"}})
    def health(request: Request) -> JSONResponse:
        try:
            with request.app.state.engine.connect() as c:
                missing = c.execute(sa.text(
                    "SELECT array_agg(t) FILTER (WHERE to_regclass('public.' || t) IS NULL) "
                    "FROM unnest(CAST(:t AS text[])) t"), {"t": list(HEALTH_TABLES)}).scalar()
                revision = None if missing else c.execute(
                    sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("health: database unreachable: %s", str(exc).splitlines()[0])
            return JSONResponse({"status": "degraded", "db": "unreachable"}, status_code=503,
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        if missing:
            log.warning("health: schema missing (tables %s)", ", ".join(missing))
            return JSONResponse({"status": "degraded", "db": "schema missing",
                                 "detail": f"the database lacks emgis's tables "
                                           f"({', '.join(missing)}); restore a backup "
                                           f"(emgis db restore FILE) or create the schema "
                                           f"(emgis db upgrade)"}, status_code=503)
        if revision != head:
            return JSONResponse({"status": "degraded", "db": "schema out of date",
                                 "detail": f"the schema is at revision {revision}; this code "
                                           f"needs {head}: run emgis db upgrade"},
                                status_code=503)
        return JSONResponse({"status": "ok", "db": "ok", "kept": {
            "route_trees_bytes": request.app.state.graphs.trees_bytes(),
            "nearest_stores": request.app.state.nearest_stores.status()}})

    app.include_router(features.router)
    from emgis.api.http import features_edit  # OGC API Features Part 4 (writes)

    app.include_router(features_edit.router)
    from emgis.api.http import docs  # /docs and /redoc from vendored files

    docs.install(app)
    app.include_router(live.router)
    app.include_router(analyses.router)
    app.include_router(proposal.router)
    app.include_router(sitrep.router)
    app.include_router(documents.router)
    app.include_router(relief.router)
    app.include_router(warning.router)
    app.include_router(coverage.router)
    app.include_router(planning.router)
    app.include_router(tiles.router)
    app.include_router(dispatch.router)
    app.include_router(experts.router)
    app.include_router(readiness.router)
    app.include_router(batch_api.router)
    app.include_router(field.router)
    app.include_router(alerts.router)
    app.include_router(pages.router)
    app.include_router(plans.router)
    app.include_router(drills.router)
    pages.mount_saved(app, db_settings.home)
    try:
        from emgis.maps.assets import AssetsMissing

        pages.mount_assets(app)
    except AssetsMissing as exc:  # the API works without; map pages will not
        log.warning("map assets not served: %s", exc)
    return app
