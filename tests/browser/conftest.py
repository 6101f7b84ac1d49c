"""The reference dashboard in a real browser: Debian's Chromium, headless, driven by Playwright
for Python through `executable_path` (Playwright's own browser download is never used), against a
local stack started in this process (moto's server, the Slack emulator, the HTTP API, the pollers).

`make test` installs the browser first (`make browser`); without it these tests fail and say how
to install it: a browser test that silently skips is a defect. Screenshots of each step are saved
under .artifacts/browser/ (CI keeps them as the run's artifacts)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import LocalStack, StackInfo
from local.template import ROOT
from tests.support.local_stack import running_stack

ARTIFACTS = ROOT / ".artifacts" / "browser"
# What the machine's probe found Chromium needs on a closed network: no background connections.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("No Chromium on this machine: run `make browser` (Debian's chromium package), or set CHROMIUM_PATH")
    return found


@pytest.fixture(autouse=True)
def service_env() -> Iterator[dict[str, str]]:
    """Overrides the suite's: the local stack owns the environment of its functions."""
    yield {}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[LocalStack, StackInfo]]:
    with running_stack("browser", health_interval=3600) as started:
        yield started


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if _an_error(message) else None)
    opened.on(
        "response",
        lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 500 else None,
    )
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    # A script error, a CSP refusal or a 5xx is a failure even when the journey passed.
    assert errors == [], f"the page reported errors: {errors}"


def _an_error(message: Any) -> bool:
    """Console errors, but for Chromium's line about a 4xx answer: the API's 4xx are answers the
    page shows (a refused channel, say); 5xx answers are caught separately."""
    return message.type == "error" and not re.match(r"Failed to load resource: .* status of 4\d\d", message.text)


class Screenshots:
    def __init__(self, name: str) -> None:
        self.directory = ARTIFACTS / name
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, page: Any, step: str, *, full_page: bool = True) -> Path:
        path = self.directory / f"{len(self.taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        return path


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(request.node.name)
