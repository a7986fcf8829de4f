"""What every browser test shares: Debian's Chromium driven by Playwright for Python (the test
set-up installs it with apt; Playwright's own download is never used), the phone width, the
screenshot folder (git-ignored), and the checks every console page gets: no sideways scroll,
no script error and no CSP violation.

``browser`` is a fixture (tests/conftest.py makes it available to every test module)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import unavailable

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts" / "console"
WIDTH = 375  # a cheap phone's viewport


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        unavailable("Playwright (pip install -e '.[test]')", exc)
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", FileNotFoundError(f"{CHROMIUM} (scripts/setup.sh installs it)"))
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


async def phone(browser: Any, width: int = WIDTH) -> Any:
    """A new Vietnamese phone-sized browser context (close it when done)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return await browser.new_context(
        viewport={"width": width, "height": 740}, locale="vi-VN", device_scale_factor=2
    )


def watch(page: Any, problems: list[str], *, failed_loads: bool = False) -> None:
    """Collect script errors and CSP violations into ``problems`` (a test ends with
    ``assert problems == []``). ``failed_loads``: also count a 4xx/5xx answer's log line."""
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error"
            and (failed_loads or not m.text.startswith("Failed to load resource"))
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))


async def no_sideways_scroll(page: Any, width: int = WIDTH) -> None:
    scrolled = await page.evaluate("document.scrollingElement.scrollWidth")
    assert scrolled <= width, f"the page is {scrolled} px wide at a {width}-px viewport"


async def sign_in(page: Any, base_url: str, login: str, password: str) -> None:
    """Sign in on the console's form; returns once the signed-in page has loaded."""
    await page.goto(f"{base_url}/console/login")
    await page.fill("#login", login)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("form[action='/console/logout']", state="attached")


async def open_menu(page: Any) -> None:
    """Open the console's page links (behind the "Menu" button on a phone; shown on a desk)."""
    summary = page.locator("details.menu > summary")
    if await summary.is_visible() and await page.get_attribute("details.menu", "open") is None:
        await summary.click()


async def go_to(page: Any, link: str) -> None:
    """Click one of the console's page links, opening the "Menu" first where it is closed."""
    await open_menu(page)
    await page.click(f"nav >> text={link}")


async def screenshot(page: Any, name: str) -> Path:
    path = ARTEFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    return path
