"""The report in a real browser: Debian's chromium driven by Playwright (never downloaded).

Loads the report over file://, with no network, and checks: no console errors, no CSP
violations (so the inline script's hash matches), sorting and filtering work, the page is
complete without the script; saves a screenshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkwatch.config import Settings
from linkwatch.jobs.report import generate_report
from tests.report.example import ReportDB, populate_example

CHROMIUM = "/usr/bin/chromium"  # Debian's package "chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no browser at {CHROMIUM}: install Debian's package 'chromium' "
            "(apt-get install chromium); the test never downloads one"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def report_dir(rdb: ReportDB, settings: Settings) -> Path:
    populate_example(rdb)
    generate_report(settings, rdb.store, clock=rdb.clock)
    return settings.report_dir


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=True)
    context.route("http*://**/*", lambda route: route.abort())  # never the network
    tab = context.new_page()
    tab.set_default_timeout(5000)
    problems: list[str] = []
    tab.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    tab.add_init_script(CSP_PROBE)
    try:
        yield tab, problems
    finally:
        context.close()


def _visible_rows(tab: Any, table: str) -> list[str]:
    return [row.inner_text() for row in tab.locator(f"#{table} tbody tr:visible").all()]


def test_report_loads_without_errors_or_csp_violations(
    page: tuple[Any, list[str]], report_dir: Path, tmp_path: Path
) -> None:
    tab, problems = page
    tab.goto((report_dir / "index.html").as_uri())
    assert tab.locator("h1").inner_text() == "Test report"
    assert tab.evaluate("window.__cspViolations") == []
    assert tab.locator("p.filter:visible").count() > 0  # the script ran
    tab.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert problems == []


def test_clicking_a_header_sorts_the_table(page: tuple[Any, list[str]], report_dir: Path) -> None:
    tab, problems = page
    tab.goto((report_dir / "index.html").as_uri())
    header = tab.locator("#domains-table thead th", has_text="Site")
    hosts = sorted(r.split("\t")[0] for r in _visible_rows(tab, "domains-table"))
    header.locator("button").click()
    assert [r.split("\t")[0] for r in _visible_rows(tab, "domains-table")] == hosts
    assert header.get_attribute("aria-sort") == "ascending"
    header.locator("button").click()
    assert [r.split("\t")[0] for r in _visible_rows(tab, "domains-table")] == hosts[::-1]
    links = tab.locator("#domains-table thead th", has_text="Links").locator("button")
    links.click()
    counts = [int(r.split("\t")[1]) for r in _visible_rows(tab, "domains-table")]
    assert counts == sorted(counts)
    assert problems == []


def test_typing_in_the_filter_box_hides_other_rows(
    page: tuple[Any, list[str]], report_dir: Path
) -> None:
    tab, problems = page
    tab.goto((report_dir / "index.html").as_uri())
    assert len(_visible_rows(tab, "problems-table")) == 3
    tab.locator('input[data-filter-for="problems-table"]').fill("census")
    rows = _visible_rows(tab, "problems-table")
    assert len(rows) == 1 and "census.gov" in rows[0]
    assert tab.locator("#problems-table-count").inner_text() == "1 of 3 rows"
    tab.locator('input[data-filter-for="problems-table"]').fill("")
    assert len(_visible_rows(tab, "problems-table")) == 3
    assert problems == []


def test_document_page_loads_and_filters(page: tuple[Any, list[str]], report_dir: Path) -> None:
    tab, problems = page
    tab.goto((report_dir / "index.html").as_uri())
    tab.locator("#documents-table a", has_text="field-notes.txt").click()
    anchor = tab.url.rsplit("#", 1)[1]
    assert tab.locator(f"#{anchor} h3").inner_text().startswith("corpus/field-notes.txt")
    assert tab.locator(f"#{anchor} tbody tr:visible").count() == 3  # the ones to act on
    tab.locator('input[data-filter-for="documents-page"]').fill("dead")
    assert tab.locator(f"#{anchor} tbody tr:visible").count() == 2
    assert tab.locator("#documents-page tbody tr:visible").count() == 3
    assert tab.evaluate("window.__cspViolations") == []
    assert problems == []


def test_everything_is_readable_without_javascript(browser: Any, report_dir: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        tab = context.new_page()
        tab.set_default_timeout(5000)
        tab.goto((report_dir / "index.html").as_uri())
        assert len(_visible_rows(tab, "problems-table")) == 3
        assert tab.locator("p.filter:visible").count() == 0  # no dead controls
        assert "census.gov" in tab.locator("#problems").inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 1280], ids=["phone", "desktop"])
def test_no_page_is_wider_than_the_screen_tables_scroll_inside(
    browser: Any, report_dir: Path, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 800})
    context.route("http*://**/*", lambda route: route.abort())
    tab = context.new_page()
    try:
        pages = ["index.html", "problems.html", "docs/1.html"]
        for name in pages:
            path = report_dir / name
            if not path.exists():
                continue
            tab.goto(path.as_uri())
            overflow = tab.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px screen"
    finally:
        context.close()
