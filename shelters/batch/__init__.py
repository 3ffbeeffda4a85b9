"""Batch: many counties in one command, each county a task on Dask (`emgis batch`).

province.py (a synthetic province of files), partition.py (the road network cut per county
with a halo, cached by input hash), county.py (one county through `shelters.service`),
run.py (sequential or Dask: scatter, retries, the error table), store.py (PostGIS tables
partitioned by county, the province summary).
"""
