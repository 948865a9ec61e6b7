"""The /_sandbox/ page in a real browser: headless Chromium driven by Selenium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import NO_RETRY

from mktows import FaultError, LeadRecord, SyncStatus
from mktows.sandbox.pytest_plugin import MktowsSandbox

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait as _Wait  # noqa: E402


def WebDriverWait(driver: Any, timeout: float) -> Any:
    """A wait that rides out the page being replaced under it.

    While a form's answer replaces the page, Chromium may report an element found a
    moment ago as missing, stale, or "not in the document" (a bare WebDriverException),
    so every WebDriver error means "not yet". Each condition below is false on the page
    the click left, and one that never comes true still fails, as a timeout.
    """
    return _Wait(driver, timeout, ignored_exceptions=(WebDriverException,))


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path("/tmp/mktows-sandbox-page.png")

# CI installs them: there a missing browser fails the tests instead of skipping them.
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists())
    and os.environ.get("CI") != "true",
    reason="needs the Debian packages chromium and chromium-driver (.ci/run installs them)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,900")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_calls_page_lists_a_call_and_shows_its_envelope(
    browser: Any, mktows_sandbox: MktowsSandbox
) -> None:
    with mktows_sandbox.client() as client:
        lead_id = client.sync_lead(LeadRecord(email="page@example.com")).lead_id
    browser.get(mktows_sandbox.base_url + "/_sandbox/")
    table = browser.find_element(By.ID, "calls")
    assert "page@example.com" in table.text
    assert "CREATED" in table.text
    browser.save_screenshot(str(SCREENSHOT))  # for the README
    browser.find_element(By.CLASS_NAME, "call-link").click()
    request = WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "request-body").text)
    assert "<ns1:paramsSyncLead" in request
    assert "page@example.com" in request
    assert "successSyncLead" in browser.find_element(By.ID, "response-body").text
    assert str(lead_id) in browser.find_element(By.ID, "lead-after").text


def test_a_fault_rule_added_through_the_form_fails_the_next_call(
    browser: Any, mktows_sandbox: MktowsSandbox
) -> None:
    browser.get(mktows_sandbox.base_url + "/_sandbox/faults")
    form = browser.find_element(By.ID, "fault-form")
    form.find_element(By.NAME, "email").send_keys("*@flaky.test")
    form.find_element(By.NAME, "code").send_keys("20110")
    browser.find_element(By.ID, "add-fault").click()
    WebDriverWait(browser, 10).until(
        lambda b: "*@flaky.test" in b.find_element(By.ID, "faults").text
    )
    with mktows_sandbox.client(retry=NO_RETRY) as client, pytest.raises(FaultError) as caught:
        client.sync_lead(LeadRecord(email="x@flaky.test"))
    assert caught.value.code == 20110
    browser.get(mktows_sandbox.base_url + "/_sandbox/calls?outcome=FAULT")
    assert "20110" in browser.find_element(By.ID, "calls").text
    # A bad rule is refused with the reason, and a rule is removed with its button.
    browser.get(mktows_sandbox.base_url + "/_sandbox/faults")
    browser.find_element(By.ID, "fault-form").find_element(By.NAME, "code").send_keys("1")
    browser.find_element(By.ID, "add-fault").click()
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "form-error"))
    assert "neither a syncLead fault code" in browser.find_element(By.ID, "form-error").text
    mktows_sandbox.add_fault(code=20023)
    browser.get(mktows_sandbox.base_url + "/_sandbox/faults")
    browser.find_element(By.CLASS_NAME, "remove").click()
    WebDriverWait(browser, 10).until(lambda b: "20023" not in b.find_element(By.ID, "faults").text)
    with mktows_sandbox.client(retry=NO_RETRY) as client:  # the rule matched every call
        assert client.sync_lead(LeadRecord(email="after@example.com")).status is SyncStatus.CREATED


def test_a_hostile_value_renders_as_text(browser: Any, mktows_sandbox: MktowsSandbox) -> None:
    hostile = "<script>alert(1)</script>"
    [lead_id] = mktows_sandbox.seed([{"email": "h@example.com", "attributes": {"City": hostile}}])
    with mktows_sandbox.client() as client:
        client.sync_lead(LeadRecord(email="h@example.com", attributes={"Company": hostile}))
    for path in ("/_sandbox/leads", f"/_sandbox/leads/{lead_id}", "/_sandbox/calls/1"):
        browser.get(mktows_sandbox.base_url + path)
        assert hostile in browser.find_element(By.TAG_NAME, "main").text, path
        assert browser.find_elements(By.CSS_SELECTOR, "main script") == []
    browser.get(mktows_sandbox.base_url + "/_sandbox/leads?q=oslo")
    assert browser.find_elements(By.CLASS_NAME, "lead-link") == []
    browser.get(mktows_sandbox.base_url + "/_sandbox/leads?q=alert")
    assert len(browser.find_elements(By.CLASS_NAME, "lead-link")) == 1
    browser.get(mktows_sandbox.base_url + "/_sandbox/limits")
    assert "mktows_sandbox_user" in browser.find_element(By.ID, "usage").text
