"""Regenerate docs/screenshots/: build a small demo, serve the console on loopback, sign in
as the department supervisor and photograph every page in Debian's Chromium.

Usage: .venv/bin/python scripts/screenshots.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = ["overview", "compliance", "missed", "closing", "certificates", "audit", "transcripts", "admin", "verify"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main() -> int:
    from playwright.sync_api import sync_playwright

    from core.signatures import DemoPKI
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.synthetic import DEMO_PASSWORD, Scale, generate
    from dashboards.app import serve_in_background

    work = Path(tempfile.mkdtemp(prefix="sohoa-shots-"))
    db = Database(make_engine(f"sqlite:///{work / 'demo.db'}"))
    upgrade(db.engine)
    generate(db, Scale(districts=2, schools_per_district=2, classes_per_school=4, weeks=6), pki_dir=work / "pki",
             progress=False)
    server, url = serve_in_background(db, DemoPKI.load(work / "pki").trust_store())
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/login")
        page.screenshot(path=str(out / "login.png"))
        page.fill("#username", "so.giamsat")
        page.fill("#password", DEMO_PASSWORD)
        page.click("#signin")
        page.wait_for_url("**/overview")
        for name in PAGES:
            page.goto(f"{url}/{name}")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(f"docs/screenshots/{name}.png")
        browser.close()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
