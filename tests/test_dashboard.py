"""The dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``), against
a real ``lakeledger serve`` process with a token: every page loads with no console error, two runs
compare as two curves, the as-of control changes the models page, the coverage calendar marks the
missing day. Screenshots of every page go to ``$LAKELEDGER_SCREENSHOTS`` (default
``screenshots/`` at the repository root) for a reviewer to look at."""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from lakeledger import Ledger

from tests.serve_fixtures import TOKEN, Server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("LAKELEDGER_SCREENSHOTS", Path(__file__).resolve().parents[1] / "screenshots"))
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()) and not os.environ.get("CI"),
    reason="headless Chromium not installed (scripts/test installs Debian's chromium + chromium-driver)",
)


def build_ledger(root: Path) -> dict[str, object]:
    """Two runs with loss curves, a model whose Production version changes, a daily dataset
    with one missing day, a failing validation and an artifact with an input."""
    facts: dict[str, object] = {}
    with Ledger.open(root) as ledger:
        runs = []
        for lr in (0.1, 0.01):
            with ledger.run("train", params={"lr": lr}, experiment="churn") as run:
                for step in range(20):
                    run.log_metric("loss", 1.0 / (1 + step * lr * 10), step=step)
                runs.append(run.run_id)
        ledger.flush()
        facts["runs"] = runs
        v1 = ledger.register_model_version("churn", run_id=runs[0], artifact_uri="models/churn-1.bin")
        ledger.set_stage("churn", v1, "Production")
        facts["v1_production_at"] = ledger.version
        v2 = ledger.register_model_version("churn", run_id=runs[1], artifact_uri="models/churn-2.bin")
        ledger.set_stage("churn", v1, "Archived")
        ledger.set_stage("churn", v2, "Production")
        ledger.declare_dataset("sales", freq="D", start="2025-03-01", end="2025-03-05")
        for day in ("01", "02", "04", "05"):
            ledger.observe_partition("sales", f"date=2025-03-{day}", rows=100, bytes=2048)
        ledger.record_validation("model/churn", "auc_floor", False, observed=0.81, expected=0.9)
        ledger.register_artifact("features", "features/part.parquet", inputs=["dataset/sales"],
                                 run_id=runs[1])
    return facts


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, object]]]:
    root = tmp_path_factory.mktemp("dash") / "ledger"
    facts = build_ledger(root)
    server = Server(str(root)).start()
    try:
        yield server, facts
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(site: tuple[Server, dict[str, object]]) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(120)
    server, _ = site
    driver.get(server.url + "/runs")  # no token yet: the login form
    assert driver.current_url.endswith("/login")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 60).until(ec.url_contains("/runs"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def visit(driver: webdriver.Chrome, url: str, shot: str) -> list[dict[str, object]]:
    """Load a page, save its screenshot, return the console errors it raised."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
    time.sleep(0.2)  # charts draw on load
    driver.save_screenshot(str(SHOTS / f"{shot}.png"))
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_every_page_loads_without_console_errors(site, browser) -> None:
    server, facts = site
    run = facts["runs"][0]  # type: ignore[index]
    pages = {
        "runs": "/runs",
        "run": f"/runs/{run}",
        "models": "/models",
        "model": "/models/churn",
        "artifacts": "/artifacts",
        "artifact": "/artifacts/features",
        "coverage": "/coverage",
        "validations": "/validations",
        "validation-history": "/validations/history?target=model/churn&check=auc_floor",
        "ingestion": "/ingestion",
        "audit": "/audit?stream=model/churn",
        "audit-diff": "/audit/diff?view=models&since=3",
    }
    for shot, path in pages.items():
        errors = visit(browser, server.url + path, shot)
        assert not errors, f"{path}: {errors}"
        assert browser.find_element(By.TAG_NAME, "h1").text, f"{path} has no heading"
        assert "Not found" not in browser.page_source and "Cannot show" not in browser.page_source, path


def test_compare_two_runs_draws_both_curves(site, browser) -> None:
    server, facts = site
    query = "&".join(f"run={r}" for r in facts["runs"])  # type: ignore[attr-defined]
    assert not visit(browser, f"{server.url}/runs/compare?{query}", "compare")
    chart = browser.find_element(By.CSS_SELECTOR, "[data-chart]")
    assert chart.get_attribute("data-drawn") == "2"
    legend = chart.find_elements(By.CSS_SELECTOR, ".u-legend .u-series")
    assert len(legend) == 3  # the x axis + one series per run
    assert chart.find_element(By.TAG_NAME, "canvas").size["width"] > 200


def test_the_runs_page_filters_with_the_search_language(site, browser) -> None:
    server, facts = site
    visit(browser, server.url + "/runs", "runs-filter")
    box = browser.find_element(By.ID, "filter")
    box.send_keys("params.lr = 0.01 or params.lr = 0.5")
    box.submit()
    WebDriverWait(browser, 60).until(ec.url_contains("filter="))
    shown = [b.get_attribute("value") for b in browser.find_elements(By.CSS_SELECTOR, "input[name=run]")]
    assert shown == [facts["runs"][1]]  # type: ignore[index]
    visit(browser, server.url + "/runs?filter=metrics.loss+%3E%3E+1", "runs-bad-filter")
    assert "Cannot show this page" in browser.page_source and "^" in browser.page_source


def test_compare_from_the_runs_page_checkboxes(site, browser) -> None:
    server, _ = site
    visit(browser, server.url + "/runs", "runs-select")
    for box in browser.find_elements(By.CSS_SELECTOR, "input[name=run]")[:2]:
        box.click()
    browser.find_element(By.ID, "compare").click()
    WebDriverWait(browser, 60).until(ec.url_contains("/runs/compare"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-chart]").get_attribute("data-drawn") == "2"


def test_the_as_of_control_changes_the_models_page(site, browser) -> None:
    server, facts = site

    def production() -> list[str]:
        rows = browser.find_elements(By.CSS_SELECTOR, "table tbody tr")
        return [r.text for r in rows if "Production" in r.text]

    visit(browser, server.url + "/models", "models-now")
    now = production()
    assert len(now) == 1 and now[0].split()[1] == "2"
    field = browser.find_element(By.ID, "asof-value")
    field.clear()
    field.send_keys(str(facts["v1_production_at"]))
    browser.find_element(By.CSS_SELECTOR, "form.asof button[type=submit]").click()
    WebDriverWait(browser, 60).until(ec.url_contains("as_of="))
    then = production()
    browser.save_screenshot(str(SHOTS / "models-as-of.png"))
    assert len(then) == 1 and then[0].split()[1] == "1"
    assert "as it was at" in browser.page_source
    # the slider moves the page too, and the URL carries the moment for anyone to open
    browser.execute_script(
        "const s = document.getElementById('asof-version'); s.value = s.max;"
        "s.dispatchEvent(new Event('change'));"
    )
    WebDriverWait(browser, 60).until(lambda d: "as_of=" not in d.current_url)
    assert production()[0].split()[1] == "2"


def test_the_coverage_calendar_marks_the_missing_day(site, browser) -> None:
    server, _ = site
    visit(browser, server.url + "/coverage", "coverage")
    cells = browser.find_elements(By.CSS_SELECTOR, "#dataset-sales .calendar .cell")
    # a cell's status is its second class: "cell missing"
    status = {c.get_attribute("data-label"): c.get_attribute("class").split()[1] for c in cells}
    assert status == {
        "2025-03-01": "present", "2025-03-02": "present", "2025-03-03": "missing",
        "2025-03-04": "present", "2025-03-05": "present",
    }
    present = browser.find_element(By.CSS_SELECTOR, "#dataset-sales .cell[data-label='2025-03-01']")
    assert "100 rows" in present.get_attribute("title") and "2048 bytes" in present.get_attribute("title")
    missing = browser.find_element(By.CSS_SELECTOR, "#dataset-sales .cell[data-label='2025-03-03']")
    assert missing.get_attribute("title").endswith(": missing")  # no facts for a partition never seen


def get(server: Server, path: str, token: str | None) -> tuple[int, str]:
    headers = {"Accept": "text/html"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(server.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.geturl()
    except urllib.error.HTTPError as err:
        return err.code, err.geturl()


def test_pages_are_read_only_and_need_the_token(site) -> None:
    server, _ = site
    before = Ledger.open(server.root, create=False).version
    assert server.request("GET", "/models", token=None)[0] == 401  # API clients: 401
    assert get(server, "/models", None)[1].endswith("/login")  # browsers: the login form
    assert get(server, "/models", "wrong")[1].endswith("/login")
    for path in ("/runs", "/models", "/coverage", "/audit?stream=model/churn", "/validations"):
        assert get(server, path, TOKEN) == (200, server.url + path)
    assert Ledger.open(server.root, create=False).version == before


def test_pages_are_readable_on_a_phone(site, browser) -> None:
    """At phone width nothing but the tables' own scroll boxes is wider than the screen."""
    server, _ = site
    browser.set_window_size(390, 844)
    try:
        for path in ("/runs", "/models", "/coverage", "/artifacts/features"):
            assert not visit(browser, server.url + path, "phone" + path.replace("/", "-"))
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"
    finally:
        browser.set_window_size(1280, 900)
