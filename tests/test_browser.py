"""The client page end to end, in real headless Chromium driven by Selenium.

Needs Debian's `chromium` and `chromium-driver` packages (/usr/bin/chromium and
/usr/bin/chromedriver). Nothing is ever downloaded: the driver path is given explicitly, so
Selenium Manager does not run, and SE_OFFLINE=true forbids it anyway.
"""

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import InferenceRecord, Visitor

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN_KEY = "inferapi.token"
WAIT_SECONDS = 30
UNSUPPORTED_SENTENCE = "That file is not a supported image (JPEG, PNG, WebP, GIF or BMP)."

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("Chromium not installed: apt-get install chromium chromium-driver")

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")
        profile = tempfile.mkdtemp(prefix="inferapi-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,1024",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)


def wait(driver, seconds: float = WAIT_SECONDS) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


@pytest.fixture
def page(browser, live_server):
    """The page, freshly loaded with empty session storage, once it holds a token.

    The browser outlives each test's database, so a token kept from an earlier test would
    name a visitor that no longer exists: storage is cleared from a static file of the same
    origin first, where app.js does not run and so cannot write a token back.
    """
    browser.get(f"{live_server.url}/static/css/app.css")
    browser.execute_script("window.sessionStorage.clear();")
    browser.get_log("browser")  # drop what earlier tests left in the log
    browser.get(f"{live_server.url}/")
    wait(browser).until(
        lambda driver: driver.execute_script(f"return sessionStorage.getItem('{TOKEN_KEY}');")
    )
    return browser


def stored_token(driver) -> dict:
    return json.loads(driver.execute_script(f"return sessionStorage.getItem('{TOKEN_KEY}');"))


def ellipse(cx: float, cy: float, rx: float, ry: float, steps: int = 36) -> list[tuple]:
    return [
        (cx + rx * math.sin(2 * math.pi * i / steps), cy - ry * math.cos(2 * math.pi * i / steps))
        for i in range(steps + 1)
    ]


# Strokes in canvas pixels (the canvas is 280x280).
ZERO = [ellipse(140, 140, 70, 100)]


def draw(driver, strokes: list[list[tuple]]) -> None:
    """Draws each stroke with the mouse: button down, moves, button up."""
    canvas = driver.find_element(By.ID, "canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    size = canvas.size
    scale_x, scale_y = size["width"] / 280, size["height"] / 280

    def offset(point: tuple) -> tuple[int, int]:
        # Offsets are from the centre of the element.
        x, y = point
        return round((x - 140) * scale_x), round((y - 140) * scale_y)

    for stroke in strokes:
        actions = ActionChains(driver, duration=10)
        actions.move_to_element_with_offset(canvas, *offset(stroke[0])).click_and_hold()
        for point in stroke[1:]:
            actions.move_to_element_with_offset(canvas, *offset(point))
        actions.release().perform()


def shown_predictions(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#predictions li.prediction")


def classify_drawing(driver, strokes: list[list[tuple]]) -> list:
    draw(driver, strokes)
    driver.find_element(By.ID, "classify-drawing").click()
    return wait(driver).until(lambda d: shown_predictions(d) or False)


def test_the_page_obtains_a_token_and_keeps_it_in_session_storage(page):
    token = stored_token(page)

    assert token["access"]
    assert token["visitorId"]
    assert Visitor.objects.filter(id=token["visitorId"]).exists()


def test_a_digit_drawn_on_the_canvas_is_classified(page):
    predictions = classify_drawing(page, ZERO)

    assert len(predictions) == 5
    assert predictions[0].find_element(By.CLASS_NAME, "label").text == "0"
    assert InferenceRecord.objects.filter(status=200, top_label="0").exists()


def test_an_uploaded_file_that_is_not_an_image_shows_a_plain_error(page, tmp_path: Path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("This is a shopping list, not a picture.\n")

    page.find_element(By.ID, "file-input").send_keys(str(text_file))

    wait(page).until(ec.text_to_be_present_in_element((By.ID, "error"), UNSUPPORTED_SENTENCE))
    assert page.find_element(By.ID, "error").text == UNSUPPORTED_SENTENCE
    assert shown_predictions(page) == []


def test_the_page_runs_without_csp_violations_or_console_errors(page):
    classify_drawing(page, ZERO)

    severe = [
        entry
        for entry in page.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]
    assert severe == []


def severe_entries(driver) -> list[dict]:
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


@pytest.mark.parametrize(
    ("path", "ready_selector"),
    [
        ("/admin/login/", "#login-form"),
        ("/api/docs/", ".swagger-ui .information-container"),
        ("/api/v1/token/", "#content"),
    ],
)
def test_the_admin_docs_and_browsable_api_render_without_csp_violations(
    browser, live_server, path, ready_selector
):
    browser.get_log("browser")
    browser.get(f"{live_server.url}{path}")

    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, ready_selector)))
    # The browsable API's own 405 for GET on a POST endpoint is logged as a network error.
    problems = [entry for entry in severe_entries(browser) if entry["source"] != "network"]
    assert problems == []
