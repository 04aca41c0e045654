"""The page in a real headless browser (Debian's Chromium driven by Selenium) against a live server on
all-MiniLM-L6-v2 with an API key: the page asks for the key once, a typed query shows the expected sentence first,
the map draws one point per sentence, a sentence of HTML shows as text, and a screenshot of the page is saved to
docs/serve.png for README.

The tests never wait for a moment: they wait for the state the page declares (``data-state="settled"`` on the hit
list with ``data-query``, the query those hits answer; on the map with ``data-dims`` and ``data-hits``) and read
what it shows in one script, inside that state, so a re-render cannot make what they read stale.

Without Chromium and chromedriver these tests skip, naming what to install; with the CI environment variable set
they fail instead, so CI never silently skips them.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.conftest import REPO_ROOT
from tests.serve.conftest import API_KEY, CORPUS, MARKUP, QUERIES

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
    """A headless Chromium with a fresh profile, on the live server's page, 1280x860, the API key given once when
    the page asks for it."""
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
        give_key(driver)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, condition, message: str):
    """``condition(driver)`` once it is truthy; elements gone stale meanwhile count as "not yet"."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message)


def give_key(driver) -> None:
    """Answer the page's one prompt for the API key (its first API call is refused with 401)."""
    from selenium.webdriver.support import expected_conditions

    alert = wait_for(driver, expected_conditions.alert_is_present(), "the page did not ask for the API key")
    assert "API key" in alert.text
    alert.send_keys(API_KEY)
    alert.accept()


# the hits shown once the hit list has settled on the given query (null before): read in one script, so that no
# re-render can come between the check and the read
SETTLED_HITS = """
const list = document.getElementById('hits');
if (list.dataset.state !== 'settled' || list.dataset.query !== arguments[0]) return null;
return Array.from(list.querySelectorAll('li .sentence .text')).map((el) => el.textContent);
"""

# once the map has settled on the given dimensions and number of circled hits: each trace's name and its number
# of points (as plotly drew them: SVG paths in 2-D, the scene's data in 3-D), the legend and the status line
SETTLED_MAP = """
const map = document.getElementById('map');
if (map.dataset.state !== 'settled' || map.dataset.dims !== arguments[0] || map.dataset.hits !== arguments[1])
  return null;
const traces = arguments[0] === '2'
  ? Array.from(map.querySelectorAll('g.trace.scatter')).map(
      (g) => [g.__data__[0].trace.name, g.querySelectorAll('path.point').length])
  : map.data.map((t) => [t.name, t.z.length]);
return {traces, legend: Array.from(map.querySelectorAll('.legendtext')).map((el) => el.textContent),
        status: document.getElementById('map-status').textContent,
        scene: map.querySelectorAll('.gl-container, canvas').length};
"""


def search(driver, query: str) -> list[str]:
    """Type ``query`` into the search box; the hits the page shows for it once settled."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "query")
    box.clear()
    box.send_keys(query)
    return wait_for(driver, lambda d: d.execute_script(SETTLED_HITS, query), f"no hits settled for {query!r}")


def settled_map(driver, dims: int, hits: int) -> dict:
    return wait_for(driver, lambda d: d.execute_script(SETTLED_MAP, str(dims), str(hits)),
                    f"the {dims}-D map with {hits} hits circled was not drawn")


def test_typed_query_shows_the_expected_sentence_first(browser):
    for query, expected in list(QUERIES.items())[:2]:
        hits = search(browser, query)
        assert hits[0] == expected, f"{expected!r} was not the first hit of {query!r}"
        assert len(hits) == 10  # the default top 10


def test_map_draws_one_point_per_sentence_and_circles_the_hits(browser):
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "tab-map").click()
    drawn = settled_map(browser, 2, 10)  # the last search's 10 hits, circled
    clusters = {name: n for name, n in drawn["traces"] if name != "search hits"}
    assert len(clusters) == 6  # the live server's --n-clusters
    assert sum(clusters.values()) == len(CORPUS)
    assert dict(drawn["traces"])["search hits"] == 10
    assert len(drawn["legend"]) == len(clusters) + 1
    assert drawn["status"].startswith(f"{len(CORPUS)} sentences in {len(clusters)} clusters")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))


def test_3d_toggle_draws_a_rotatable_scene_of_every_sentence(browser):
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "dims-3").click()
    drawn = settled_map(browser, 3, 10)
    assert sum(n for name, n in drawn["traces"] if name != "search hits") == len(CORPUS)
    assert drawn["scene"]  # a WebGL scene
    browser.find_element(By.ID, "dims-2").click()
    settled_map(browser, 2, 10)


# hover the map's point of corpus position arguments[0]; the hover label's text (null until plotly drew it)
HOVER = """
const map = document.getElementById('map');
const curve = map.data.findIndex((t) => t.name !== 'search hits' && t.customdata.includes(arguments[0]));
Plotly.Fx.hover(map, [{curveNumber: curve, pointNumber: map.data[curve].customdata.indexOf(arguments[0])}]);
const label = map.querySelector('.hoverlayer .hovertext');
return label ? label.textContent : null;
"""


def test_a_sentence_of_html_shows_as_text_in_the_hits_and_the_map(browser):
    """The corpus sentence ``<img src=x onerror=...>`` is shown as typed, never run (it would set the title)."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "tab-search").click()
    assert MARKUP in search(browser, MARKUP)[:1]
    browser.find_element(By.ID, "tab-map").click()
    settled_map(browser, 2, 10)
    hover = wait_for(browser, lambda d: d.execute_script(HOVER, CORPUS.index(MARKUP)), "no hover label")
    assert "<img src=x onerror=" in hover and "& <b>bold</b>" in hover
    assert not browser.find_elements(By.CSS_SELECTOR, "img, #map b")  # no element was made of the sentence
    assert browser.title == "simcse-st"


def test_similarity_view_shows_the_cosine_of_the_api(browser, live_server):
    import httpx
    from selenium.webdriver.common.by import By

    pair = ["A dog runs in the park.", "A puppy is running on the grass."]
    expected = httpx.post(live_server.url + "api/similarity", json={"pairs": [pair]},
                          headers={"Authorization": f"Bearer {API_KEY}"}).json()["scores"][0]
    browser.find_element(By.ID, "tab-similarity").click()
    browser.find_element(By.ID, "first").send_keys(pair[0])
    browser.find_element(By.ID, "second").send_keys(pair[1])
    browser.find_element(By.CSS_SELECTOR, "#similarity-form button").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "cosine").text == f"{expected:.3f}",
             f"the page did not show the cosine {expected:.3f}")
