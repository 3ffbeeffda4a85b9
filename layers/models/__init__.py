"""The data model. The schema changes only through Alembic migrations (layers/migrations).

Geometries are stored in EPSG:4326 with GiST indexes; each loaded row keeps the id of the
load that brought it, and ``loads`` records the file, its checksum and its source CRS.
Class and level columns hold the stable keys of ``layers.vocab``, enforced by CHECK
constraints generated from the same vocabularies.

The models live in three modules — ``base`` (the declarative base and shared helpers),
``core`` (the county's data, 0001–0006) and ``command`` (dispatch, plans, experts, batch, field
reports, 0007–0012); every name is re-exported here, so ``models.Shelter`` and
``models.Base.metadata`` hold every table.
"""

from emgis.layers.models.base import CODE, SRID, Base, _check, _point  # noqa: F401
from emgis.layers.models.command import *  # noqa: F403
from emgis.layers.models.core import *  # noqa: F403
from emgis.layers.models.core import AUDITED_TABLES  # noqa: F401
