"""Population rasters (WorldPop, GHSL-POP, LandScan-like GeoTIFFs): read and write.

``read_population_raster`` reads band 1 of a GeoTIFF into a :class:`PopRaster`: counts as
float64 with nodata cells set to 0 and flagged in ``mask``; every problem with the file
(not a raster, no CRS, negative counts) is reported together in one
:class:`~layers.problems.InputError`. ``write_raster`` writes one back as a GeoTIFF.

What is done with the counts (sums by unit, dasymetric rescaling to census totals) is
analysis and lives in ``emgis.shelters.population``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from emgis.layers.problems import Problems

__all__ = ["DEFAULT_NODATA", "PopRaster", "read_population_raster", "write_raster"]

#: nodata value written when a raster without one has cells to hide (the WorldPop convention)
DEFAULT_NODATA = -99999.0


@dataclass
class PopRaster:
    """A population count grid.

    Attributes
    ----------
    data
        float64 array (rows, cols) of persons per cell; nodata cells hold 0.
    mask
        bool array, True where the cell has data (False where the file said nodata / NaN).
    transform
        The affine transform (``affine.Affine``) from (col, row) to the CRS coordinates of
        the cell's upper-left corner.
    crs
        pyproj.CRS of the grid.
    nodata
        The file's nodata value (None if it had none); used again by `write_raster`.
    notes
        What was read and done, in words for the user (band used, cells rescaled ...).
    source
        File name or a description, for messages.
    """

    data: np.ndarray
    mask: np.ndarray
    transform: Any
    crs: CRS
    nodata: float | None = None
    notes: list[str] = field(default_factory=list)
    source: str = "raster"

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape  # type: ignore[return-value]

    @property
    def total(self) -> float:
        """Sum of all cells (nodata cells count 0)."""
        return float(self.data.sum())

    def cell_centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the CRS coordinates of the centres of cells (rows, cols), vectorised."""
        t = self.transform
        c = np.asarray(cols, dtype=float) + 0.5
        r = np.asarray(rows, dtype=float) + 0.5
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f


# --- reading and writing --------------------------------------------------------------------------

def read_population_raster(path: str | Path) -> PopRaster:
    """Read a population GeoTIFF (or any GDAL raster) into a :class:`PopRaster`.

    Band 1 is read; nodata cells (the file's nodata value, an internal mask, or NaN) become
    0 with ``mask`` False.

    Raises
    ------
    layers.problems.InputError
        Listing every problem: the file is missing or not a raster, has no CRS, has no
        georeferencing, or has negative counts.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    p = Problems(str(path), row_label="raster row")
    if not path.exists():
        p.error(None, None, None, "does not exist", "check the path of the population raster")
        p.raise_if_errors()
    notes: list[str] = []
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                count = src.count
                band = src.read(1, masked=True)
                crs_raw = src.crs
                transform = src.transform
                nodata = src.nodata
                dtype = src.dtypes[0]
                width, height = src.width, src.height
                driver = src.driver
        not_georef = any(issubclass(w.category, NotGeoreferencedWarning) for w in caught)
        for w in caught:  # pass on anything else
            if not issubclass(w.category, NotGeoreferencedWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except RasterioIOError as exc:
        p.error(None, None, None, f"is not a raster GDAL can read ({str(exc).strip()[:160]})",
                "give a GeoTIFF of population counts (e.g. WorldPop *_ppp_*.tif or GHSL GHS_POP); "
                "a vector layer or a table is not a population raster")
        p.raise_if_errors()
        raise AssertionError("unreachable") from exc

    if count > 1:
        notes.append(f"{path.name} has {count} bands; band 1 was used as the population counts "
                     "(the others were ignored)")
    if crs_raw is None:
        p.error(None, "crs", None, "has no coordinate reference system",
                "assign the CRS the grid is in (e.g. `gdal_edit.py -a_srs EPSG:4326 file.tif`; "
                "WorldPop grids are EPSG:4326, GHSL grids ESRI:54009 Mollweide)")
        crs = None
    else:
        crs = CRS.from_wkt(crs_raw.to_wkt())
    if not_georef or transform.is_identity:
        p.error(None, "transform", None, "has no georeferencing (no geotransform)",
                "use the original GeoTIFF with its geotransform, or set it with "
                "gdal_translate -a_ullr")
    if not (transform.b == 0 and transform.d == 0):
        notes.append(f"{path.name} has a rotated grid; cells are used by their centres")

    data = np.asarray(band.filled(0), dtype=np.float64)
    valid = ~np.ma.getmaskarray(band) & np.isfinite(data)
    nan_cells = int((~np.isfinite(data) & ~np.ma.getmaskarray(band)).sum())
    if nan_cells:
        notes.append(f"{nan_cells} cell(s) are NaN/infinite; they were treated as nodata")
    data[~valid] = 0.0
    neg = valid & (data < 0)
    n_neg = int(neg.sum())
    if n_neg:
        rows, cols = np.nonzero(neg)
        r, c = int(rows[0]), int(cols[0])
        p.error(r + 1, f"band 1, column {c + 1}", float(data[r, c]),
                f"is a negative population count ({n_neg} negative cell(s), smallest "
                f"{float(data[neg].min()):g}); the nodata value is {nodata!r}",
                "if these cells mean 'no data', set the raster's nodata to that value "
                f"(gdal_edit.py -a_nodata {float(data[neg].min()):g}); otherwise correct the "
                "counts")
    p.raise_if_errors()
    notes.append(f"read {path.name} ({driver}, {width}x{height} {dtype}, band 1): "
                 f"{int(valid.sum())} cells with data, {int((~valid).sum())} nodata, "
                 f"total {data.sum():,.1f} persons")
    return PopRaster(data=data, mask=valid, transform=transform, crs=crs, nodata=nodata,
                     notes=notes, source=str(path))


def write_raster(path: str | Path, raster: PopRaster, *, compress: str = "deflate") -> Path:
    """Write a :class:`PopRaster` as a single-band float64 GeoTIFF.

    Cells with ``mask`` False are written as the raster's nodata value (``DEFAULT_NODATA``
    when it has none).
    """
    import rasterio
    from rasterio.crs import CRS as RioCRS

    path = Path(path)
    nodata = DEFAULT_NODATA if raster.nodata is None else float(raster.nodata)
    out = np.where(raster.mask, raster.data, nodata).astype(np.float64)
    h, w = raster.shape
    profile = {
        "driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": "float64",
        "crs": RioCRS.from_wkt(raster.crs.to_wkt()) if raster.crs is not None else None,
        "transform": raster.transform, "nodata": nodata, "compress": compress,
    }
    if h >= 256 and w >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(out, 1)
    return path
