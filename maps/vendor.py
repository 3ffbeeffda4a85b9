"""Leaflet plugins vendored from npm packages, pinned and checked, served by emgis itself.

Debian packages Leaflet and MarkerCluster (maps/assets.py) but not the plugins the live
situation map uses: ``leaflet-realtime`` (layers that refresh themselves from the API),
``leaflet-groupedlayercontrol`` (hazards / resources / teams) and ``leaflet-search`` (find a
shelter, depot or team by name). They are the very versions folium's ``Realtime``,
``GroupedLayerControl`` and ``Search`` plugins link from CDNs.

``python -m emgis.maps.vendor`` (run by scripts/bootstrap.sh, only when a file is missing) fetches
each package with ``npm pack`` from the npm registry, checks the tarball against the
sha512 pinned below (a changed tarball is refused, not used), and extracts the few files
the maps need into :data:`VENDOR_DIR` (``maps/static/vendor``, not in git;
``EMGIS_VENDOR_DIR`` overrides). Nothing is fetched at run time.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Where the vendored files live (``<dir>/<package>/<path>``).
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
ENV_VAR = "EMGIS_VENDOR_DIR"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's sha512 of the tarball
    files: tuple[str, ...]  # paths inside the package to keep


PACKAGES: tuple[Package, ...] = (
    Package("leaflet-realtime", "2.2.0",
            "sha512-Z7xbUNdhvwngJUf3plG9Zw3SaGHzcOzi59tVS3jD0GcS6cOWbRNNfP2biwmtHbufM5VYTIWLATrQ4vrlGI23WA==",
            ("dist/leaflet-realtime.min.js", "LICENSE.md")),
    Package("leaflet-groupedlayercontrol", "0.6.1",
            "sha512-xkGeH6ygcryFQI0FUWn6Bz93zlwrOSpeXgJQ3jLRoUQJ5h/Qgrz+GqR9nhBFfikjUKtC1sCKL3eDR9wNTWhLlA==",
            ("dist/leaflet.groupedlayercontrol.min.js", "dist/leaflet.groupedlayercontrol.min.css",
             "LICENSE.txt")),
    Package("leaflet-search", "2.9.7",
            "sha512-v7CxEbXyQXqLFjSkTpvM5i1cvmrcPOos57UmTnR94qqvVZykXyz/0SKEs3cbkFHjyrmMQ3Yk2Q5W6PvyuiSuPg==",
            ("dist/leaflet-search.min.js", "dist/leaflet-search.min.css", "images/search-icon.png",
             "images/loader.gif", "license.txt")),
    # the offline base map draws emgis's own vector tiles (/tiles/base, geo/vector_tiles.py);
    # the package's licence ("Beerware") is stated in its package.json, kept beside the script
    Package("leaflet.vectorgrid", "1.3.0",
            "sha512-kWmj1pKM+MVdo/7Mg5zsB3YrGZvo/uIuiANV9MvWUFOG+Y2xAJzrteDhoIcCgTjHSSRJ36xdeGdIQVhuWjnCZw==",
            ("dist/Leaflet.VectorGrid.bundled.min.js", "package.json")),
    # the API documentation pages /docs and /redoc (api/http/docs.py), offline
    Package("swagger-ui-dist", "5.35.0",
            "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
            ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE")),
    Package("redoc", "2.5.2",
            "sha512-sTJfItvRkcDTojB6wdLN4M+Ua6mlZwElV21Tf8Mn7IbQF/1Os6GvgQpZyLWPGZZHbhy7GC1Or1hTMHfz1vKh5A==",
            ("bundles/redoc.standalone.js", "LICENSE")),
)

#: folium resource name -> path under the vendor directory.
RESOURCES: dict[str, str] = {
    "Leaflet_Realtime_js": "leaflet-realtime/dist/leaflet-realtime.min.js",
    "leaflet.groupedlayercontrol.min.js":
        "leaflet-groupedlayercontrol/dist/leaflet.groupedlayercontrol.min.js",
    "leaflet.groupedlayercontrol.min.css":
        "leaflet-groupedlayercontrol/dist/leaflet.groupedlayercontrol.min.css",
    "Leaflet.Search.js": "leaflet-search/dist/leaflet-search.min.js",
    "Leaflet.Search.css": "leaflet-search/dist/leaflet-search.min.css",
    "Leaflet.VectorGrid.js": "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
}


class VendorMissing(FileNotFoundError):
    """The vendored plugin files are not there."""


def vendor_dir() -> Path:
    from emgis.layers.settings import ToolSettings

    env = ToolSettings().vendor_dir
    return Path(env) if env else VENDOR_DIR


def _all_files(d: Path) -> list[Path]:
    return [d / p.name / f for p in PACKAGES for f in p.files]


def missing_files(d: Path | None = None) -> list[Path]:
    d = d or vendor_dir()
    return [f for f in _all_files(d) if not f.is_file()]


def require(d: Path | None = None) -> Path:
    """Return the vendor directory, or raise `VendorMissing` saying how to fetch the plugins."""
    d = d or vendor_dir()
    lacking = missing_files(d)
    if lacking:
        raise VendorMissing(f"the Leaflet plugins for the live map are not in {d} (missing "
                            f"{', '.join(str(f.relative_to(d)) for f in lacking[:3])}); run "
                            "`.venv/bin/python -m emgis.maps.vendor` (or scripts/bootstrap.sh), "
                            f"which fetches them once with npm, or set {ENV_VAR} to a directory "
                            "that has them")
    return d


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def fetch(dest: Path | None = None, *, npm: str = "npm", quiet: bool = False) -> Path:
    """Fetch, check and extract every package whose files are missing; return the directory."""
    dest = dest or vendor_dir()
    exe = shutil.which(npm)
    if exe is None:
        raise VendorMissing("npm is not installed; scripts/bootstrap.sh installs it "
                            "(Debian package npm)")
    for pkg in PACKAGES:
        if all((dest / pkg.name / f).is_file() for f in pkg.files):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            spec = f"{pkg.name}@{pkg.version}"
            r = subprocess.run([exe, "pack", spec, "--pack-destination", tmp, "--silent"],
                               capture_output=True, text=True, timeout=300, check=False)
            tgz = Path(tmp) / f"{pkg.name}-{pkg.version}.tgz"
            if r.returncode != 0 or not tgz.is_file():
                raise VendorMissing(f"npm pack {spec} failed: "
                                    f"{(r.stderr or r.stdout).strip()[:400]}")
            got = _integrity(tgz)
            if got != pkg.integrity:
                raise VendorMissing(f"{spec}: the tarball's sha512 is {got}, "
                                    f"not the pinned {pkg.integrity}; refusing to use it")
            with tarfile.open(tgz) as tf:
                for f in pkg.files:
                    member = tf.getmember(f"package/{f}")
                    data = tf.extractfile(member)
                    if data is None:
                        raise VendorMissing(f"{spec}: {f} is not a file in the package")
                    out = dest / pkg.name / f
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(data.read())
        if not quiet:
            print(f"emgis: vendored {pkg.name} {pkg.version} into {dest / pkg.name}")
    return dest


def main() -> int:
    try:
        fetch()
    except (VendorMissing, subprocess.TimeoutExpired) as exc:
        print(f"emgis: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
