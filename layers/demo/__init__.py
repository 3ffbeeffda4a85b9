"""Write a synthetic demo county as the ordinary files a county bureau really holds.

``write_demo_county`` builds a made-up county, 示范县（合成数据） / Demo County (synthetic),
code 339901 (city segment 99 is used by no real city), around 119.85°E 31.0°N, and writes
it in the formats and encodings a Chinese bureau hands over: GeoJSON boundaries, GBK
census CSVs keyed by 12-digit statistical codes, a GBK shelter table geocoded in GCJ-02
(as Amap returns it), a GBK Shapefile in CGCS2000, a GeoPackage in the county's
truncated 3° Gauss-Kruger zone, risk points with LEC / risk-matrix inputs, a hazard
register and hazard zones. ``emgis demo`` loads them through the same loaders a user
would use, so the demo also exercises encoding, CRS and code handling.

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed order,
so a seed always gives the same files (byte-identical on the same library versions).
The geography is built in metres in the Gauss-Kruger zone and converted at the end.
Nothing here is real data: every name, number and position is invented.

The package, by what it generates (``county.write_demo_county`` is the entry point):

* :mod:`.county` — ``write_demo_county`` and ``DemoFiles``: the order of the draws
* :mod:`.geography` — outline, river, hills, townships, villages, roads, census figures
* :mod:`.facilities` — shelters, supply depots and their stock, rescue-team bases
* :mod:`.hazards` — hazard zones, risk points, the hidden-hazard register
* :mod:`.files` — the files themselves: formats, encodings, CRSs, the README
* :mod:`.common` — the county's constants, the world in metres, sampling helpers

It sits in the ingest tier (beside ``emgis.layers.load``) and may use ``emgis.geo``.
"""
