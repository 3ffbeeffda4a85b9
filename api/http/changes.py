"""What changed in the database, told by PostgreSQL, so the API can keep what it reads in memory.

Every request of the live map used to ask the database the same things: the road
network's version, the usable teams (or shelters, depots), an incident's area. Those
tables change rarely next to how often they are read, so the API keeps them in memory
(`Memo`) under the table's *version* from a `ChangeFeed`:

- a statement-level trigger on each such table (migration 0005) sends the table's name on
  the ``emgis_changes`` channel when a write commits, whoever writes (the API, the CLI,
  psql);
- the feed holds one connection that ``LISTEN``\\s on it; a background thread drains it,
  and each `ChangeFeed.version` call drains it once more (a non-blocking read) so a
  request sees every notification PostgreSQL has already sent;
- the API's own writes bump the version at once (`ChangeFeed.touch`), so a client that
  writes and then reads through the same server always reads its write; a write through
  another worker or outside the API is seen as soon as its notification arrives
  (PostgreSQL sends it when the write commits: well under a millisecond on one machine);
- while the feed is not listening (database restarting, connection lost) `version`
  returns None and nothing is cached: every request reads the database as before; when
  it listens again every version moves on (anything may have changed meanwhile);
- each time it listens it reads the database's identity (its oid in ``pg_database``): a
  database swapped in under the same name (`emgis db restore`) has a new one, and the
  callbacks given to `on_new_database` run (the app drops its connection pool and
  everything it keeps).
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("emgis.api.changes")

CHANNEL = "emgis_changes"


class ChangeFeed:
    """Versions of tables, moved on by PostgreSQL's notifications (``LISTEN emgis_changes``).

    Parameters
    ----------
    engine
        The SQLAlchemy engine whose database to listen to (its URL gives the connection).
    retry_s
        Seconds between attempts to listen again after the connection is lost.
    """

    def __init__(self, engine, *, retry_s: float = 1.0) -> None:
        self._engine = engine
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._conn = None
        self._epoch = 0  # moves on each time the feed (re)starts listening
        self._versions: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._database: int | None = None  # the oid of the database listened to
        self._on_new_database: list[Callable[[], None]] = []

    # --- life -----------------------------------------------------------------------------------

    def start(self) -> ChangeFeed:
        """Listen now (if the database answers) and keep listening in a daemon thread."""
        self._stop.clear()
        self._connect()
        self._thread = threading.Thread(target=self._run, name="emgis-changes", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening; `version` returns None from now on."""
        self._stop.set()
        with self._lock:
            self._drop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def listening(self) -> bool:
        return self._conn is not None

    @property
    def database(self) -> int | None:
        """The identity (oid) of the database last listened to; None before the first time."""
        return self._database

    def on_new_database(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the feed listens again and finds another database under the
        same name (a restore swapped it in): whatever was read from the old one is stale."""
        self._on_new_database.append(callback)

    def _connect(self) -> bool:
        import psycopg2

        args, kwargs = self._engine.dialect.create_connect_args(self._engine.url)
        kwargs = {"connect_timeout": 2, "application_name": "emgis-changes", "keepalives": 1,
                  "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3, **kwargs}
        try:
            conn = psycopg2.connect(*args, **kwargs)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
                cur.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
                identity = int(cur.fetchone()[0])
        except psycopg2.Error as exc:
            log.info("change feed: not listening (%s); answers are read from the database "
                     "meanwhile",
                     str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            return False
        with self._lock:
            if self._stop.is_set():
                conn.close()
                return False
            self._conn = conn
            self._epoch += 1  # listening from now on; whatever changed before is unknown
            previous, self._database = self._database, identity
        log.info("change feed: listening on %s", CHANNEL)
        if previous is not None and previous != identity:
            log.warning("change feed: the database was replaced (a restore); dropping the "
                        "connection pool and everything kept in memory")
            for callback in self._on_new_database:
                try:
                    callback()
                except Exception:
                    log.exception("change feed: a new-database callback failed")
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.close()
            self._conn = None

    def _drain(self) -> bool:
        """Take the notifications that have arrived (lock held); False (and stop listening) if
        broken."""
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.poll()
        except Exception as exc:  # psycopg2 raises OperationalError / InterfaceError
            log.warning("change feed: connection lost (%s); caching paused until it is back",
                        str(exc).strip().splitlines()[0] if str(exc).strip()
                        else type(exc).__name__)
            self._drop()
            return False
        if conn.notifies:
            for n in conn.notifies:
                self._versions[n.payload] = self._versions.get(n.payload, 0) + 1
            conn.notifies.clear()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = self._conn
            if conn is None:
                if not self._stop.wait(self._retry_s):
                    self._connect()
                continue
            with contextlib.suppress(OSError, ValueError):  # closed under us
                select.select([conn], [], [], 2.0)
            with self._lock:
                if self._conn is conn:
                    self._drain()

    # --- use --------------------------------------------------------------------------------------

    def version(self, tables: Iterable[str]) -> tuple | None:
        """The current version of ``tables`` (a tuple to put in cache keys); None while not
        listening."""
        with self._lock:
            if not self._drain():
                return None
            return (self._epoch, *(self._versions.get(t, 0) for t in tables))

    def touch(self, *tables: str) -> None:
        """Move ``tables`` on now: called after this process's own committed writes."""
        with self._lock:
            for t in tables:
                self._versions[t] = self._versions.get(t, 0) + 1


class NotKept(LookupError):
    """`Memo.get` with ``peek``: the value is not in memory at the tables' current version."""


class Memo:
    """Values read from the database, kept while the tables they come from are unchanged.

    ``get(key, tables, load)`` returns ``load()``'s value, calling it only when ``key`` has not
    been loaded at the tables' current version. Without a listening feed it always calls
    ``load`` (nothing can be known to be unchanged). With ``peek`` it never loads: it raises
    `NotKept` instead (for code that must not wait on the database, e.g. on the event loop).
    A small LRU; errors are not kept.
    """

    def __init__(self, feed: ChangeFeed | None, size: int = 256) -> None:
        self.feed = feed
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def clear(self) -> None:
        """Forget every value (the database was replaced)."""
        with self._lock:
            self._items.clear()

    def get(self, key: tuple, tables: tuple[str, ...], load: Callable[[], Any], *,
            peek: bool = False) -> Any:
        version = self.feed.version(tables) if self.feed is not None else None
        if version is None:
            if peek:
                raise NotKept(key)
            return load()
        full = (key, version)
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                self.hits += 1
                return self._items[full]
        if peek:
            raise NotKept(key)
        value = load()  # read after taking the version: a write in between only makes it fresher
        with self._lock:
            self.misses += 1
            self._items[full] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
