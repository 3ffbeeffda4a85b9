"""Settings, one class per concern, read from ``EMGIS_*`` environment variables.

Built once by the CLI or the app factory and passed down; analysis code never reads them.
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
        default=None, description="SQLAlchemy URL of an existing PostGIS database; unset = own cluster"
    )
    home: Path = Field(
        default_factory=lambda: Path(user_data_dir("emgis", appauthor=False)),
        description="emgis's own directory: the local cluster, compiled graphs, demo files",
    )


class LoadSettings(BaseSettings):
    """How loaders judge input."""

    model_config = SettingsConfigDict(env_prefix="EMGIS_", extra="ignore")

    norms_file: Path | None = Field(default=None, description="CSV of norm overrides (key,value,...)")
    study_area_margin_km: float = Field(
        default=30.0,
        description="points this far outside the study area still load (with a warning); beyond it they are errors",
    )
    actor: str = Field(default="cli", description="name recorded in the audit log for CLI edits")
