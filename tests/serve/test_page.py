"""The page in a real headless browser (Debian's Chromium driven by Selenium) against a live server on
all-MiniLM-L6-v2: a typed query shows the expected sentence first, the map draws one point per sentence, and a
screenshot of the page is saved to docs/serve.png for README.

Without Chromium and chromedriver these tests skip, naming what to install; with the CI environment variable set
they fail instead, so CI never silently skips them.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.conftest import REPO_ROOT
from tests.serve.conftest import CORPUS, QUERIES

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
INSTALL = "apt-get install chromium chromium-driver (and pip install selenium)"
SCREENSHOT = REPO_ROOT / "docs" / "serve.png"
WAIT_S = 60


def _find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = candidate if os.path.isfile(candidate) else shutil.which(candidate)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {reason}: {INSTALL}")
    pytest.skip(f"{reason}: {INSTALL}")


@pytest.fixture(scope="module")
def browser(live_server):
    """A headless Chromium with a fresh profile, on the live server's page, 1280x860."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    chromium, driver_path = _find(CHROMIUM), _find(CHROMEDRIVER)
    if chromium is None or driver_path is None:
        _unavailable(f"{'Chromium' if chromium is None else 'chromedriver'} is not installed")
    profile = tempfile.mkdtemp(prefix="simcse-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,860"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        driver.get(live_server.url)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(lambda d: condition(d), message)


def first_hits(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#hits li .sentence .text")]


# each plotly scatter trace in the 2-D map: its name and how many points it drew as SVG paths
DRAWN_POINTS = """
return Array.from(document.querySelectorAll('#map g.trace.scatter')).map(
  (g) => [g.__data__[0].trace.name, g.querySelectorAll('path.point').length]);
"""


def test_typed_query_shows_the_expected_sentence_first(browser):
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, "query")
    for query, expected in list(QUERIES.items())[:2]:
        box.clear()
        box.send_keys(query)
        wait_for(browser, lambda d, e=expected: first_hits(d)[:1] == [e],
                 f"{expected!r} was not the first hit of {query!r}")
    assert len(first_hits(browser)) == 10  # the default top 10


def test_map_draws_one_point_per_sentence_and_circles_the_hits(browser):
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "tab-map").click()
    counts = wait_for(browser, lambda d: d.execute_script(DRAWN_POINTS) or None, "the map was not drawn")
    clusters = {name: n for name, n in counts if name != "search hits"}
    assert len(clusters) == 6  # the live server's --n-clusters
    assert sum(clusters.values()) == len(CORPUS)
    assert dict(counts)["search hits"] == 10  # the last search's hits, circled
    legend = [el.text for el in browser.find_elements(By.CSS_SELECTOR, "#map .legendtext")]
    assert len(legend) == len(clusters) + 1
    status = browser.find_element(By.ID, "map-status").text
    assert status.startswith(f"{len(CORPUS)} sentences in {len(clusters)} clusters")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))


def test_3d_toggle_draws_a_rotatable_scene_of_every_sentence(browser):
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "dims-3").click()
    traces = wait_for(browser, lambda d: d.execute_script(
        "const gd = document.getElementById('map');"
        "return gd.data && gd.data[0].type === 'scatter3d' ? gd.data.map((t) => [t.name, t.z.length]) : null;"),
        "the 3-D map was not drawn")
    assert sum(n for name, n in traces if name != "search hits") == len(CORPUS)
    assert browser.find_elements(By.CSS_SELECTOR, "#map .gl-container, #map canvas")  # a WebGL scene
    browser.find_element(By.ID, "dims-2").click()


def test_similarity_view_shows_the_cosine_of_the_api(browser, live_server):
    import httpx
    from selenium.webdriver.common.by import By

    pair = ["A dog runs in the park.", "A puppy is running on the grass."]
    expected = httpx.post(live_server.url + "api/similarity", json={"pairs": [pair]}).json()["scores"][0]
    browser.find_element(By.ID, "tab-similarity").click()
    browser.find_element(By.ID, "first").send_keys(pair[0])
    browser.find_element(By.ID, "second").send_keys(pair[1])
    browser.find_element(By.CSS_SELECTOR, "#similarity-form button").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "cosine").text == f"{expected:.3f}",
             f"the page did not show the cosine {expected:.3f}")
