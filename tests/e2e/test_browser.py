"""A buyer in a real (headless) Chromium: browse, check out, pay, see the key, find the order again."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import DeployFactory, make_keys

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = os.environ.get("KEYRELAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
BUYER = "browser-buyer@example.com"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # CI installs Chromium; a missing browser is a broken environment, so fail rather than skip.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; install it (apt-get install chromium) or set KEYRELAY_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def test_buy_in_the_browser(deploy: DeployFactory, browser: object, tmp_path: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    deployment = deploy("sqlite")
    keys = make_keys(3, prefix="WEB")
    product = deployment.admin().create_product(keys=keys, price_minor=1234)

    context = browser.new_context(base_url=deployment.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto("/")
        page.get_by_test_id(f"product-{product['slug']}").click()
        expect(page).to_have_url(re.compile(rf"/p/{product['slug']}$"))
        page.fill("#quantity", "1")
        page.fill("#contact", BUYER)
        page.get_by_role("button", name="Check out").click()

        expect(page).to_have_url(re.compile(r"/pay/sandbox/"))
        page.get_by_test_id("sandbox-pay").click()

        expect(page).to_have_url(re.compile(r"/orders/[A-Z0-9]+\?t="))
        number = page.get_by_test_id("order-number").inner_text().strip()
        # The page refreshes itself every 3 s while the payment is on its way.
        shown = page.get_by_test_id("keys").locator("code")
        expect(shown).to_have_count(1, timeout=20_000)
        key = shown.first.inner_text().strip()
        assert key in keys
        page.screenshot(path=str(tmp_path / "order-delivered.png"), full_page=True)

        page.get_by_role("link", name="Find my order").first.click()
        expect(page).to_have_url(re.compile(r"/lookup$"))
        page.fill("#number", number)
        page.fill("#contact", BUYER)
        page.get_by_role("button", name="Look up").click()
        expect(page).to_have_url(re.compile(rf"/orders/{number}\?t="))
        expect(page.get_by_test_id("keys").locator("code")).to_have_text([key])
        page.screenshot(path=str(tmp_path / "order-found.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        raise
    finally:
        context.close()
    assert (tmp_path / "order-found.png").stat().st_size > 0
