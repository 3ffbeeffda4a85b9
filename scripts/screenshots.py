"""Screenshots of a running emgis (e.g. `emgis demo`) for the README: the live map with an
incident chosen, the four-colour map and the siting map, in Debian's headless Chromium.

    EMGIS_MAP_TILES=none emgis demo --port 8765 &
    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8765 docs/img

Every request outside 127.0.0.1 is refused, as in the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright


def main(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route("**/*", lambda r: (r.continue_() if r.request.url.startswith("http://127.0.0.1:")
                                      else r.abort()))
        page.goto(f"{base}/maps/live")
        page.wait_for_function("Number(document.getElementById('emgis-incident-count')"
                               ".textContent) >= 2",
                               timeout=30000)
        page.click("#emgis-incidents li:has-text('Flooding')")
        page.wait_for_selector(".emgis-route", timeout=30000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "live_map.png"))
        for name, path in (("risk_map", "/maps/risk?kind=admin"),
                           ("siting_map", "/maps/saved/siting_shelters.html")):
            page.goto(base + path)
            page.wait_for_selector(".leaflet-interactive", timeout=30000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / f"{name}.png"))
        browser.close()
    print(f"wrote {', '.join(sorted(f.name for f in out.glob('*.png')))} to {out}")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), Path(sys.argv[2]))
