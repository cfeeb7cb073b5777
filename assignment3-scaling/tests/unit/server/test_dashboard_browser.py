"""The dashboard end to end in headless Debian Chromium, driven by Selenium + chromedriver (no browser download)."""

import json

import pytest
from conftest import chromium_paths

from tests.conftest import ALICE_KEY, Api, LiveServer, make_cfg

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]  # fmt: skip


@pytest.fixture
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, chromedriver = chromium_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def _wait(driver, predicate, timeout: float = 15.0):
    """Poll until predicate is truthy and return its value; the page re-renders its tables every 2 s, so elements
    found a moment ago may be stale: those lookups are retried."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (StaleElementReferenceException, NoSuchElementException)
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(predicate)


def test_dashboard_budget_submit_table_chart(api: Api, live_server: LiveServer, driver) -> None:
    from selenium.webdriver.common.by import By

    find = lambda css: driver.find_element(By.CSS_SELECTOR, css)  # noqa: E731
    driver.get(live_server.url + "/dashboard")
    find("#api-key").send_keys(ALICE_KEY)
    find("#connect").click()
    _wait(driver, lambda d: find("#budget-remaining").text == "43200.0")
    _wait(driver, lambda d: find("#status").text == "connected")

    # submit through the JSON box
    box = find("#submit-json")
    box.clear()
    box.send_keys(json.dumps(make_cfg()))
    find("#submit-btn").click()
    _wait(driver, lambda d: "submitted experiment" in find("#submit-result").text)
    exp_id = int(_wait(driver, lambda d: find("#submit-result").text).split()[-1])
    _wait(driver, lambda d: find("#budget-used").text == "600.0")  # the reservation shows immediately

    api.run()  # the dispatcher runs it on the simulated backend
    find("#connect").click()
    _wait(driver, lambda d: find(f'tr[data-id="{exp_id}"] .st').text == "completed")
    loss_cell = _wait(driver, lambda d: find(f'tr[data-id="{exp_id}"] .loss').text)
    expected = api.req("GET", f"/experiment/{exp_id}").json()["status"]["val_losses"][-1]
    assert float(loss_cell) == pytest.approx(expected, abs=1e-4)
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#experiments svg.spark polyline")) == 1)
    linear_points = _wait(
        driver, lambda d: find(f'#loss-chart polyline.curve[data-id="{exp_id}"]').get_attribute("points")
    )
    assert len(linear_points.split()) == 8
    find("#log-toggle").click()
    _wait(driver, lambda d: find("#loss-chart polyline.curve").get_attribute("points") != linear_points)

    # a duplicate and an invalid body show the server's error
    box = find("#submit-json")
    box.clear()
    box.send_keys(json.dumps(make_cfg()))
    find("#submit-btn").click()
    _wait(driver, lambda d: "HTTP 409" in find("#submit-result").text)
    box.clear()
    box.send_keys(json.dumps(make_cfg(train_batch_size=0)))
    find("#submit-btn").click()
    _wait(
        driver,
        lambda d: "HTTP 422" in find("#submit-result").text and "train_batch_size" in find("#submit-result").text,
    )

    # final submission panel and persisted settings
    _wait(driver, lambda d: find("#final-submission").text == "none")
    api.req("POST", "/final_submission", json={"training_config": make_cfg(), "predicted_final_loss": 3.25})
    find("#connect").click()
    _wait(driver, lambda d: '"predicted_final_loss": 3.25' in find("#final-submission").text)
    driver.refresh()
    _wait(driver, lambda d: find("#api-key").get_attribute("value") == ALICE_KEY)


def test_dashboard_reports_bad_key(api: Api, live_server: LiveServer, driver) -> None:
    from selenium.webdriver.common.by import By

    driver.get(live_server.url + "/dashboard")
    driver.find_element(By.CSS_SELECTOR, "#api-key").send_keys("00000000")
    driver.find_element(By.CSS_SELECTOR, "#connect").click()
    _wait(driver, lambda d: "401" in d.find_element(By.CSS_SELECTOR, "#status").text)
    assert "invalid API key" in driver.find_element(By.CSS_SELECTOR, "#status").text
