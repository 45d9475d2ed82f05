"""Make the dashboard's PNG icons from ``cloud/api/dashboard/icon.svg`` (the one drawing):
the installable app needs bitmaps (Android's home screen and splash, iOS's apple-touch-icon, the
notification badge), and every icon must stay the same moon as the SVG.

They are rendered by the Chromium the browser tests use (Debian's ``/usr/bin/chromium``,
driven by Playwright), so they are exactly what a browser draws from the SVG:

    .venv/bin/python -m tests.tools.dashboard_icons

writes the files listed in ``ICONS`` next to the SVG; commit them with the SVG when it changes.
``tests/unit/test_dashboard_app_files.py`` checks their sizes against the manifest.
"""

from __future__ import annotations

import argparse
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

DASHBOARD = Path(__file__).resolve().parents[2] / "cloud" / "api" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
SVG_NS = "http://www.w3.org/2000/svg"
# The icon's circle: a full-bleed icon is filled with it, so a mask of any shape shows the moon
# on the same night blue.
ICON_BLUE = "#1f2a44"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Icon:
    name: str
    size: int
    # "any": the drawing as it is, on transparent. "full-bleed": opaque square, the drawing
    # inside the middle 80 % (the maskable safe zone is a centred circle of 40 % radius; iOS
    # rounds the corners of apple-touch-icon itself). "badge": the moon alone in white on
    # transparent, as Android wants a notification badge (it uses the alpha channel only).
    style: str


ICONS = (
    Icon("icon-192.png", 192, "any"),
    Icon("icon-512.png", 512, "any"),
    Icon("icon-maskable-512.png", 512, "full-bleed"),
    Icon("apple-touch-icon.png", 180, "full-bleed"),
    Icon("badge-96.png", 96, "badge"),
)


def _inner(svg: ET.Element) -> str:
    return "".join(ET.tostring(child, encoding="unicode") for child in svg)


def compose(source: str, icon: Icon) -> str:
    """The SVG document to draw for one icon, built from icon.svg's own elements."""
    ET.register_namespace("", SVG_NS)
    svg = ET.fromstring(source)
    view_box = svg.get("viewBox", "0 0 32 32")
    width = float(view_box.split()[2])
    head = f'<svg xmlns="{SVG_NS}" width="{icon.size}" height="{icon.size}"'
    if icon.style == "any":
        return f'{head} viewBox="{view_box}">{_inner(svg)}</svg>'
    if icon.style == "full-bleed":
        margin = width * 0.1
        return (
            f'{head} viewBox="{view_box}"><rect width="{width}" height="{width}" '
            f'fill="{ICON_BLUE}"/><g transform="translate({margin} {margin}) scale(0.8)">'
            f"{_inner(svg)}</g></svg>"
        )
    if icon.style == "badge":
        paths = svg.findall(f"{{{SVG_NS}}}path")
        for path in paths:
            path.set("fill", "#fff")
        moon = "".join(ET.tostring(path, encoding="unicode") for path in paths)
        # The view box is fitted to the moon in the browser (getBBox), see _render.
        return f'{head} viewBox="{view_box}" data-fit="true">{moon}</svg>'
    raise ValueError(f"unknown icon style {icon.style!r}")


def _render(page: Page, document: str, size: int) -> bytes:
    page.set_viewport_size({"width": size, "height": size})
    page.set_content(f"<!doctype html><body style='margin:0'>{document}</body>")
    # A badge fills its square: fit the view box to the moon, with a 4 % margin, centred.
    page.evaluate(
        """() => {
        const svg = document.querySelector('svg[data-fit]');
        if (!svg) return;
        const box = svg.getBBox();
        const side = Math.max(box.width, box.height) * 1.08;
        const x = box.x + box.width / 2 - side / 2;
        const y = box.y + box.height / 2 - side / 2;
        svg.setAttribute('viewBox', `${x} ${y} ${side} ${side}`);
    }"""
    )
    return page.locator("svg").screenshot(omit_background=True, type="png")


def render_icons(folder: Path = DASHBOARD) -> list[Path]:
    source = (folder / "icon.svg").read_text()
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(device_scale_factor=1)
            for icon in ICONS:
                target = folder / icon.name
                target.write_bytes(_render(page, compose(source, icon), icon.size))
                written.append(target)
                logger.info("wrote %s (%d px, %s)", target, icon.size, icon.style)
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=DASHBOARD, help="where icon.svg is")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    render_icons(arguments.folder)


if __name__ == "__main__":
    main()
