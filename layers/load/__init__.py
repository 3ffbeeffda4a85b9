"""Bring a user's files into the database, and take layers out again.

The ingest tier: it reads what a bureau hands over (any format, encoding and coordinate
system), checks all of it, and writes it in one transaction or not at all. It sits above
``emgis.risk`` (risk points are scored as they load) and ``emgis.geo`` (coordinate
systems, polygon repair), and below the analyses in ``emgis.shelters``:

* :mod:`.readers` — any file into a frame, rows numbered as the user sees them
* :mod:`.loaders` — layers: map headers, check values and geometries, convert the CRS, COPY
* :mod:`.codes` — official statistical division code lists
* :mod:`.census` — census tables: read, find the header, check, write
* :mod:`.rasters` — population rasters in and out (GeoTIFF)
* :mod:`.study_area` — the county outline and its metric CRS
* :mod:`.exporters` — layers back out to GeoJSON, GeoPackage, Shapefile or CSV
"""
