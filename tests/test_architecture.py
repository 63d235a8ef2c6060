"""The shape of the code holds: imports go one way (cli -> jobs/daemon -> stages ->
model), stages never touch the store, the store loads no HTTP library."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed: pip install '.[test]'")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROKEN" not in result.stdout


def test_importing_the_store_loads_no_http_library() -> None:
    code = (
        "import sys, linkwatch.store; "
        "print(sorted(m for m in ('aiohttp', 'httpx', 'lxml', 'jinja2') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert out == "[]"


def test_the_suite_turns_every_warning_into_a_failure() -> None:
    # filterwarnings = ["error"] in pyproject.toml: an unclosed connection or file (a
    # ResourceWarning) fails the test that leaked it instead of scrolling past
    with pytest.raises(ResourceWarning):
        warnings.warn("unclosed database", ResourceWarning, stacklevel=1)
