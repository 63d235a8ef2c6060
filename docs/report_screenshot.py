"""Regenerate docs/report-screenshot.png: the report on example-like data, in Debian's chromium.

    .venv/bin/python docs/report_screenshot.py

The data is the example corpus's links with a few dead, failing and redirected ones and
their snapshots (tests/report/example.py), written straight into a fresh state database.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from linkwatch.config import ReportSettings, Settings  # noqa: E402
from linkwatch.jobs.report import generate_report  # noqa: E402
from linkwatch.store import open_store  # noqa: E402
from tests.conftest import FakeClock  # noqa: E402
from tests.report.example import ReportDB, populate_example  # noqa: E402
from tests.report.test_browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

OUT = ROOT / "docs" / "report-screenshot.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock()
        settings = Settings(
            report=ReportSettings(dir=f"{tmp}/reports", title="Newsroom archive: link health")
        )
        with open_store(f"{tmp}/state.db", clock=clock) as store:
            populate_example(ReportDB(store, clock))  # type: ignore[arg-type]
            clock.advance(hours=7)
            generate_report(settings, store, clock=clock)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1500})
                page.goto((settings.report_dir / "index.html").as_uri())
                page.screenshot(path=str(OUT))
            finally:
                browser.close()
    print(OUT)


if __name__ == "__main__":
    main()
