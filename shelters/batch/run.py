"""Run a batch: many counties as tasks on Dask (a LocalCluster, or a scheduler's address), or
one after another in this process (``sequential``: the reference the Dask runs must equal).

The province's tables are shipped to the workers once (``client.scatter(..., broadcast=True)``)
and the road pieces are files in the partition cache (shared storage); each county is one
task with ``retries``; a county that still fails is a line of the error table, never the end
of the batch. Results are written as each county finishes: ``<out>/<analysis>-<layer>/<code>
.parquet`` (GeoParquet, replaced on a rerun) and, with a database, the partitioned tables
(`shelters.batch.store`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from emgis.layers.problems import BadArgument
from emgis.shelters.batch.county import (
    ANALYSES,
    CountyResult,
    ProvinceData,
    read_province,
    run_county,
)
from emgis.shelters.batch.partition import cache_key, cut_county, extract_source

__all__ = ["BatchReport", "BatchRequest", "run_batch", "select_counties"]


@dataclass(frozen=True)
class BatchRequest:
    """What `emgis batch` asks for."""

    analysis: str                 # coverage | gaps
    province: Path                # a province directory (roads.npz, counties.parquet, ...)
    out: Path                     # GeoParquet results go under here
    counties: str | None = None   # codes, a file of codes, or a code prefix; None: all
    layer: str = "shelters"
    engine: str = "local"         # local | dask://HOST:PORT | sequential
    workers: int = 2
    halo_km: float | None = None  # None: the norm batch.halo_km
    retries: int = 2


@dataclass
class BatchReport:
    """The summary line of every county that finished, and the error of every one that did
    not."""

    summary: pd.DataFrame
    errors: pd.DataFrame
    halo_km: float
    cache: Path
    seconds: float
    engine: str
    results_dir: Path
    counties: list[str] = field(default_factory=list)


def _is_file(spec: str) -> bool:
    """``spec`` names an existing file (a long code list is no path: the OS refuses the name)."""
    try:
        return Path(spec).is_file()
    except (OSError, ValueError):
        return False


def select_counties(spec: str | None, known: list[str]) -> list[str]:
    """``360101,360102`` | a file with one code a line | a prefix (``3601``) → codes."""
    if not spec:
        return list(known)
    if _is_file(spec):
        path = Path(spec)
        codes = [ln.split("#", 1)[0].strip() for ln in path.read_text("utf-8").splitlines()]
        codes = [c for c in codes if c]
    elif "," in spec or (spec.isdigit() and len(spec) == 6):
        codes = [c.strip() for c in spec.split(",") if c.strip()]
    elif spec.isdigit():
        codes = [c for c in known if c.startswith(spec)]
        if not codes:
            raise BadArgument(f"no county code starts with {spec!r}")
        return codes
    else:
        raise BadArgument(f"--counties {spec!r}: give codes (360101,360102), a file of codes "
                          "or a code prefix (3601)")
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise BadArgument(f"unknown county code(s) {', '.join(unknown[:5])}: the province has "
                          f"{len(known)} counties ({known[0]} … {known[-1]})")
    return codes


def halo_metres(halo_km: float | None, norms) -> float:
    return 1000.0 * float(norms.number("batch.halo_km") if halo_km is None else halo_km)


def _write_parquet(result: CountyResult, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{result.code}.tmp.parquet"
    result.rows.to_parquet(tmp, index=False)
    tmp.replace(folder / f"{result.code}.parquet")  # a rerun replaces that county's file


def _client(engine: str, workers: int):
    from dask.distributed import Client, LocalCluster

    if engine == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        return Client(cluster), cluster
    if engine.startswith("dask://"):
        return Client(f"tcp://{engine[len('dask://'):]}", timeout="20s"), None
    raise BadArgument(f"--engine {engine!r}: use local, dask://HOST:PORT or sequential")


def run_batch(req: BatchRequest, *, norms, home: Path, db_engine=None,
              on_result: Callable[[str, CountyResult | None, str | None], None] | None = None,
              actor: str = "batch", client=None) -> BatchReport:
    """Run ``req`` and return the report; ``on_result(code, result, error)`` after each
    county (the CLI's progress bar; a test's hook). ``client``: a Dask client to run on
    (kept open) instead of the one ``req.engine`` names."""
    from emgis.shelters.coverage import KINDS

    if req.analysis not in ANALYSES:
        raise BadArgument(f"analysis {req.analysis!r}: use one of {', '.join(ANALYSES)}")
    if req.layer not in KINDS:
        raise BadArgument(f"--layer {req.layer!r}: use one of {', '.join(KINDS)}")
    t0 = time.perf_counter()
    data = read_province(req.province)
    codes = select_counties(req.counties, data.counties["code"].tolist())
    halo_m = halo_metres(req.halo_km, norms)
    cache = Path(home) / "batch" / "cache" / cache_key(req.province, halo_m)
    pieces_dir = cache / "pieces"
    pieces_dir.mkdir(parents=True, exist_ok=True)
    source = str(extract_source(Path(req.province) / "roads.npz", cache))
    results_dir = Path(req.out) / f"{req.analysis}-{req.layer}"
    done: list[dict] = []
    errors: list[dict] = []

    def finish(code: str, result: CountyResult | None, error: str | None) -> None:
        if result is not None:
            _write_parquet(result, results_dir)
            if db_engine is not None:
                from emgis.shelters.batch.store import write_county

                write_county(db_engine, req.analysis, req.layer, result, actor=actor)
            done.append(result.summary)
        else:
            errors.append({"county_code": code, "analysis": req.analysis, "layer": req.layer,
                           "error": error})
            if db_engine is not None:
                from emgis.shelters.batch.store import write_failure

                write_failure(db_engine, req.analysis, req.layer, code, error or "", actor=actor)
        if on_result is not None:
            on_result(code, result, error)

    if req.engine == "sequential":
        _run_sequential(req, data, codes, source, str(pieces_dir), halo_m, norms, finish)
    else:
        own = client is None
        cluster = None
        if own:
            client, cluster = _client(req.engine, req.workers)
        try:
            _run_dask(client, req, data, codes, (source, str(pieces_dir), halo_m), norms, finish)
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()
    summary = pd.DataFrame(done)
    if len(summary):
        summary = summary.sort_values("county_code").reset_index(drop=True)
    err = pd.DataFrame(errors, columns=["county_code", "analysis", "layer", "error"])
    return BatchReport(summary, err.sort_values("county_code").reset_index(drop=True),
                       halo_m / 1000, cache, time.perf_counter() - t0, req.engine, results_dir,
                       codes)


def _one(code: str, req: BatchRequest, data: ProvinceData, source: str, pieces: str,
         halo_m: float, norms) -> CountyResult:
    piece = cut_county(source, code, data.box(code), halo_m, pieces)
    return run_county(code, req.analysis, req.layer, piece, data, halo_m, norms)


def _run_sequential(req, data, codes, source, pieces, halo_m, norms, finish) -> None:
    for code in codes:
        try:
            result = _one(code, req, data, source, pieces, halo_m, norms)
        except Exception as exc:
            finish(code, None, _message(exc))
        else:
            finish(code, result, None)


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _cut_task(source: str, code: str, box, halo_m: float, pieces: str) -> str:
    try:
        return cut_county(source, code, box, halo_m, pieces)
    except Exception as exc:  # the worker's exception types need not unpickle in the client
        raise RuntimeError(_message(exc)) from None


def _county_task(code: str, analysis: str, layer: str, piece: str, data: ProvinceData,
                 halo_m: float, norms) -> CountyResult:
    try:
        return run_county(code, analysis, layer, piece, data, halo_m, norms)
    except Exception as exc:
        raise RuntimeError(_message(exc)) from None


def _run_dask(client, req, data, codes, where, norms, finish) -> None:
    """Partition (distributed, cached), then one task per county; finish each as it ends."""
    from dask.distributed import as_completed

    source, pieces, halo_m = where
    shared = client.scatter(data, broadcast=True)  # shipped once, not per task
    shared_norms = client.scatter(norms, broadcast=True)
    cuts = {client.submit(_cut_task, source, c, data.box(c), halo_m, pieces, pure=False,
                          retries=req.retries, key=f"cut-{c}-{time.time_ns()}"): c
            for c in codes}
    counties = {}
    for fut in as_completed(list(cuts)):
        code = cuts[fut]
        try:
            piece = _result(fut)
        except Exception as exc:  # a county whose piece cannot be cut: in the error table
            finish(code, None, _task_error(exc))
            continue
        task = client.submit(_county_task, code, req.analysis, req.layer, piece, shared,
                             halo_m, shared_norms, pure=False, retries=req.retries,
                             key=f"county-{code}-{time.time_ns()}")
        counties[task] = code
    for fut in as_completed(list(counties)):
        code = counties[fut]
        try:
            result = _result(fut)
        except Exception as exc:  # a bad county never sinks the batch
            finish(code, None, _task_error(exc))
        else:
            finish(code, result, None)


def _result(fut):
    """The task's result; a result lost with a killed worker is computed again (Dask keeps
    the task while the future is held), so wait for it rather than call it failed."""
    return fut.result()


def _task_error(exc: BaseException) -> str:
    # our tasks re-raise as RuntimeError("<type>: <message>"); Dask's own (KilledWorker) as is
    return str(exc) if type(exc) is RuntimeError else _message(exc)
