"""A PostgreSQL + PostGIS cluster that emgis creates, starts and stops itself.

PostgreSQL refuses to run as root, so when emgis is invoked as root every server program
runs as the ``postgres`` OS user (created by Debian's postgresql package). The cluster
listens on 127.0.0.1 only, on a port chosen when it is created, with a random password
kept in ``cluster.json`` (mode 600) under emgis's home.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "emgis"
SUPERUSER = "postgres"


class ClusterError(RuntimeError):
    """The local cluster could not be created, started or stopped."""


def find_pg_bin() -> Path:
    """Return the directory of the newest installed PostgreSQL server programs."""
    from emgis.layers.settings import ToolSettings

    env = ToolSettings().pg_bin
    candidates = [Path(env)] if env else []
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for c in candidates:
        if (c / "pg_ctl").exists() and (c / "initdb").exists():
            return c
    raise ClusterError(
        "PostgreSQL server programs (initdb, pg_ctl) were not found under "
        "/usr/lib/postgresql/*/bin. Fix: run `make setup` (it installs postgresql and postgis with "
        "apt), or set EMGIS_PG_BIN, or point EMGIS_DATABASE_URL at an existing PostGIS server."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _is_postgres(pid: int) -> bool:
    """Is ``pid`` a live (not zombie) PostgreSQL server process? Where /proc is not there to
    ask, a pid that exists counts as one."""
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and Path(argv0.split()[0] if argv0 else "").name in (
        "postgres", "postmaster")


def _processes_in(data_dir: Path) -> list[int]:
    """Processes whose working directory is ``data_dir`` (a server's processes chdir there)."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")) == data_dir:
                out.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return out


@dataclass
class LocalCluster:
    """A cluster under ``home``; ``fast=True`` trades durability for speed (tests)."""

    home: Path
    fast: bool = False

    def __post_init__(self) -> None:
        self.home = Path(self.home).expanduser().resolve()
        self.state_file = self.home / "cluster.json"
        self._as_postgres = os.geteuid() == 0

    # -- state -----------------------------------------------------------------
    def _state(self) -> dict:
        if not self.state_file.exists():
            raise ClusterError(f"no local cluster under {self.home}; run `emgis db start` first")
        return json.loads(self.state_file.read_text())

    @property
    def exists(self) -> bool:
        return (self.state_file.exists()
                and (Path(self._state()["data_dir"]) / "PG_VERSION").exists())

    @property
    def data_dir(self) -> Path:
        return Path(self._state()["data_dir"])

    @property
    def port(self) -> int:
        return int(self._state()["port"])

    def url(self, database: str = DB_NAME) -> str:
        st = self._state()
        return (f"postgresql+psycopg2://{SUPERUSER}:{st['password']}"
                f"@127.0.0.1:{st['port']}/{database}")

    # -- running programs ------------------------------------------------------
    def _run(self, args: list[str], *, check: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self._as_postgres:
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(map(str, args[:2]))} failed ({proc.returncode}): "
                               f"{proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _choose_data_dir(self) -> Path:
        """Return a data directory the server's OS user can reach.

        As root, the home is often under /root (mode 700) where ``postgres`` cannot enter;
        the cluster then lives under /var/lib/emgis/<hash of home>, recorded in cluster.json.
        """
        wanted = self.home / "pgdata"
        if not self._as_postgres:
            return wanted
        probe = subprocess.run(["runuser", "-u", SUPERUSER, "--", "test", "-x", str(self.home)],
                               capture_output=True)
        if probe.returncode == 0:
            return wanted
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return Path("/var/lib/emgis/clusters") / digest / "pgdata"

    # -- lifecycle -------------------------------------------------------------
    def init(self) -> None:
        """Create the cluster and its database (once)."""
        if self.exists:
            return
        pgbin = find_pg_bin()
        self.home.mkdir(parents=True, exist_ok=True)
        data_dir = self._choose_data_dir()
        if data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
        password = secrets.token_urlsafe(18)
        if self._as_postgres:
            pw = pwd.getpwnam(SUPERUSER)
            shutil.chown(data_dir, pw.pw_uid, pw.pw_gid)
            data_dir.chmod(0o700)
        with tempfile.NamedTemporaryFile("w", delete=False, prefix="emgis-pw-") as f:
            f.write(password + "\n")
            pwfile = f.name
        try:
            os.chmod(pwfile, 0o644)
            self._run([pgbin / "initdb", "-D", data_dir, "-U", SUPERUSER, "--pwfile", pwfile,
                       "--auth-local=peer", "--auth-host=scram-sha-256", "--encoding=UTF8",
                       "--locale=C.UTF-8"], timeout=300)
        finally:
            os.unlink(pwfile)
        port = _free_port()
        conf = [
            "# written by emgis",
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{data_dir}'",
            "max_connections = 200",
            "shared_buffers = 256MB",
            "work_mem = 32MB",
            "maintenance_work_mem = 256MB",
        ]
        if self.fast:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        self._append_conf(data_dir, conf)
        self.state_file.write_text(json.dumps({"data_dir": str(data_dir), "port": port,
                                               "password": password, "pg_bin": str(pgbin)}))
        self.state_file.chmod(0o600)
        self.start()
        self._create_database()

    def _append_conf(self, data_dir: Path, lines: list[str]) -> None:
        text = "\n".join(lines) + "\n"
        conf = data_dir / "postgresql.auto.conf"
        if self._as_postgres:
            self._run(["sh", "-c", f"cat >> '{conf}' <<'EOF'\n{text}EOF"])
        else:
            with open(conf, "a") as f:
                f.write(text)

    def _create_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres").replace("postgresql+psycopg2", "postgresql"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
        conn.close()

    # -- a crash leaves postmaster.pid behind ------------------------------------------------
    def _pid_file(self) -> Path:
        return Path(self._state()["data_dir"]) / "postmaster.pid"

    def _stale_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` when it names no live PostgreSQL server (it was killed,
        or the pid now belongs to another process); None when there is no such file or the
        server it names is alive."""
        try:
            pid = int(self._pid_file().read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return None if _is_postgres(pid) else pid

    def _clear_stale_pid(self) -> None:
        """Remove a stale ``postmaster.pid`` so the server starts (PostgreSQL refuses while the
        pid it names is alive, whoever it is), once the killed server's own processes have let
        go of its shared memory."""
        if self._stale_pid() is None:
            return
        data_dir = Path(self._state()["data_dir"]).resolve()
        deadline = time.monotonic() + 30
        while _processes_in(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)  # orphaned backends exit as soon as they see the postmaster gone
        for lock in data_dir.glob(".s.PGSQL.*.lock"):  # the socket's lock names the pid too
            try:
                pid = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            if not _is_postgres(pid):
                lock.unlink(missing_ok=True)
                lock.with_suffix("").unlink(missing_ok=True)
        self._pid_file().unlink(missing_ok=True)

    def is_running(self) -> bool:
        if not self.state_file.exists():
            return False
        if self._stale_pid() is not None:
            return False
        st = self._state()
        proc = self._run([Path(st["pg_bin"]) / "pg_ctl", "-D", st["data_dir"], "status"],
                         check=False)
        return proc.returncode == 0

    def start(self) -> bool:
        """Start the server if it is not running; return True if this call started it."""
        if not self.state_file.exists():
            self.init()
            return True
        if self.is_running():
            return False
        self._clear_stale_pid()
        st = self._state()
        if _port_in_use(int(st["port"])):
            st["port"] = _free_port()
            self._append_conf(Path(st["data_dir"]), [f"port = {st['port']}"])
            self.state_file.write_text(json.dumps(st))
        log = Path(st["data_dir"]) / "server.log"
        self._run([Path(st["pg_bin"]) / "pg_ctl", "-D", st["data_dir"], "-l", log, "-w", "-t",
                   "120", "start"], timeout=180)
        deadline = time.monotonic() + 30
        while not _port_in_use(int(st["port"])):
            if time.monotonic() > deadline:
                raise ClusterError(f"server did not accept connections on port {st['port']}; "
                                   f"see {log}")
            time.sleep(0.1)
        return True

    def stop(self) -> bool:
        """Stop the server if it runs; return True if it was running."""
        if not self.state_file.exists() or not self.is_running():
            return False
        st = self._state()
        self._run([Path(st["pg_bin"]) / "pg_ctl", "-D", st["data_dir"], "-m", "fast", "-w", "stop"])
        return True

    def destroy(self) -> None:
        """Stop the server and delete the cluster and its state."""
        if not self.state_file.exists():
            return
        data_dir = self.data_dir
        self.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)

    def status(self) -> dict:
        if not self.state_file.exists():
            return {"exists": False, "running": False, "home": str(self.home)}
        st = self._state()
        return {"exists": True, "running": self.is_running(), "home": str(self.home),
                "data_dir": st["data_dir"], "port": st["port"], "pg_bin": st["pg_bin"]}

    def pg_tool(self, name: str) -> Path:
        return Path(self._state()["pg_bin"]) / name
