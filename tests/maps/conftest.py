"""A real headless Chromium for map tests, on a closed network.

Debian's chromium driven by Playwright (PyPI) through ``executable_path``; ``playwright install``
is neither needed nor possible here. Without chromium or playwright the browser tests skip
locally with a reason; with ``CI=true`` they fail, as a skipped browser test hides a broken set-up.
Screenshots go to the test's tmp dir and, when ``PETADESA_TEST_ARTIFACTS`` is set, there too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = Path(os.environ.get("PETADESA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a skipped browser test is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Playwright browser context on Debian's chromium with a fresh profile."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.is_file():
        _missing(f"no chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            service_workers="block",
        )
        yield context
        context.close()


@pytest.fixture
def keep_artifact(tmp_path: Path):
    """Copy a file to ``$PETADESA_TEST_ARTIFACTS`` (when set); returns the copies' paths."""
    target = os.environ.get("PETADESA_TEST_ARTIFACTS")

    def keep(path: Path) -> Path:
        if not target:
            return path
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(path, folder / path.name))

    return keep
