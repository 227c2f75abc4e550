"""The card in a real browser, against a real `connector run` (with an API token) and the fake
platform as its own process: the list and a card, values against the API, sets through the
form, a refusal's reason, Retry Errors, tickets that appear and complete without a reload, and
the token login. Screenshots go to build/card-screenshots/.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.service.card.browser import chromium, screenshot, wait_for
from tests.service.card.elements import batch, tickets
from tools.chaos.element import ELEMENT, ElementSettings, credentials, write_element_yaml
from tools.chaos.processes import PlatformProcess, RuntimeProcess

pytestmark = pytest.mark.slow

TOKEN = "card-browser-t0ken"
SEED = 5
CARD = f"/elements/{quote(ELEMENT)}"


@pytest.fixture(scope="module")
def platform() -> Iterator[PlatformProcess]:
    password, api_key = credentials(SEED)
    with tempfile.TemporaryDirectory(prefix="card-platform-") as work:
        process = PlatformProcess(seed=SEED, password=password, api_key=api_key, log_path=Path(work) / "platform.log")
        try:
            yield process
        finally:
            process.stop()


@pytest.fixture(scope="module")
def element(platform: PlatformProcess) -> Iterator[RuntimeProcess]:
    """`connector run` with an API token; the card's address is the API's."""
    password, api_key = credentials(SEED)
    settings = ElementSettings(max_retries=3, retry_delay=0.1, processing_interval=1, request_batch=20)
    with tempfile.TemporaryDirectory(prefix="card-element-") as work:
        yaml_path, env = write_element_yaml(
            Path(work), platform.port, password=password, api_key=api_key, settings=settings
        )
        process = RuntimeProcess(yaml_path, env, log_path=Path(work) / "runtime.log", token=TOKEN)
        process.start()
        try:
            yield process
        finally:
            process.terminate()
            process.close()


@pytest.fixture(scope="module")
def browser(element: RuntimeProcess) -> Iterator[webdriver.Chrome]:
    """One browser for the module, logged in with the token."""
    with chromium() as driver:
        driver.get(element.api + "/login")
        driver.find_element(By.ID, "token").send_keys(TOKEN, Keys.ENTER)
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-element]"))
        yield driver


# Every control a screen reader would reach without a name: no label, no aria-label, no text.
UNLABELLED_CONTROLS = """
return [...document.querySelectorAll("input, select, button")]
  .filter(el => el.type !== "hidden")
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim())
  .map(el => el.outerHTML);
"""


def open_card(driver: webdriver.Chrome, element: RuntimeProcess, page: str = "general") -> None:
    driver.get(f"{element.api}{CARD}?page={page}")
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "[data-state]"))


def text(driver: webdriver.Chrome, selector: str) -> str:
    try:
        return str(driver.find_element(By.CSS_SELECTOR, selector).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def api_param(element: RuntimeProcess, name: str) -> dict[str, Any]:
    answer = element.get(f"/params/{quote(name, safe='')}")
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def statuses(driver: webdriver.Chrome, keys: list[str]) -> list[str]:
    return [text(driver, f'tr[data-key="{key}"] td[data-column="1006"]') for key in keys]


def test_the_list_and_the_card_show_what_the_api_says(browser: webdriver.Chrome, element: RuntimeProcess) -> None:
    browser.get(element.api + "/")
    item = browser.find_element(By.CSS_SELECTOR, f'[data-element="{ELEMENT}"]')
    assert item.find_element(By.CSS_SELECTOR, "[data-state]").get_attribute("data-state") == "running"
    item.find_element(By.LINK_TEXT, ELEMENT).click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-param="13"]'))
    api = element.client.get("/api/elements").json()[0]
    assert browser.find_element(By.CSS_SELECTOR, "[data-state]").get_attribute("data-state") == api["state"]
    assert api["version"] in text(browser, ".protocol")
    for name, param_id in (("Max Retries", 12), ("Retry Delay", 16), ("Ticketing Processing", 10)):
        assert text(browser, f'[data-value="{param_id}"]') == api_param(element, name)["display"]
    password = browser.find_element(By.CSS_SELECTOR, '[data-param="35"]')
    assert password.get_attribute("type") == "password" and password.get_attribute("value") == ""
    assert credentials(SEED)[0] not in browser.page_source
    assert browser.execute_script(UNLABELLED_CONTROLS) == []
    screenshot(browser, "card-general")


def test_the_pages_are_tabs_for_the_keyboard_too(browser: webdriver.Chrome, element: RuntimeProcess) -> None:
    open_card(browser, element)
    general = browser.find_element(By.CSS_SELECTOR, '[data-tab="general"]')
    general.send_keys(Keys.ARROW_RIGHT)
    wait_for(browser, lambda d: d.find_element(By.ID, "page-platforms").is_displayed())
    assert not browser.find_element(By.ID, "page-general").is_displayed()
    assert browser.switch_to.active_element.get_attribute("data-tab") == "platforms"
    assert browser.current_url.endswith("?page=platforms")


def test_max_retries_set_through_the_form(browser: webdriver.Chrome, element: RuntimeProcess) -> None:
    open_card(browser, element)
    field = browser.find_element(By.CSS_SELECTOR, '[data-param="13"]')
    field.clear()
    field.send_keys("7", Keys.ENTER)  # Enter applies it
    wait_for(browser, lambda d: api_param(element, "Max Retries")["value"] == 7)
    wait_for(browser, lambda d: text(d, '[data-value="12"]') == "7")
    field.clear()
    field.send_keys("6")
    field.find_element(By.XPATH, "./ancestor::form//button[contains(@class, 'set')]").click()  # and so does Set
    wait_for(browser, lambda d: api_param(element, "Max Retries")["value"] == 6)
    wait_for(browser, lambda d: text(d, '[data-value="12"]') == "6")


def test_a_refused_value_shows_its_reason(browser: webdriver.Chrome, element: RuntimeProcess) -> None:
    open_card(browser, element)
    field = browser.find_element(By.CSS_SELECTOR, '[data-param="13"]')
    field.clear()
    field.send_keys("99", Keys.ENTER)
    wait_for(browser, lambda d: "must be at most 10" in text(d, '[data-refusal="13"]'))
    assert text(browser, '[data-refusal="13"]') == "Max Retries: must be at most 10, got 99"
    assert api_param(element, "Max Retries")["value"] == 6
    assert field.get_attribute("value") == "99"  # what the user typed stays, to be corrected
    screenshot(browser, "refused-set")


def test_tickets_sent_through_the_api_appear_and_complete_without_a_reload(
    browser: webdriver.Chrome, element: RuntimeProcess
) -> None:
    open_card(browser, element, page="tickets")
    browser.execute_script("window.cardNotReloaded = true")
    search = browser.find_element(By.CSS_SELECTOR, '[data-table="1000"] [data-search]')
    search.send_keys("live-")  # the user's search, and where they scrolled to, outlive the updates
    browser.execute_script("arguments[0].scrollIntoView()", search)
    scrolled = browser.execute_script("return window.scrollY")
    rows = tickets(30, prefix="LIVE")
    keys = [row["ticketId"] for row in rows]
    element.post_interapp(batch(rows, "card-live")).raise_for_status()
    wait_for(browser, lambda d: all(statuses(d, keys)))  # the rows appear
    wait_for(browser, lambda d: statuses(d, keys) == ["Completed"] * len(keys), timeout=60)
    assert browser.execute_script("return window.cardNotReloaded") is True
    assert text(browser, '[data-table="1000"] [data-total]') == str(len(keys))  # only LIVE- rows match
    assert search.get_attribute("value") == "live-" and browser.execute_script("return window.scrollY") == scrolled
    screenshot(browser, "tickets-completed")


def test_a_half_typed_value_outlives_the_updates(browser: webdriver.Chrome, element: RuntimeProcess) -> None:
    open_card(browser, element)
    field = browser.find_element(By.CSS_SELECTOR, '[data-param="19"]')  # Processing Interval
    field.clear()
    field.send_keys("12")  # no Enter: not applied
    browser.find_element(By.TAG_NAME, "h1").click()  # and the field loses the focus
    received = text(browser, '[data-value="39"]')
    element.post_interapp(batch(tickets(3, prefix="TYPED"), "card-typed")).raise_for_status()
    wait_for(browser, lambda d: text(d, '[data-value="39"]') != received)  # an update came
    assert field.get_attribute("value") == "12"
    assert api_param(element, "Processing Interval")["value"] == 1


def test_retry_errors_sends_error_tickets_again(
    browser: webdriver.Chrome, element: RuntimeProcess, platform: PlatformProcess
) -> None:
    element.set_param("Max Retries", 0).raise_for_status()
    platform.set_faults({"fail_operation": {"create_ticket": "Business object validation failed"}})
    rows = tickets(5, prefix="RETRY")
    keys = [row["ticketId"] for row in rows]
    open_card(browser, element, page="tickets")
    Select(browser.find_element(By.CSS_SELECTOR, '[data-table="1000"] [data-filter="1006"]')).select_by_visible_text(
        "Error"
    )
    element.post_interapp(batch(rows, "card-retry")).raise_for_status()
    wait_for(browser, lambda d: statuses(d, keys) == ["Error"] * len(keys), timeout=60)
    platform.set_faults({})
    browser.find_element(By.CSS_SELECTOR, 'button[data-param="50"]').click()
    wait_for(browser, lambda d: not any(statuses(d, keys)), timeout=60)  # out of the Error filter
    wait_for(browser, lambda d: _api_statuses(element, keys) == {"Completed"}, timeout=60)


def test_a_password_set_from_the_card_never_comes_back(browser: webdriver.Chrome, element: RuntimeProcess) -> None:
    password = credentials(SEED)[0]  # the one it has: the platform keeps accepting it
    open_card(browser, element, page="platforms")
    field = browser.find_element(By.CSS_SELECTOR, '[data-param="35"]')
    field.send_keys(Keys.ENTER)  # empty: refused in the page, nothing sent
    wait_for(browser, lambda d: text(d, '[data-refusal="35"]') == "Type the new value first.")
    field.send_keys(password, Keys.ENTER)
    wait_for(browser, lambda d: field.get_attribute("value") == "" and not text(d, '[data-refusal="35"]'))
    assert api_param(element, "Cherwell Password")["display"] == "********"
    assert password not in browser.page_source
    live = browser.execute_script("return fetch(arguments[0]).then(r => r.text())", f"{CARD}/live?page=platforms")
    assert password not in live and "********" in live


def _api_statuses(element: RuntimeProcess, keys: list[str]) -> set[str]:
    rows = element.get("/tables/Ticket%20Overview?limit=100000").json()["rows"]
    return {row["Status"] for row in rows if row["Ticket ID"] in keys}


def test_the_token_login(element: RuntimeProcess) -> None:
    with chromium() as driver:
        driver.get(element.api + CARD)
        assert "/login" in driver.current_url and not driver.find_elements(By.CSS_SELECTOR, "[data-state]")
        driver.find_element(By.ID, "token").send_keys("not-the-token", Keys.ENTER)
        wait_for(driver, lambda d: "not the API token" in text(d, ".refusal"))
        screenshot(driver, "token-page")
        driver.find_element(By.ID, "token").send_keys(TOKEN, Keys.ENTER)
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-state]"))
        assert driver.current_url.endswith(CARD)
        assert TOKEN not in driver.page_source
        cookie = driver.get_cookie("connector_card")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert driver.execute_script("return document.cookie") == ""  # out of the script's reach
