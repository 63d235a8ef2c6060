"""The shape of the code holds: imports go one way (cli -> jobs/daemon -> stages ->
model), stages never touch the store, the store loads no HTTP library."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import typing
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


def _carries_rows(hint: object) -> bool:
    """Whether a type hint is, or holds, a ``dict[str, Any]`` row."""
    if typing.get_origin(hint) is dict and typing.get_args(hint) == (str, typing.Any):
        return True
    return any(_carries_rows(arg) for arg in typing.get_args(hint))


def test_the_store_speaks_in_records_not_rows() -> None:
    # the raw SQL primitives are for the store's own record readers (and tests)
    raw = {"query", "scalar"}
    json_payloads = {"finish_run(summary)"}  # a job's own figures, free-form JSON
    from linkwatch.store import Store

    offenders = []
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        if name.startswith("_") or name in raw:
            continue
        hints = typing.get_type_hints(method)
        offenders += [f"{name}({arg})" for arg, hint in hints.items() if _carries_rows(hint)]
    assert [o for o in offenders if o not in json_payloads] == []
