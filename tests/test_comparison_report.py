"""comparison.html: the what-if variants compared on one offline page, with and without a browser.

The browser test drives Debian's Chromium with the helpers of test_report.py; when the browser
is missing it fails (never skips) and says to run scripts/install-browser.sh.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd
import pytest

import linkage
from linkage.batch import batch
from linkage.plan.comparison_report import render_comparison_report
from linkage.plan.indicators import INDICATORS
from linkage.whatif import run_whatif, variants
from test_report import HOSTILE, Browser

ROOT = Path(__file__).parents[1]
JILIN = ROOT / "scenarios" / "jilin"
ODD = "drop & co+20%"  # a variant name that needs escaping in HTML and quoting in a URL
SECTIONS = ("variants", "charts", "failed")
STAMP = datetime(2025, 1, 2, 3, 4)
Run = tuple[Path, pd.DataFrame]  # the output folder of a what-if run and its table
WHATIF = """\
base: {base}
description: 吉林 comparison & test
solve:
  stages: [pairing, staffing]
  seed: 0
variants:
  - name: baseline
  - name: "{odd}"
    changes:
      - drop: organizations
        ids: [JL-O00020]
grids:
  - name: base
    names: "base{{base}}"
    axes:
      base: {{set: policy.staffing.base_per_station, values: [3]}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A real what-if run on Jilin: baseline, a dropped organization and a one-point grid."""
    folder = tmp_path_factory.mktemp("comparison")
    path = folder / "whatif.yaml"
    path.write_text(WHATIF.format(base=JILIN, odd=ODD), encoding="utf-8")
    out = folder / "out"
    table = run_whatif(path, out, executor="sequential", progress=False)
    return out, table


def indicator_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c in INDICATORS]


def finite(table: pd.DataFrame, columns: list[str]) -> int:
    return int(table[columns].apply(pd.to_numeric, errors="coerce").notna().to_numpy().sum())


def render(table: pd.DataFrame, **kwargs: Any) -> str:
    kwargs.setdefault("title", "吉林 · whatif.yaml")
    return render_comparison_report(table, generated_at=STAMP, **kwargs)


# ---------------------------------------------------------------------------------------------
# run_whatif


def test_run_whatif_writes_comparison_html_and_each_variant_report(run: Run) -> None:
    """run_whatif writes comparison.html beside comparison.csv, and report.html + plan.xlsx per variant."""
    out, table = run
    assert list(table.index) == ["baseline", ODD, "base3"]
    assert table["solved"].all()
    assert (out / "comparison.csv").exists()
    page = (out / "comparison.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page
    assert "吉林 comparison &amp; test" in page  # the what-if file's description
    for name in table.index:
        folder = out / "variants" / name
        assert (folder / "plan.xlsx").stat().st_size > 0
        report = (folder / "report.html").read_text(encoding="utf-8")
        assert html.escape(f"[{name}]") in report  # the variant's own scenario, not the base
        assert '<section id="pairing-map">' in report
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.csv",
        "comparison.html",
        "variants",
    ]


# ---------------------------------------------------------------------------------------------
# without a browser


def test_render_has_sections_charts_bars_and_links(run: Run) -> None:
    """Every section; a chart per indicator and a bar per known value; links to real reports."""
    out, table = run
    page = render(table, parameters=["base"])
    assert page.rstrip().endswith("</html>")
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    columns = indicator_columns(table)
    assert len(columns) >= 6  # pairing and staffing indicators
    assert page.count('<figure class="card"') == len(columns)
    for column in columns:
        assert f'data-indicator="{column}"' in page
    assert page.count('class="bar bar-') == finite(table, columns)
    baseline = table.loc[["baseline"]]
    assert page.count('class="bar bar-baseline"') == finite(baseline, columns) > 0
    assert page.count('class="baseline-mark"') == finite(baseline, columns)
    # the grid parameter is a column; every variant links to its report and workbook
    assert '<th class="num" scope="col" tabindex="0">base</th>' in page
    links = re.findall(r'href="([^"]+)"', page)
    for name in table.index:
        href = f"variants/{quote(name, safe='')}/report.html"
        assert href in links
        assert (out / unquote(href)).is_file()
        assert (out / unquote(href.replace("report.html", "plan.xlsx"))).is_file()
    assert "variants/drop%20%26%20co%2B20%25/report.html" in links
    assert f">{html.escape(ODD)}</a>" in page
    # nothing is loaded: the SVG namespace is the only URL, links are relative or anchors
    assert set(re.findall(r"https?://[^\"'\s)<]+", page)) == {"http://www.w3.org/2000/svg"}
    assert all(h.startswith(("#", "variants/")) for h in links)
    assert not re.search(r"""\ssrc\s*=""", page)
    assert "全部方案已求解 / every variant solved" in page
    # the grid parameter columns are found without being named: they come before "solved"
    assert render(table) == page


def test_differences_from_the_baseline(run: Run) -> None:
    """Each other variant's indicators show their difference from the baseline; none without one."""
    _, table = run
    columns = indicator_columns(table)
    page = render(table)
    values = table[columns].astype(float)
    both = values.drop(index="baseline").notna() & values.loc["baseline"].notna()
    assert page.count('<span class="delta ') == int(both.to_numpy().sum()) > 0
    # a variant worse on a lower-is-better indicator is marked worse, and vice versa
    unmet = values["weighted_unmet_need"].to_dict()
    worse = float(unmet["base3"]) > float(unmet["baseline"])
    start = page.rindex("<tr>", 0, page.index('href="variants/base3/report.html"'))
    row = page[start : page.index("</tr>", start)]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
    cell = cells[1 + 1 + columns.index("weighted_unmet_need")]  # variant, parameter, solved
    assert f'class="delta {"worse" if worse else "better"}"' in cell

    renamed = render(table.rename(index={"baseline": "status-quo"}))
    assert '<span class="delta ' not in renamed
    assert 'class="bar bar-baseline"' not in renamed
    assert 'class="baseline-mark"' not in renamed
    assert renamed.count('class="bar bar-variant"') == finite(table, columns)
    assert "无基准方案 / no variant named baseline" in renamed


def test_failed_variants_are_listed_and_user_text_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A variant whose solve raised is listed with its error and no link; names and errors are escaped."""
    import linkage.pipeline

    base = linkage.load(JILIN)
    scenarios = variants(
        base,
        {
            "variants": [
                {"name": "baseline"},
                {"name": "boom", "changes": [{"set": {"policy.staffing.base_per_station": 3}}]},
            ]
        },
    )
    real = linkage.pipeline.solve

    def flaky(scenario: linkage.Scenario, *args: Any, **kwargs: Any) -> linkage.Plan:
        if scenario.name.endswith("[boom]"):
            raise RuntimeError(HOSTILE)
        return real(scenario, *args, **kwargs)

    monkeypatch.setattr(linkage.pipeline, "solve", flaky)
    table = batch(scenarios, executor="sequential", stages=["pairing"], progress=False)
    assert not table.loc["boom", "solved"]

    # a third row: a plan was written but a stage found none; its name looks like markup
    stuck = table.loc[["baseline"]].rename(index={"baseline": HOSTILE})
    stuck["solved"] = False
    stuck["error"] = "pairing: infeasible"
    stuck["pairing.status"] = "infeasible"
    page = render(pd.concat([table, stuck]))

    assert HOSTILE not in page
    assert page.count("<script") == 1
    escaped = html.escape(HOSTILE)
    assert page.count(escaped) >= 4  # table, chart labels, failed list, the error
    failed = page[page.index('<section id="failed">') :]
    failed = failed[: failed.index("</section>")]
    assert failed.count("<li ") == 2
    boom = failed[failed.index('data-variant="boom"') :]
    boom = boom[: boom.index("</li>")]
    assert "RuntimeError: " + escaped in boom and "无方案 / no plan" in boom
    assert 'href="variants/boom/' not in page  # no folder was written for it
    assert f'href="variants/{quote(HOSTILE, safe="")}/report.html"' in failed  # plan written
    assert "pairing: infeasible" in failed
    assert "1 已求解 / solved · 2 未求解 / not solved" in page
    # the failed variant has no bars, only a dash per chart
    columns = indicator_columns(table)
    assert page.count('data-variant="boom"') == 1  # its failed-list item, never a bar
    assert page.count('class="bar bar-') == 2 * finite(table.loc[["baseline"]], columns)


# ---------------------------------------------------------------------------------------------
# in the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    session = Browser()
    yield session
    session.close()


def test_comparison_opens_in_chromium_with_no_error_and_no_network(
    browser: Browser, run: Run
) -> None:
    """comparison.html loads with no console error or request; sorts, shows tooltips, links out."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    out, table = run
    driver = browser.open(out / "comparison.html")
    assert browser.problems() == []
    assert driver.execute_script("return document.documentElement.dataset.ready") == "1"
    columns = indicator_columns(table)
    count = "return document.querySelectorAll(arguments[0]).length"
    assert driver.execute_script(count, "#charts svg.chart") == len(columns)
    assert driver.execute_script(count, "#charts rect.bar") == finite(table, columns)
    assert driver.execute_script(count, "#variants-table tbody tr") == len(table)
    for svg in driver.find_elements("css selector", "#charts svg.chart"):
        assert svg.size["width"] > 300 and svg.size["height"] > 40

    # sorting by the total time, both ways
    header = driver.find_element(
        "xpath", "//table[@id='variants-table']//th[contains(., 'total s')]"
    )

    def times() -> list[float]:
        return driver.execute_script(
            "var t = document.getElementById('variants-table');"
            "return Array.from(t.tBodies[0].rows).map(function (r) {"
            " return parseFloat(r.cells[r.cells.length - 1].dataset.v); });"
        )

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
    header.click()
    assert times() == sorted(table["total_s"].tolist())
    header.click()
    assert times() == sorted(table["total_s"].tolist(), reverse=True)

    # a bar's tooltip names its variant
    bar = driver.find_element("css selector", f'#charts rect.bar[data-variant="{ODD}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar)
    ActionChains(driver).move_to_element(bar).perform()
    assert ODD in driver.find_element("id", "tooltip").text

    # the variant's link opens its own report, offline too
    link = driver.find_element("link text", ODD)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    WebDriverWait(driver, 10).until(
        lambda d: (
            d.current_url.endswith("/report.html")
            and d.execute_script("return document.documentElement.dataset.ready") == "1"
        )
    )
    assert f"[{ODD}]" in driver.title
    assert browser.problems() == []
