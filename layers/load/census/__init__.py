"""Census tables keyed by statistical division codes: read, check all at once, store.

* :mod:`.read` — ``read_census``: the file (encoding, separator, XLSX sheet) to columns,
  then the header and the checks; returns a ``CensusResult`` and writes nothing
* :mod:`.header` — title rows, one- or two-row headers, column labels to fields
* :mod:`.checks` — the whole-table checks and the clean frame
* :mod:`.values` — single cells: plain integers, counts written as people write them
* :mod:`.write` — ``load_census`` / ``load_codes``: COPY into PostGIS in one transaction
"""
