"""Settings, one class per concern, read from ``EMGIS_*`` environment variables.

The one place every ``EMGIS_`` variable is declared (the README's Configuration table lists the
same). Built once by the CLI or the app factory and passed down; analysis code never reads them.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Where the data lives.

    With ``EMGIS_DATABASE_URL`` unset, emgis runs its own PostgreSQL + PostGIS cluster
    under ``EMGIS_HOME`` (default: the user's data directory) and never needs a config file.
    """

    model_config = SettingsConfigDict(env_prefix="EMGIS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS database; unset = own cluster"
    )
    home: Path = Field(
        default_factory=lambda: Path(user_data_dir("emgis", appauthor=False)),
        description="emgis's own directory: the local cluster, compiled graphs, demo files",
    )


class LoadSettings(BaseSettings):
    """How loaders judge input."""

    model_config = SettingsConfigDict(env_prefix="EMGIS_", extra="ignore")

    norms_file: Path | None = Field(default=None,
                                    description="CSV of norm overrides (key,value,...)")
    study_area_margin_km: float = Field(
        default=30.0,
        description="points this far outside the study area still load (with a warning); beyond it "
                    "they are errors",
    )
    actor: str = Field(default="cli", description="name recorded in the audit log for CLI edits")


class ApiSettings(BaseSettings):
    """How the HTTP API is served (``EMGIS_API_*``)."""

    model_config = SettingsConfigDict(env_prefix="EMGIS_API_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="address `emgis serve` listens on")
    port: int = Field(default=8000, description="port `emgis serve` listens on")
    workers: int = Field(default=1, ge=1,
                         description="worker processes of `emgis serve` (up to one per core)")
    cors_origins: list[str] = Field(default_factory=list,
                                    description="origins allowed to call the API from a browser "
                                                "(CORS); empty = CORS off")
    network: str = Field(default="default",
                         description="road network the analyses route on by default")
    cache: bool = Field(default=True,
                        description="keep facilities, network versions and incident areas in "
                                    "memory, dropped when PostgreSQL notifies a change "
                                    "(api/changes.py); false = read the database on every request")
    route_trees_mb: int = Field(default=256, ge=0,
                                description="memory for stored shortest-path trees of facilities "
                                            "(nearest-resources answers without a search; 12 bytes "
                                            "per road node and facility); 0 = search on every "
                                            "request")
    nearest_k_max: int = Field(default=5, ge=1, le=50,
                               description="K of the bounded nearest-k stores (the K fastest "
                                           "facilities of every road node, with routes); "
                                           "nearest requests with k above it search")
    topk_mb: int = Field(default=512, ge=0,
                         description="memory for the bounded nearest-k stores, used where the "
                                     "facility trees do not fit EMGIS_API_ROUTE_TREES_MB (16 "
                                     "bytes x K per road node, per layer, direction and closed "
                                     "area); built in the background; 0 = search instead")
    max_body_mb: float = Field(default=5.0, gt=0, le=1024,
                               description="largest request body accepted (MB); larger ones are "
                                           "refused with 413 before they are read, token or not "
                                           "(5 MB: a GeoJSON outline of ~100k vertices)")


class ToolSettings(BaseSettings):
    """Where emgis finds the programs and files it did not install itself."""

    model_config = SettingsConfigDict(env_prefix="EMGIS_", extra="ignore")

    pg_bin: Path | None = Field(default=None,
                                description="directory of PostgreSQL's server programs; "
                                            "unset = the newest /usr/lib/postgresql/*/bin")
    leaflet_dir: Path | None = Field(default=None,
                                     description="where the map pages take Leaflet from; "
                                                 "unset = maps/static/leaflet, then Debian's")
    vendor_dir: Path | None = Field(default=None,
                                    description="where the live map's Leaflet plugins are; "
                                                "unset = maps/static/vendor")
    chromium: Path | None = Field(default=None,
                                  description="the browser that prints PDF reports; "
                                              "unset = chromium on PATH")


class MapSettings(BaseSettings):
    """How the served map pages look and refresh (``EMGIS_MAP_*``)."""

    model_config = SettingsConfigDict(env_prefix="EMGIS_MAP_", extra="ignore")

    tiles: str = Field(default="local",
                       description="base map: local (emgis's own vector tiles, offline) | osm | "
                                   "tianditu | none | a {z}/{x}/{y} URL template")
    tianditu_key: str = Field(default="", description="Tianditu key (with tiles=tianditu)")
    refresh_s: float = Field(default=5.0, gt=0.5, le=3600,
                             description="live map refresh interval, seconds")
