"""The demo report in a real browser: short, the consent grid in the first screen, nothing
overflowing on a phone, readable in light and dark mode, no script.

Debian's chromium through selenium and chromium-driver (`./dev.sh test` installs both as root).
Chromium runs headless with a fresh profile, no network of its own (every name resolves to
nothing; the page's CSP forbids loads anyway). Screenshots are kept as artifacts in
reports/test-artifacts/report-layout/ and in the test's tmp dir.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, demo_audit

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = REPO / "reports" / "test-artifacts" / "report-layout"
DESKTOP = (1400, 900)
PHONE = (390, 844)
SMALL_PHONE = (360, 740)
MAX_HEIGHT = 6000

# Every visible text: its colour and the colour behind it (the first ancestor with an opaque
# background), as rgb(a) strings.
TEXT_COLOURS = r"""
const out = [];
const opaque = c => { const m = c.match(/[\d.]+/g); return m && (m.length < 4 || +m[3] > 0.5); };
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  if (!node.textContent.trim()) continue;
  const el = node.parentElement;
  const box = el.getBoundingClientRect();
  if (!box.width || !box.height || getComputedStyle(el).visibility === 'hidden') continue;
  if (el.closest('details:not([open])') && !el.closest('summary')) continue;
  const st = getComputedStyle(el);
  let bg = null;
  for (let a = el; a; a = a.parentElement) {
    const b = getComputedStyle(a).backgroundColor;
    if (opaque(b)) { bg = b; break; }
  }
  out.push([node.textContent.trim().slice(0, 40), st.color, bg || 'rgb(255, 255, 255)', el.tagName]);
}
return out;
"""


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", css)[:3])


def _luminance(rgb) -> float:
    def ch(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (ch(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(_rgb(fg)), _luminance(_rgb(bg))), reverse=True)
    return (a + 0.05) / (b + 0.05)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromedriver are not installed (./dev.sh test installs them as root)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    yield driver
    driver.quit()


class Page:
    def __init__(self, driver, path: Path, shots: Path):
        self.driver, self.url, self.shots = driver, path.as_uri(), shots

    def open(self, size: tuple[int, int], dark: bool = False) -> None:
        w, h = size
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
        self.driver.get(self.url)

    def js(self, script: str):
        return self.driver.execute_script(script)

    def screenshot(self, name: str, full: bool = True) -> Path:
        width, height = self.js("return [document.documentElement.clientWidth, "
                                "full ? document.documentElement.scrollHeight : innerHeight]"
                                .replace("full", "true" if full else "false"))
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "captureBeyondViewport": full, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        path = self.shots / name
        path.write_bytes(base64.b64decode(shot["data"]))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, ARTIFACTS / name)
        return path


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    out, _, _ = demo_audit(tmp_path_factory)
    shots = tmp_path_factory.mktemp("report-layout")
    (ARTIFACTS / "measurements.json").unlink(missing_ok=True)  # this run's figures only
    return Page(browser, out / "report.html", shots)


def _record(name: str, value) -> None:
    """Measured figures next to the screenshots (the lead quotes them in the issue notes)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "measurements.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = value
    path.write_text(json.dumps(data, indent=2) + "\n")


def test_desktop_height_and_consent_grid_in_the_first_screen(page):
    page.open(DESKTOP)
    m = page.js("""const g = document.querySelector('#consent table').getBoundingClientRect();
        return {height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth,
                gridTop: g.top + scrollY, gridBottom: g.bottom + scrollY, scripts: document.scripts.length}""")
    page.screenshot("desktop-1400.png")
    page.screenshot("desktop-1400-first-screen.png", full=False)
    _record("desktop", m)
    assert m["scripts"] == 0
    assert m["height"] < MAX_HEIGHT, m
    assert m["width"] <= DESKTOP[0]
    assert m["gridBottom"] <= DESKTOP[1], f"consent grid not in the first screen: {m}"


@pytest.mark.parametrize("size", [PHONE, SMALL_PHONE], ids=["390", "360"])
def test_phone_no_table_overflows(page, size):
    page.open(size)
    m = page.js("""return {viewport: document.documentElement.clientWidth,
        page: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
        tables: [...document.querySelectorAll('table')].map(t => ({
            section: t.closest('section').id, scroll: t.scrollWidth,
            right: t.getBoundingClientRect().right}))}""")
    page.screenshot(f"phone-{size[0]}.png")
    _record(f"phone-{size[0]}", m)
    assert m["tables"], "the demo report has tables"
    for t in m["tables"]:
        assert t["scroll"] <= m["viewport"] and t["right"] <= m["viewport"], t
    assert m["page"] <= m["viewport"], m


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_text_contrast(page, dark):
    page.open(DESKTOP, dark=dark)
    page.js("document.querySelectorAll('details').forEach(d => d.open = true)")  # the evidence too
    if dark:
        page.screenshot("desktop-1400-dark.png")
    texts = page.js(TEXT_COLOURS)
    assert len(texts) > 100
    low = sorted({(t[0], t[1], t[2], round(contrast(t[1], t[2]), 2)) for t in texts
                  if contrast(t[1], t[2]) < 4.5}, key=lambda x: x[3])
    _record(f"contrast-{'dark' if dark else 'light'}",
            {"texts": len(texts), "lowest": min(round(contrast(t[1], t[2]), 2) for t in texts)})
    assert not low, low[:10]


def test_print_is_short(page):
    page.open(DESKTOP)
    pdf = base64.b64decode(page.driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})["data"])
    (page.shots / "report.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    _record("print", {"pages": pages})
    assert 0 < pages <= 8, pages
