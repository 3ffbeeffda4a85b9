"""`emgis batch`: counties as Dask tasks give, county by county, the sequential results.

A 20-county synthetic province (two rows of ten, a few thousand road nodes each); the runs take
its first row (prefix 3601: ten counties), with a 3 km halo so that each task stays small on two
cores. Dask runs: a LocalCluster of two worker processes (through the CLI), a scheduler and two
workers started here as processes on loopback, the same with one worker killed mid-run.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import sqlalchemy as sa
from geopandas.testing import assert_geodataframe_equal
from typer.testing import CliRunner

from emgis.layers.norms import default_norms
from emgis.shelters.batch.province import ProvinceSpec, write_province
from emgis.shelters.batch.run import BatchRequest, run_batch, select_counties

SPEC = ProvinceSpec(rows=2, cols=10, nodes_per_county=1500, county_km=12.0, villages=30,
                    shelters=4, seed=5)
SUBSET = "3601"
HALO = "3"


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    return write_province(tmp_path_factory.mktemp("province"), SPEC)


@pytest.fixture(scope="module")
def reference(province, tmp_path_factory):
    """The sequential in-process run of the subset: the answer every Dask run must give."""
    tmp = tmp_path_factory.mktemp("sequential")
    rep = run_batch(BatchRequest("coverage", province, tmp / "out", SUBSET, engine="sequential",
                                 halo_km=float(HALO)), norms=default_norms(), home=tmp / "home")
    assert rep.errors.empty and len(rep.summary) == 10
    return rep


def _same_results(out: Path, reference) -> None:
    got = sorted(p.name for p in (out / "coverage-shelters").glob("*.parquet"))
    want = sorted(p.name for p in reference.results_dir.glob("*.parquet"))
    assert got == want and len(got) == 10
    for name in got:
        a = gpd.read_parquet(out / "coverage-shelters" / name)
        b = gpd.read_parquet(reference.results_dir / name)
        assert_geodataframe_equal(a, b, check_less_precise=False)


def _cli(*args):
    from emgis.api.cli import app

    return CliRunner().invoke(app, ["batch", *args], catch_exceptions=False)


def _counts(engine) -> dict:
    with engine.connect() as c:
        return {
            "rows": c.execute(sa.text("SELECT count(*) FROM batch_results")).scalar(),
            "summary": c.execute(sa.text("SELECT count(*) FROM batch_summary")).scalar(),
            "partitions": c.execute(sa.text(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'batch_results'::regclass"
            )).scalar(),
        }


def test_local_cluster_gives_the_sequential_results_and_rerun_is_idempotent(
        province, reference, db, tmp_path, monkeypatch):
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    args = ["coverage", "--province", str(province), "--counties", SUBSET, "--halo-km", HALO,
            "--out", str(tmp_path / "out")]
    run = _cli(*args, "--engine", "local", "--workers", "2")
    assert run.exit_code == 0, run.output
    assert "province summary: 10 of 10 counties" in " ".join(run.output.split())
    _same_results(tmp_path / "out", reference)
    page = (tmp_path / "out" / "coverage-shelters.html").read_text(encoding="utf-8")
    assert "360103" in page and "https://" not in page.split("<body")[0]  # offline page
    first = _counts(db.engine)
    assert first == {"rows": 10 * SPEC.villages, "summary": 10, "partitions": 10}
    with db.engine.connect() as c:  # each county's rows are in its own partition
        assert c.execute(sa.text("SELECT count(*) FROM batch_results_360103")).scalar() == 30
        shares = c.execute(sa.text(
            "SELECT county_code, covered_population FROM batch_summary ORDER BY 1")).all()
    ref = reference.summary
    assert [(r.county_code, r.covered_population) for r in shares] == list(
        zip(ref["county_code"], ref["covered_population"], strict=True))
    rerun = _cli(*args, "--engine", "sequential")
    assert rerun.exit_code == 0, rerun.output
    assert _counts(db.engine) == first
    _same_results(tmp_path / "out", reference)
    # the partition step was cached: one piece per county under one input hash
    pieces = list((tmp_path / "home" / "batch" / "cache").glob("*/pieces/*.npz"))
    assert len(pieces) == 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on loopback; killed at the end
    (one module-wide cluster: the kill test, last, takes one of its workers down)."""
    from dask.distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    tmp_path = tmp_path_factory.mktemp("dask")
    port = _free_port()
    addr = f"127.0.0.1:{port}"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for i in range(2):
            procs.append(subprocess.Popen(
                [dask, "worker", f"tcp://{addr}", "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--name", f"w{i}", "--local-directory",
                 str(tmp_path / f"w{i}")], cwd=tmp_path,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(f"tcp://{addr}", timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        yield addr, procs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)


def test_scheduler_and_two_workers_on_loopback(province, reference, dask_cluster, tmp_path,
                                               monkeypatch):
    addr, _ = dask_cluster
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    run = _cli("coverage", "--province", str(province), "--counties", SUBSET, "--halo-km", HALO,
               "--out", str(tmp_path / "out"), "--engine", f"dask://{addr}", "--no-db")
    assert run.exit_code == 0, run.output
    _same_results(tmp_path / "out", reference)


def test_killing_a_worker_mid_run_still_completes(province, reference, dask_cluster, tmp_path):
    addr, procs = dask_cluster
    victim = procs[2]
    seen = []

    def kill_after_first(code, result, error):
        seen.append(code)
        if len(seen) == 1:
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)

    rep = run_batch(BatchRequest("coverage", province, tmp_path / "out", SUBSET,
                                 engine=f"dask://{addr}", halo_km=float(HALO)),
                    norms=default_norms(), home=tmp_path / "home", on_result=kill_after_first)
    assert victim.returncode == -signal.SIGKILL
    assert len(seen) == 10 and rep.errors.empty, rep.errors
    _same_results(tmp_path / "out", reference)


@pytest.mark.bad_input
def test_a_broken_county_is_in_the_error_table_and_the_others_complete(
        province, reference, db, tmp_path, monkeypatch):
    broken = tmp_path / "province"
    shutil.copytree(province, broken)
    demand = gpd.read_parquet(broken / "demand.parquet")
    demand.loc[demand["county_code"] == "360104", "population"] = -5
    demand.to_parquet(broken / "demand.parquet", index=False)
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    run = _cli("coverage", "--province", str(broken), "--counties", SUBSET, "--halo-km", HALO,
               "--out", str(tmp_path / "out"), "--engine", "local", "--workers", "2")
    assert run.exit_code == 1, run.output
    said = " ".join(run.output.split())
    assert "1 county(ies) failed" in said and "360104" in said
    assert "population must be a number" in said
    files = sorted(p.stem for p in (tmp_path / "out" / "coverage-shelters").glob("*.parquet"))
    assert len(files) == 9 and "360104" not in files
    with db.engine.connect() as c:
        status = dict(c.execute(sa.text("SELECT county_code, status FROM batch_summary")).all())
    assert status["360104"] == "failed"
    assert sum(s == "ok" for s in status.values()) == 9


@pytest.mark.bad_input
@pytest.mark.parametrize("spec", ["369999", "99", "36x1", "360101,369999"],
                         ids=["unknown-code", "unknown-prefix", "not-digits", "one-unknown"])
def test_bad_county_selection_is_refused(spec):
    from emgis.layers.problems import BadArgument

    known = SPEC.county_codes()
    with pytest.raises(BadArgument):
        select_counties(spec, known)


def test_county_selection_by_codes_file_and_prefix(tmp_path):
    known = SPEC.county_codes()
    assert select_counties(None, known) == known
    assert select_counties("3602", known) == known[10:]
    assert select_counties("360101,360203", known) == ["360101", "360203"]
    f = tmp_path / "codes.txt"
    f.write_text("360105\n# a comment\n360110\n", encoding="utf-8")
    assert select_counties(str(f), known) == ["360105", "360110"]
    # a list too long to be a file name (100 codes) is a list, not an OSError
    many = [f"36{r:02d}{c:02d}" for r in range(1, 11) for c in range(1, 11)]
    assert select_counties(",".join(many), many) == many


def test_province_command_writes_a_province(tmp_path):
    run = _cli("province", str(tmp_path / "p"), "--rows", "1", "--cols", "2",
               "--nodes-per-county", "400", "--villages", "5")
    assert run.exit_code == 0, run.output
    assert "2 counties" in " ".join(run.output.split())
    demand = gpd.read_parquet(tmp_path / "p" / "demand.parquet")
    assert sorted(demand["county_code"].unique()) == ["360101", "360102"]
    assert demand["code"].str.len().eq(12).all()



def test_summary_endpoint_serves_the_province_summary(province, db, tmp_path):
    import warnings

    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    rep = run_batch(BatchRequest("coverage", province, tmp_path / "out", "360101,360102",
                                 engine="sequential", halo_km=float(HALO)),
                    norms=default_norms(), home=tmp_path / "home", db_engine=db.engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    app = create_app(ApiSettings(), engine=db.engine,
                     db_settings=DatabaseSettings(home=tmp_path / "home"))
    with TestClient(app) as c:
        r = c.get("/batch/summary", params={"analysis": "coverage"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [x["county_code"] for x in body["counties"]] == ["360101", "360102"]
        assert body["ok"] == 2 and body["failed"] == 0
        assert body["covered_population"] == rep.summary["covered_population"].sum()
        assert c.get("/batch/summary", params={"analysis": "nope"}).status_code in (400, 422)


def test_gaps_batch_gives_each_villages_gap(province, tmp_path):
    rep = run_batch(BatchRequest("gaps", province, tmp_path / "out", "360101,360102",
                                 engine="sequential", halo_km=float(HALO)),
                    norms=default_norms(), home=tmp_path / "home")
    assert rep.errors.empty, rep.errors
    rows = gpd.read_parquet(tmp_path / "out" / "gaps-shelters" / "360101.parquet")
    assert {"uncovered", "underserved", "gap"} <= set(rows.columns)
    # an uncovered village's whole population is its gap's uncovered part
    assert (rows.loc[~rows["covered"], "uncovered"] == rows.loc[~rows["covered"],
                                                                "population"]).all()
    assert rep.summary["gap_population"].tolist() == [
        gpd.read_parquet(tmp_path / "out" / "gaps-shelters" / f"{c}.parquet")["gap"].sum()
        for c in ("360101", "360102")]


@pytest.mark.bad_input
@pytest.mark.parametrize("args, said", [
    (["--engine", "spark://x"], "--engine 'spark://x'"),
    (["--counties", "3699"], "no county code starts with '3699'"),
    (["--layer", "hospitals"], "--layer 'hospitals'"),
], ids=["unknown-engine", "unknown-prefix", "unknown-layer"])
def test_batch_command_refuses_bad_options(province, tmp_path, monkeypatch, args, said):
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    run = _cli("coverage", "--province", str(province), "--out", str(tmp_path / "out"),
               "--no-db", "--halo-km", HALO, *args)
    assert run.exit_code == 2, run.output
    assert said in " ".join(run.output.split())
    assert not (tmp_path / "out").exists()  # nothing was run or written


@pytest.mark.bad_input
def test_batch_command_names_a_missing_province(tmp_path, monkeypatch):
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    run = _cli("coverage", "--province", str(tmp_path / "nowhere"), "--no-db")
    assert run.exit_code == 2
    assert "emgis batch province" in " ".join(run.output.split())
