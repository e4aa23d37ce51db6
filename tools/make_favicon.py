"""Rasterize src/autoreply/web/static/favicon.svg into favicon.ico (16, 32 and 48 px).

Run after changing the SVG: ``python tools/make_favicon.py`` (needs Playwright with
Debian's Chromium at /usr/bin/chromium, and Pillow). The ICO is what clients that never
read the page's ``<link rel="icon">`` ask for at ``/favicon.ico``.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

STATIC = Path(__file__).resolve().parents[1] / "src" / "autoreply" / "web" / "static"
SIZES = (16, 32, 48)


def main() -> None:
    svg = (STATIC / "favicon.svg").read_text(encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 256, "height": 256})
        page.set_content(
            f"<style>html,body{{margin:0;background:transparent}}svg{{width:256px;height:256px;display:block}}</style>{svg}"
        )
        png = page.screenshot(omit_background=True)
        browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    image.save(STATIC / "favicon.ico", format="ICO", sizes=[(s, s) for s in SIZES])


if __name__ == "__main__":
    main()
