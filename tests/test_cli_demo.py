"""`emgis demo` end to end, as a user runs it: its own cluster, every layer, no stray server.

The command runs as a subprocess with a fresh EMGIS_HOME and no EMGIS_DATABASE_URL, so it
initialises and starts its own PostgreSQL cluster, loads the synthetic county through the
ordinary loaders, and must stop the server again when it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import missing

from emgis.layers.pgserver import ClusterError, LocalCluster, find_pg_bin

pytestmark = [pytest.mark.postgis, pytest.mark.slow]


def _emgis(home: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("EMGIS_DATABASE_URL", "EMGIS_TEST_DATABASE_URL")}
    env.update(EMGIS_HOME=str(home), COLUMNS="120", NO_COLOR="1")
    exe = Path(sys.executable).with_name("emgis")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _postmasters(data_dir: str) -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "postgres" in cmd and data_dir in cmd:
                out.append(cmd)
    return out


def _fresh_home(tmp_path: Path) -> Path:
    """An empty EMGIS_HOME the postgres OS user can enter (PostgreSQL runs as it under root)."""
    try:
        find_pg_bin()
    except ClusterError as exc:
        missing(f"PostgreSQL server programs are not installed: {exc}")
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    tmp_path.chmod(0o755)
    return home


def test_demo_loads_the_county_and_leaves_no_server_running(tmp_path):
    home = _fresh_home(tmp_path)
    res = _emgis(home, "demo", "--no-serve")
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        assert ("coverage of" in res.stdout and "siting (MCLP" in res.stdout
                and "incidents: 2" in res.stdout)
        for page in ("coverage_shelters.html", "coverage_fire.html", "siting_shelters.html"):
            assert (home / "maps" / page).is_file()
        for layer in ("admin_units", "shelters", "depots", "depot_stock", "team_bases",
                      "risk_points", "hazards", "hazard_zones"):
            assert f" {layer}" in res.stdout, res.stdout
        assert "census rows for 2020" in res.stdout and "census rows for 2023" in res.stdout
        assert "synthetic" in res.stdout
        assert "road edges" in res.stdout and "four-colour map" in res.stdout
        assert (home / "demo" / "risk_map.html").is_file()
        assert (home / "networks").is_dir() and any((home / "networks").iterdir())
        cluster = LocalCluster(home)
        status = cluster.status()
        assert status["exists"] and not status["running"], status
        assert _postmasters(status["data_dir"]) == []
        # the data stayed: `emgis db status` sees the stopped cluster, `emgis layers` counts the
        # rows
        st = _emgis(home, "db", "status")
        assert st.returncode == 0 and "running" in st.stdout.lower(), st.stdout + st.stderr
        layers = _emgis(home, "layers")
        assert layers.returncode == 0, layers.stdout + layers.stderr
        assert "shelters" in layers.stdout and "45" in layers.stdout
        assert not cluster.status()["running"]
    finally:
        LocalCluster(home).destroy()  # the test's own cleanup, after the checks


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_demo_serves_the_map_pages_until_interrupted(tmp_path, stop):
    """`emgis demo` (serving): prints the URL, the pages answer; Ctrl-C, or SIGTERM as systemd,
    `docker stop` and `timeout` send it, stops the server and the database it started."""
    import signal
    import socket
    import time

    import httpx

    home = _fresh_home(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("EMGIS_DATABASE_URL", "EMGIS_TEST_DATABASE_URL")}
    env.update(EMGIS_HOME=str(home), COLUMNS="200", NO_COLOR="1", EMGIS_MAP_TILES="none")
    exe = Path(sys.executable).with_name("emgis")
    proc = subprocess.Popen([str(exe), "demo", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 600
        url = None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "/maps/live" in line and "open" in line:
                url = f"http://127.0.0.1:{port}"
        assert url, "".join(lines)
        for _ in range(100):  # uvicorn binds just after printing
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(url + "/health").json()["status"] == "ok"
        live = httpx.get(url + "/maps/live")
        assert live.status_code == 200 and "L.realtime" in live.text
        index = httpx.get(url + "/maps").text
        for page in ("siting_shelters.html", "coverage_shelters.html"):
            assert page in index
            r = httpx.get(f"{url}/maps/saved/{page}")
            assert r.status_code == 200 and "leaflet" in r.text.lower()
        incidents = httpx.get(url + "/collections/incidents/items").json()
        assert {f["properties"]["ext_id"]
                for f in incidents["features"]} >= {"DEMO-FIRE-1", "DEMO-FLOOD-1"}
        proc.send_signal(getattr(signal, stop))
        rest, _ = proc.communicate(timeout=120)
        lines.append(rest)
        assert proc.returncode == (0 if stop == "SIGINT" else 128 + signal.SIGTERM), "".join(lines)
        status = LocalCluster(home).status()
        assert not status["running"] and _postmasters(status["data_dir"]) == [], "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        LocalCluster(home).destroy()


@pytest.mark.parametrize("stop", ["SIGINT", pytest.param("SIGTERM", marks=pytest.mark.bad_input)])
def test_serve_stops_the_database_it_started(tmp_path, stop):
    """`emgis serve` with no server running starts emgis's own; Ctrl-C or SIGTERM (systemd,
    `docker stop`, `timeout`) stops the API and that PostgreSQL: no process is left behind."""
    import signal
    import socket
    import time

    import httpx

    home = _fresh_home(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("EMGIS_DATABASE_URL", "EMGIS_TEST_DATABASE_URL")}
    env.update(EMGIS_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    exe = Path(sys.executable).with_name("emgis")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "emgis API on" in line:
                break
        assert proc.poll() is None, "".join(lines)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):  # uvicorn binds just after printing
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(url + "/health").json()["status"] == "ok"
        data_dir = LocalCluster(home).status()["data_dir"]
        assert _postmasters(data_dir), "the database is not running while serving"
        proc.send_signal(getattr(signal, stop))
        rest, _ = proc.communicate(timeout=120)
        lines.append(rest)
        assert proc.returncode == (0 if stop == "SIGINT" else 128 + signal.SIGTERM), "".join(lines)
        status = LocalCluster(home).status()
        assert not status["running"] and _postmasters(data_dir) == [], "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        LocalCluster(home).destroy()
