"""report.html: rendered without a network, then opened in a real headless Chromium.

The browser tests drive Debian's Chromium through its chromedriver with selenium. When the
browser is missing they fail (never skip) and say to run scripts/install-browser.sh.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import linkage
from linkage.plan import report as report_module
from linkage.plan.report import render_report, write_report

SCENARIOS = Path(__file__).parents[1] / "scenarios"
CHROMIUM = Path(os.environ.get("LINKAGE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("LINKAGE_CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL_HINT = "run scripts/install-browser.sh (it installs Debian's chromium and chromium-driver)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
HOSTILE = '<script>alert("linkage")</script>'
SECTIONS = ("certificates", "pairing-map", "coverage-map", "indicators", "unmet")


# ---------------------------------------------------------------------------------------------
# plans


@pytest.fixture(scope="module")
def jilin() -> tuple[linkage.Scenario, linkage.Plan]:
    scenario = linkage.load(SCENARIOS / "jilin")
    return scenario, linkage.solve(scenario)


@pytest.fixture(scope="module")
def report_file(jilin, tmp_path_factory) -> Path:
    scenario, plan = jilin
    return write_report(scenario, plan, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def hostile(jilin) -> tuple[linkage.Scenario, linkage.Plan, str]:
    """Jilin with a county, a target and a station all named ``HOSTILE``; and the station's code."""
    scenario, plan = jilin
    tables = {name: frame.copy() for name, frame in plan.tables.items()}
    station = str(tables["stations"]["region"].iloc[-1])
    tables["stations"].loc[tables["stations"].index[-1], "name"] = HOSTILE
    target = str(tables["targets"]["target"].iloc[0])
    tables["targets"].loc[tables["targets"]["target"] == target, "name"] = HOSTILE
    tables["pairs"].loc[tables["pairs"]["target"] == target, "target_name"] = HOSTILE
    regions = scenario.regions.copy()
    county = regions.loc[regions["code"] == station, "parent"].iloc[0]
    regions.loc[regions["code"].isin([county, target]), "name"] = HOSTILE
    return scenario.replace(regions=regions), dataclasses.replace(plan, tables=tables), station


def finite_bars(plan: linkage.Plan) -> int:
    frame = plan.tables["indicators"]
    return int(np.isfinite(frame[["before", "after"]].to_numpy(dtype=float)).sum())


# ---------------------------------------------------------------------------------------------
# without a browser


def test_render_has_every_section_and_no_link_out(jilin):
    """The document has every section, one line per pair, one point per station, and no URL out."""
    scenario, plan = jilin
    page = render_report(scenario, plan)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    assert "求解证书 / solver certificates" in page
    assert page.count('class="pair-line') == len(plan.tables["pairs"]) > 0
    assert page.count('class="station cov-') == len(plan.tables["stations"]) > 0
    assert page.count('class="bar bar-') == finite_bars(plan) > 0
    for report in plan.reports:  # each stage's certificate, with its method
        assert f"<code>{report.method}</code>" in page
    # the SVG namespace is the only URL in the page; nothing is loaded from anywhere
    assert set(re.findall(r"https?://[^\"'\s)<]+", page)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", page)
    assert "default-src 'none'" in page


def test_render_escapes_user_names(hostile):
    """A region, target and station named <script>… appear escaped; the only script is ours."""
    scenario, plan, _ = hostile
    page = render_report(scenario, plan)
    assert HOSTILE not in page
    assert page.count("<script") == 1
    assert page.count("&lt;script&gt;alert(&quot;linkage&quot;)&lt;/script&gt;") >= 3


@pytest.mark.parametrize(
    ("stages", "present", "absent"),
    [
        (["pairing"], "pairing-svg", "the plan has no staffing stage"),
        (["staffing"], "coverage-svg", "the plan has no pairing stage"),
    ],
)
def test_render_with_one_stage(stages, present, absent):
    """A plan of one stage renders what it can and says which sections it has nothing for."""
    scenario = linkage.load(SCENARIOS / "jilin")
    plan = linkage.solve(scenario, stages=stages)
    page = render_report(scenario, plan)
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    assert f'id="{present}"' in page
    assert absent in page
    assert page.count('class="bar bar-') == finite_bars(plan) > 0


def test_write_report_replaces_atomically(jilin, tmp_path, monkeypatch):
    """write_report replaces the file whole, leaves no temporary file, and keeps the old on error."""
    scenario, plan = jilin
    path = tmp_path / "plan" / "report.html"
    write_report(scenario, plan, path)
    first = path.read_text(encoding="utf-8")
    assert first == render_report(scenario, plan, generated_at=_stamp(first))
    assert path.stat().st_mode & 0o777 == 0o644

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(report_module, "render_report", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        write_report(scenario, plan, path)
    assert path.read_text(encoding="utf-8") == first
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def _stamp(page: str) -> Any:
    from datetime import datetime

    found = re.search(r"generated (\d{4}-\d\d-\d\d \d\d:\d\d)", page)
    assert found
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M")


def test_missing_browser_fails_with_install_hint(tmp_path):
    """Without Chromium the browser tests fail (not skip) and say to run install-browser.sh."""
    with pytest.raises(BrowserMissing, match=r"scripts/install-browser\.sh"):
        start_chromium(chromium=tmp_path / "no-chromium")
    browser = Browser(chromium=tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=r"scripts/install-browser\.sh"):
        browser.driver  # noqa: B018
    browser.close()


# ---------------------------------------------------------------------------------------------
# the browser


class BrowserMissing(RuntimeError):
    """Chromium, chromedriver or selenium is not installed."""


def start_chromium(
    chromium: Path = CHROMIUM, chromedriver: Path = CHROMEDRIVER, profile: Path | None = None
) -> Any:
    """A headless Chromium under chromedriver with a fresh profile, logging console and network."""
    missing = [str(p) for p in (chromium, chromedriver) if not os.access(p, os.X_OK)]
    if missing:
        raise BrowserMissing(
            f"the report's browser tests need {', '.join(missing)}: {INSTALL_HINT}"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise BrowserMissing(f"selenium is not installed ({exc}): pip install -e '.[dev]'") from exc
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = profile or Path(tempfile.mkdtemp(prefix="linkage-chromium-"))
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # a given chromedriver path: selenium's manager never looks for (or downloads) a driver
    return webdriver.Chrome(options=options, service=Service(str(chromedriver)))


class Browser:
    """Started on first use; a test that needs it and cannot have it fails with the hint."""

    def __init__(self, chromium: Path = CHROMIUM, chromedriver: Path = CHROMEDRIVER):
        self.chromium, self.chromedriver = chromium, chromedriver
        self._driver: Any = None
        self._error = ""
        self._profile = Path(tempfile.mkdtemp(prefix="linkage-chromium-"))

    @property
    def driver(self) -> Any:
        if self._driver is None and not self._error:
            try:
                self._driver = start_chromium(self.chromium, self.chromedriver, self._profile)
            except BrowserMissing as exc:
                self._error = str(exc)
        if self._error:
            pytest.fail(self._error, pytrace=False)
        return self._driver

    def open(self, path: Path) -> Any:
        """Load a file:// page with fresh logs and wait until its script has run."""
        from selenium.webdriver.support.ui import WebDriverWait

        driver = self.driver
        driver.set_window_size(1280, 900)
        driver.get("about:blank")
        driver.get_log("browser")  # drain what earlier pages logged
        driver.get_log("performance")
        driver.get(path.resolve().as_uri())
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        return driver

    def problems(self) -> list[str]:
        """Console errors, page errors, and every request that was not for a file: or data: URL."""
        import json

        driver = self.driver
        found = [
            f"console {entry['level']}: {entry['message']}"
            for entry in driver.get_log("browser")
            if entry["level"] in ("SEVERE", "WARNING")
        ]
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    found.append(f"network request: {url}")
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
        )
        found += [f"resource: {url}" for url in resources if not url.startswith(("file:", "data:"))]
        return found

    def close(self) -> None:
        if self._driver is not None:
            self._driver.quit()
            self._driver = None
        shutil.rmtree(self._profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    session = Browser()
    yield session
    session.close()


def _count(driver: Any, selector: str) -> int:
    return int(driver.execute_script(f"return document.querySelectorAll({selector!r}).length"))


def _hover(driver: Any, element: Any) -> str:
    """Move the mouse onto the element; the tooltip's text ('' when hidden)."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    ActionChains(driver).move_to_element(element).perform()
    tip = driver.find_element("id", "tooltip")
    return tip.text if tip.is_displayed() else ""


# ---------------------------------------------------------------------------------------------
# in the browser


def test_report_opens_with_no_error_and_no_network(browser, report_file, jilin):
    """The report loads from file:// with no console or page error and requests nothing."""
    scenario, _ = jilin
    driver = browser.open(report_file)
    assert browser.problems() == []
    assert driver.execute_script("return document.documentElement.dataset.ready") == "1"
    assert scenario.meta.name in driver.title
    nav = driver.execute_script("return performance.getEntriesByType('navigation')[0].name")
    assert nav.startswith("file:")


def test_maps_draw_pairs_and_stations(browser, report_file, jilin):
    """The pairing map has a line per pair and a dot per target; coverage a dot per station."""
    _, plan = jilin
    driver = browser.open(report_file)
    assert _count(driver, "#pairing-svg line.pair-line") == len(plan.tables["pairs"])
    assert _count(driver, "#pairing-svg circle.target") == len(plan.tables["targets"])
    assert _count(driver, "#coverage-svg circle.station") == len(plan.tables["stations"])
    short = int((plan.tables["stations"]["coverage"] < 0.5).sum())
    assert _count(driver, "#coverage-svg circle.cov-3") == short
    # every mark lies inside its map and the maps take room on the page
    outside = driver.execute_script(
        """
        var bad = 0;
        document.querySelectorAll('svg.map').forEach(function (svg) {
          var box = svg.viewBox.baseVal;
          svg.querySelectorAll('circle.station, circle.target, line.pair-line')
            .forEach(function (el) {
              var b = el.getBBox();
              if (b.x < box.x || b.y < box.y || b.x + b.width > box.x + box.width ||
                  b.y + b.height > box.y + box.height) { bad += 1; }
            });
        });
        return bad;
        """
    )
    assert outside == 0
    for map_id in ("pairing-svg", "coverage-svg"):
        size = driver.find_element("id", map_id).size
        assert size["width"] > 300 and size["height"] > 200
    lengths = driver.execute_script(
        "return Array.from(document.querySelectorAll('line.pair-line'))"
        ".map(function (l) { return l.getTotalLength(); })"
    )
    assert min(lengths) > 0


def test_indicator_charts_have_bars_and_targets(browser, report_file, jilin):
    """One chart per indicator with a bar per known value, and the policy targets marked."""
    _, plan = jilin
    frame = plan.tables["indicators"]
    driver = browser.open(report_file)
    assert _count(driver, "#indicators svg.chart") == len(frame)
    assert _count(driver, "#indicators rect.bar") == finite_bars(plan)
    assert _count(driver, "#indicators line.target-mark") == int(frame["target"].notna().sum())
    # a share's bar is drawn to scale: after / before widths follow the values
    row = frame.set_index("indicator").loc["station_coverage"]
    widths = driver.execute_script(
        "var c = document.querySelector('[data-indicator=station_coverage]');"
        "return [c.querySelector('.bar-before').getBBox().width,"
        " c.querySelector('.bar-after').getBBox().width];"
    )
    assert widths[1] / widths[0] == pytest.approx(row["after"] / row["before"], rel=0.02)


def test_hover_shows_tooltip(browser, report_file, jilin):
    """Hovering a target or a station shows its name, code and figures; leaving hides it."""
    _, plan = jilin
    driver = browser.open(report_file)
    targets = driver.find_elements("css selector", "#pairing-svg circle.target")
    last = plan.tables["targets"].iloc[-1]
    text = _hover(driver, targets[-1])
    assert str(last["name"]) in text and str(last["target"]) in text
    assert "已结对 / paired" in text
    stations = driver.find_elements("css selector", "#coverage-svg circle.station")
    text = _hover(driver, stations[-1])
    assert "覆盖率 / coverage" in text and "FTE" in text
    code = re.search(r"\((\d+)\)", text)
    assert code and code.group(1) in set(plan.tables["stations"]["region"].astype(str))
    assert _hover(driver, driver.find_element("css selector", "header h1")) == ""
    assert browser.problems() == []


def test_tables_sort_and_layers_toggle(browser, report_file):
    """Clicking a numeric header sorts its table both ways; a map layer checkbox hides the layer."""
    driver = browser.open(report_file)
    table = driver.find_element("id", "unmet-volunteers")
    header = table.find_elements("css selector", "thead th")[5]  # 缺口 / unmet
    assert "unmet" in header.text

    def column() -> list[float]:
        return driver.execute_script(
            "return Array.from(arguments[0].tBodies[0].rows)"
            ".map(function (r) { return parseFloat(r.cells[5].dataset.v); })",
            table,
        )

    driver.execute_script("arguments[0].scrollIntoView()", header)
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    ascending = column()
    assert len(ascending) > 1 and ascending == sorted(ascending)
    header.click()
    assert column() == sorted(ascending, reverse=True)

    box = driver.find_element("css selector", "input[data-layer=layer-pairs]")
    layer = driver.find_element("css selector", "#pairing-svg .layer-pairs")
    assert layer.is_displayed()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    assert not layer.is_displayed()
    box.click()
    assert layer.is_displayed()
    assert browser.problems() == []


def test_screenshot_is_a_png(browser, report_file, tmp_path_factory):
    """A full-page screenshot of the report is a non-empty PNG of the page's size."""
    driver = browser.open(report_file)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(height + 150, 12000))
    path = tmp_path_factory.mktemp("screenshot") / "report.png"
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, tall = struct.unpack(">II", data[16:24])
    assert width >= 1000 and tall >= min(height, 12000) * 0.9
    assert len(data) > 50_000  # maps, charts and text, not a blank page


def test_hostile_names_render_as_text(browser, hostile, tmp_path):
    """Names that look like markup show as text in the browser and run nothing."""
    scenario, plan, station = hostile
    path = write_report(scenario, plan, tmp_path / "report.html")
    driver = browser.open(path)
    assert browser.problems() == []
    assert HOSTILE in driver.execute_script("return document.body.textContent")
    assert _count(driver, "script") == 1
    dots = driver.find_elements("css selector", f'#coverage-svg circle[data-tip*="({station})"]')
    assert len(dots) == 1
    # bring it above its neighbours so that the mouse lands on it
    driver.execute_script("arguments[0].parentNode.appendChild(arguments[0])", dots[0])
    text = _hover(driver, dots[0])
    assert station in text and HOSTILE in text


def test_checks_catch_a_broken_page(browser, report_file, tmp_path):
    """The checks see a script error and a network request when a page has them."""
    page = report_file.read_text(encoding="utf-8")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    # loopback only: nothing listens on the discard port, the request just fails
    page = page.replace(
        "</body>",
        '<img src="http://127.0.0.1:9/tile.png" alt=""><script>notDefined();</script></body>',
    )
    broken = tmp_path / "broken.html"
    broken.write_text(page, encoding="utf-8")
    browser.open(broken)
    problems = browser.problems()
    assert any("notDefined" in p for p in problems), problems
    assert any(p.startswith("network request: http://127.0.0.1:9/") for p in problems), problems


def test_unmet_tables_follow_the_plan(jilin):
    """The unmet summary's amounts add up to each stage's total shortfall."""
    scenario, plan = jilin
    page = render_report(scenario, plan)
    summary = page[page.index('id="unmet-summary"') :]
    summary = summary[: summary.index("</table>")]
    amounts: dict[str, float] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", summary)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        values = re.findall(r'data-v="([^"]+)"', row)
        stage = cells[0]
        amounts[stage] = amounts.get(stage, 0.0) + float(values[1])
    expected = {
        "牵手结对 / pairing": plan.tables["targets"]["shortfall"].sum(),
        "社工配置 / staffing": plan.tables["stations"]["shortfall"].sum(),
        "志愿服务 / volunteers": plan.tables["volunteer_demand"]["shortfall_hours"].sum(),
        "资金配置 / funds": plan.tables["fund_demand"]["shortfall_yuan"].sum(),
    }
    assert amounts == pytest.approx({k: float(v) for k, v in expected.items()})
    top = page[page.index('id="unmet-funds"') :]
    top = top[: top.index("</table>")]
    assert top.count("<tr>") - 1 == min(
        20, int((plan.tables["fund_demand"]["shortfall_yuan"] > 0).sum())
    )
    largest = plan.tables["fund_demand"].nlargest(1, "shortfall_yuan").iloc[0]
    assert f"<code>{largest['station']}</code>" in top
