"""Leaflet and plugin assets served by emgis itself, never from a CDN.

Folium links Leaflet, jQuery, Bootstrap, Font Awesome, awesome-markers and every plugin from
public CDNs. An emergency-management map must work when the county's uplink is down, and a
test must not leave 127.0.0.1, so emgis serves its own copies:

* **Where they come from.** Debian's packages ``libjs-leaflet`` and
  ``libjs-leaflet.markercluster`` put ``leaflet.js``, ``leaflet.css``, ``images/`` and
  ``leaflet.markercluster.js``, ``MarkerCluster*.css`` into ``/usr/share/javascript/leaflet``.
  ``scripts/bootstrap.sh`` installs them (network only at install time, from the package
  registry). ``EMGIS_LEAFLET_DIR`` points at another directory with the same files (for a
  machine without them, or to try another Leaflet build).
* **How they are linked.** :func:`localize` rewrites ``default_js``/``default_css`` on each
  element *instance* of a map (``add_js_link`` on the class would change every map in the
  process) to URLs under a base: ``/static/leaflet`` when the app serves them
  (``emgis.api.http.pages.mount_assets``), or a path relative to a standalone HTML file whose
  directory gets a copy (:func:`copy_assets`). Resources the risk map does not use (jQuery,
  Bootstrap, fonts, awesome-markers) are dropped; any other unknown resource is an error, not a
  silent CDN link.
* **emgis's own files.** The pages' own scripts and styles (the live map's logic and panel,
  ``maps/static/emgis/``, in git) are linked the same way, under ``<base>/emgis/``, and are
  copied beside a page written to disk like Leaflet's.
* **Serving.** :func:`static_mounts` says which directory the app serves under which URL
  prefix; the HTTP side (``emgis.api.http.pages.mount_assets``) mounts them: maps/ never imports
  the web framework.
* **Proof.** :func:`remote_resources` lists every ``src``/``href``/``url()`` in rendered HTML
  that leaves the machine; :func:`assert_offline` raises if there is one.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

#: Where Debian's libjs-leaflet and libjs-leaflet.markercluster install their files.
DEBIAN_DIR = Path("/usr/share/javascript/leaflet")
#: A vendored copy inside the package (optional; package-data ``maps/static/**``).
PACKAGE_DIR = Path(__file__).resolve().parent / "static" / "leaflet"
#: Environment variable naming a directory with the same files.
ENV_VAR = "EMGIS_LEAFLET_DIR"
#: URL prefix under which the app serves the assets.
STATIC_PREFIX = "/static/leaflet"

#: folium resource name -> file name inside the assets directory.
LOCAL_FILES: dict[str, str] = {
    "leaflet": "leaflet.js",
    "leaflet_css": "leaflet.css",
    "markerclusterjs": "leaflet.markercluster.js",
    "markerclustercss": "MarkerCluster.css",
    "markerclusterdefaultcss": "MarkerCluster.Default.css",
}

#: Files (besides the above) that the CSS refers to.
EXTRA_FILES: tuple[str, ...] = (
    "images/layers.png",
    "images/layers-2x.png",
    "images/marker-icon.png",
    "images/marker-icon-2x.png",
    "images/marker-shadow.png",
)

#: Resources folium links by default that the emgis maps do not use: dropped.
#: (``folium.Popup`` needs jQuery; emgis maps bind popups in plain Leaflet instead.)
DROPPABLE: frozenset[str] = frozenset({
    "jquery", "bootstrap", "awesome_markers",
    "bootstrap_css", "glyphicons_css", "awesome_markers_font_css", "awesome_markers_css",
    "awesome_rotate_css",
})

_INSTALL_HINT = (
    "run scripts/bootstrap.sh (it installs the Debian packages libjs-leaflet and "
    "libjs-leaflet.markercluster), or `apt-get install libjs-leaflet "
    f"libjs-leaflet.markercluster`, or set {ENV_VAR} to a directory holding "
    + ", ".join(LOCAL_FILES.values())
)


class AssetsMissing(FileNotFoundError):
    """The local Leaflet files are not installed."""


def _complete(d: Path) -> bool:
    return all((d / f).is_file() for f in LOCAL_FILES.values())


def asset_dir() -> Path:
    """Return the directory holding the local Leaflet + MarkerCluster files.

    Looks at ``$EMGIS_LEAFLET_DIR``, then ``maps/static/leaflet``, then Debian's
    ``/usr/share/javascript/leaflet``.

    Raises
    ------
    AssetsMissing
        If none of them has every file, with the command that installs them.
    """
    from emgis.layers.settings import ToolSettings

    env = ToolSettings().leaflet_dir
    if env:
        d = Path(env)
        if not _complete(d):
            lacking = [f for f in LOCAL_FILES.values() if not (d / f).is_file()]
            raise AssetsMissing(f"{ENV_VAR}={env} lacks {', '.join(lacking)}; {_INSTALL_HINT}")
        return d
    for d in (PACKAGE_DIR, DEBIAN_DIR):
        if _complete(d):
            return d
    raise AssetsMissing(f"the Leaflet files for offline maps are not installed; {_INSTALL_HINT}")


#: Sub-path (under the assets base) of the npm-vendored plugins (maps/vendor.py).
VENDOR_SUBDIR = "vendor"

#: emgis's own scripts and styles for the map pages (in git, unlike the vendored plugins).
OWN_DIR = Path(__file__).resolve().parent / "static" / "emgis"
#: Sub-path (under the assets base) of emgis's own files.
OWN_SUBDIR = "emgis"
#: resource name (``emgis_<stem>_<js|css>``) -> file name, for every script and style in
#: :data:`OWN_DIR` (the live map's extensions included: maps/live_map.py EXTENSIONS).
OWN_FILES: dict[str, str] = {
    f"emgis_{p.stem}_{p.suffix[1:]}": p.name
    for p in sorted(OWN_DIR.iterdir()) if p.suffix in (".js", ".css")
}


def asset_urls(base: str = STATIC_PREFIX) -> dict[str, str]:
    """Return ``{folium resource name: URL}`` under ``base`` (absolute or relative).

    Leaflet and MarkerCluster sit directly under ``base``; the vendored plugins under
    ``base/vendor/<package>/...``; emgis's own files under ``base/emgis/``.
    """
    from emgis.maps.vendor import RESOURCES

    base = base.rstrip("/")
    files = {**LOCAL_FILES, **{k: f"{VENDOR_SUBDIR}/{v}" for k, v in RESOURCES.items()},
             **{k: f"{OWN_SUBDIR}/{v}" for k, v in OWN_FILES.items()}}
    return {name: f"{base}/{fname}" if base else fname for name, fname in files.items()}


def localize(element, base: str = STATIC_PREFIX):
    """Point every JS/CSS resource of ``element`` and its descendants at local copies.

    Sets ``default_js``/``default_css`` on each instance (never on the class). Resources in
    :data:`DROPPABLE` are removed; any other resource without a local copy raises
    ``ValueError`` rather than leave a CDN link in the page. Returns ``element``.
    """
    urls = asset_urls(base)
    seen: set[int] = set()

    def walk(el) -> None:
        if id(el) in seen:
            return
        seen.add(id(el))
        for attr in ("default_js", "default_css"):
            resources = getattr(el, attr, None)
            if resources is None:
                continue
            kept = []
            for name, _url in resources:
                if name in urls:
                    kept.append((name, urls[name]))
                elif name not in DROPPABLE:
                    raise ValueError(
                        f"{type(el).__name__} needs the resource {name!r} ({_url}), which emgis "
                        f"has no local copy of; add it to maps.assets.LOCAL_FILES and install it"
                    )
            setattr(el, attr, kept)
        for child in getattr(el, "_children", {}).values():
            walk(child)

    walk(element)
    return element


def copy_assets(dest: str | Path, *, plugins: bool = False) -> Path:
    """Copy the Leaflet files, emgis's own files (and with ``plugins`` the vendored plugins)
    into ``dest``."""
    src = asset_dir()
    dest = Path(dest)
    for rel in (*LOCAL_FILES.values(), *EXTRA_FILES):
        s = src / rel
        if not s.is_file():
            continue  # images are optional: the risk map draws no L.marker
        d = dest / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s, d)
    (dest / OWN_SUBDIR).mkdir(parents=True, exist_ok=True)
    for fname in OWN_FILES.values():
        shutil.copyfile(OWN_DIR / fname, dest / OWN_SUBDIR / fname)
    if plugins:
        from emgis.maps.vendor import require

        shutil.copytree(require(), dest / VENDOR_SUBDIR, dirs_exist_ok=True)
    return dest


class StaticMount(NamedTuple):
    """One directory the app serves: URL ``path``, local ``directory``, route ``name``."""

    path: str
    directory: Path
    name: str


def static_mounts(prefix: str = STATIC_PREFIX) -> Iterator[StaticMount]:
    """Yield what the app serves under ``prefix``, more specific prefixes first.

    emgis's own files (``prefix/emgis``), the vendored plugins (``prefix/vendor``) when they
    are installed (a missing plugin directory only costs the live map and is logged, not
    raised), then Leaflet itself (``prefix``). Lazy, so a caller that mounts as it goes has
    mounted the others when the Leaflet files turn out missing.

    Raises
    ------
    AssetsMissing
        When it reaches the Leaflet files and they are not installed.
    """
    from emgis.maps.vendor import VendorMissing, require

    yield StaticMount(f"{prefix}/{OWN_SUBDIR}", OWN_DIR, "emgis-static")
    try:
        plugins = require()
    except VendorMissing as exc:
        logging.getLogger("emgis.maps").warning("%s", exc)
    else:
        yield StaticMount(f"{prefix}/{VENDOR_SUBDIR}", plugins, "leaflet-plugins")
    yield StaticMount(prefix, asset_dir(), "leaflet")


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_URL_ATTR = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""", re.I)
_IMPORT = re.compile(r"""@import\s+["']([^"']+)["']""", re.I)


def _is_remote(url: str) -> bool:
    u = url.strip().lower()
    if u.startswith("//"):
        u = "http:" + u
    if not (u.startswith("http://") or u.startswith("https://")):
        return False  # relative, absolute path, data:, javascript:, #fragment
    host = u.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host if host.startswith("[") else host.split(":", 1)[0]
    if host.startswith("["):
        host = host.split("]", 1)[0] + "]"
    return host not in _LOCAL_HOSTS


def remote_resources(html: str, extra: Iterable[str] = ()) -> list[str]:
    """Return the URLs in ``html`` (``src``, ``href``, CSS ``url()``/``@import``) that leave
    the machine; ``extra`` adds more texts (e.g. CSS files) to scan."""
    out: list[str] = []
    for text in (html, *extra):
        for rx in (_URL_ATTR, _CSS_URL, _IMPORT):
            out.extend(u for u in rx.findall(text) if _is_remote(u))
    return out


def assert_offline(html: str) -> None:
    """Raise ``ValueError`` if ``html`` would fetch anything from beyond this machine."""
    remote = remote_resources(html)
    if remote:
        raise ValueError(f"map page would fetch remote resources: {', '.join(remote[:5])}")
