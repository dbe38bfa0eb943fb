"""The HTML report in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them): it loads from disk without a
console error or a network request, shows the counts of the JSON, its filter
box works, hostile data stays text, and a screenshot is kept under
``test-artifacts/``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import wait_for_reports
from helpers import script, stack_sections

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

SERVICE = script("html_page_service")


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing or not _has_selenium():
        message = f"headless Chromium test needs chromium, chromium-driver, selenium: {missing}"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs them: missing there is a failure
        pytest.skip(message)


def _has_selenium() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1600",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_html_report_in_chromium(service, browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    log_dir = tmp_path / "reports"
    svc = service(SERVICE, args=[str(log_dir)])
    svc.signal()
    files = wait_for_reports(log_dir, 2)
    page = next(p for p in files if p.suffix == ".html")
    report = json.loads(next(p for p in files if p.suffix == ".json").read_text())

    browser.get(page.as_uri())
    body = browser.find_element(By.TAG_NAME, "body")
    assert body.get_attribute("data-ready") == "1"  # the page's script ran to its end

    # no console message at all (errors, CSP violations, warnings), no request
    log = browser.get_log("browser")
    assert log == [], log
    resources = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert resources == 0

    # the counts shown are those of the JSON
    stacks = stack_sections(report)
    assert {"threads", "green_threads", "asyncio_tasks"} <= set(stacks)
    assert stacks["asyncio_tasks"]["total"] >= 5  # 4 jobs and the main task
    for sid, data in stacks.items():
        chip = browser.find_element(By.CSS_SELECTOR, f'.chip[data-count-of="{sid}"]')
        assert int(chip.get_attribute("data-total")) == data["total"]
        assert chip.text.startswith(f"{data['total']} ")
        sec = browser.find_element(By.CSS_SELECTOR, f'details.section[data-id="{sid}"]')
        units = sec.find_elements(By.CSS_SELECTOR, "details.unit")
        assert len(units) == len(data["entries"])
        assert [int(u.get_attribute("data-count")) for u in units] == [
            e["count"] for e in data["entries"]
        ]
        shown_text = [u.find_element(By.CSS_SELECTOR, ".count").text for u in units]
        assert shown_text == [f"×{e['count']}" for e in data["entries"]]
        assert sec.find_element(By.CSS_SELECTOR, ".shown-count").text == str(data["total"])
    green_total = stacks["green_threads"]["total"]
    assert green_total >= 6  # 5 workers, the hub, main

    # source lines are shown
    sources = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "code.src")]
    assert "stop.wait()" in sources
    assert "eventlet.sleep(0.05)" in sources

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "html-report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the filter box narrows threads and greenlets down
    box = browser.find_element(By.ID, "filter")
    box.send_keys("pool_worker")
    threads = browser.find_element(By.CSS_SELECTOR, 'details.section[data-id="threads"]')
    assert threads.find_element(By.CSS_SELECTOR, ".shown-count").text == "3"
    visible = [
        u for u in threads.find_elements(By.CSS_SELECTOR, "details.unit") if u.is_displayed()
    ]
    assert len(visible) == 1
    green = browser.find_element(By.CSS_SELECTOR, 'details.section[data-id="green_threads"]')
    assert green.find_element(By.CSS_SELECTOR, ".shown-count").text == "0"
    assert (
        browser.find_element(By.ID, "filter-status").text
        == f"3 of {sum(d['total'] for d in stacks.values())} match"
    )
    browser.save_screenshot(str(ARTIFACTS / "html-report-filtered.png"))
    box.clear()
    box.send_keys("green_worker")
    assert green.find_element(By.CSS_SELECTOR, ".shown-count").text == "5"
    assert threads.find_element(By.CSS_SELECTOR, ".shown-count").text == "0"
    box.clear()
    box.send_keys("job-")
    tasks = browser.find_element(By.CSS_SELECTOR, 'details.section[data-id="asyncio_tasks"]')
    assert tasks.find_element(By.CSS_SELECTOR, ".shown-count").text == "4"
    assert green.find_element(By.CSS_SELECTOR, ".shown-count").text == "0"

    # collapse all closes every section
    browser.find_element(By.ID, "collapse-all").click()
    assert (
        browser.execute_script("return document.querySelectorAll('details.section[open]').length")
        == 0
    )

    # hostile data stayed text: no injected element, no alert, two scripts only
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 2
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    embedded = browser.execute_script(
        "return JSON.parse(document.getElementById('report-data').textContent)"
    )
    assert embedded == report
    assert browser.get_log("browser") == []


def test_html_stacks_fold_library_frames_in_chromium(service, browser: Any, tmp_path: Path) -> None:
    """In a real browser: a worker thread's own frame is marked and in sight,
    the standard-library frames around it are folded (not displayed) until
    one click on their summary opens them, shown by short paths with the
    full path (the JSON's) on hover; eventlet's frames read
    ``eventlet/...``; Expand all and Collapse all open and close the folds."""
    import sysconfig

    from selenium.webdriver.common.by import By

    log_dir = tmp_path / "reports"
    svc = service(SERVICE, args=[str(log_dir)])
    svc.signal()
    files = wait_for_reports(log_dir, 2)
    page = next(p for p in files if p.suffix == ".html")
    report = json.loads(next(p for p in files if p.suffix == ".json").read_text())
    # the document names the service's standard library (the same interpreter as ours)
    assert report["header"]["python"]["stdlib"] == sysconfig.get_paths()["stdlib"]
    pool = next(
        e
        for e in stack_sections(report)["threads"]["entries"]
        if any(f["function"] == "pool_worker" for f in e["stack"])
    )
    browser.get(page.as_uri())
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
    threads = browser.find_element(By.CSS_SELECTOR, 'details.section[data-id="threads"]')
    unit = next(
        u
        for u in threads.find_elements(By.CSS_SELECTOR, "details.unit")
        if "pool_worker" in (u.get_attribute("data-search") or "")
    )
    (app,) = unit.find_elements(By.CSS_SELECTOR, "li.frame.app")
    assert app.is_displayed()
    assert app.find_element(By.CSS_SELECTOR, ".app-mark").text == "app"
    app_frame = next(f for f in pool["stack"] if f["function"] == "pool_worker")
    assert app.find_element(By.CSS_SELECTOR, ".loc").text == (
        f"{app_frame['file']}:{app_frame['line']}"
    )
    folds = unit.find_elements(By.CSS_SELECTOR, "details.fold")
    assert len(folds) == 2  # threading's bootstrap above, Event.wait below
    stdlib_frames = unit.find_elements(By.CSS_SELECTOR, "li.frame.stdlib")
    assert len(stdlib_frames) == len(pool["stack"]) - 1
    assert not any(f.is_displayed() for f in stdlib_frames)
    inner = folds[1]
    assert inner.get_attribute("open") is None
    summary = inner.find_element(By.TAG_NAME, "summary")
    assert summary.text.endswith("standard-library frames: threading")
    summary.click()  # one click opens it
    assert inner.get_attribute("open") == "true"
    shown = inner.find_elements(By.CSS_SELECTOR, "li.frame")
    assert shown and all(f.is_displayed() for f in shown)
    innermost = pool["stack"][-1]
    loc = shown[-1].find_element(By.CSS_SELECTOR, ".loc")
    assert loc.text == f"threading.py:{innermost['line']}"
    assert loc.get_attribute("title") == innermost["file"]
    assert not folds[0].find_elements(By.CSS_SELECTOR, "li.frame")[0].is_displayed()
    # eventlet's frames by their package path
    green = browser.find_element(By.CSS_SELECTOR, 'details.section[data-id="green_threads"]')
    libs = green.find_elements(By.CSS_SELECTOR, "li.frame.library .loc")
    assert libs and all(el.get_attribute("textContent").startswith("eventlet/") for el in libs), [
        el.get_attribute("textContent") for el in libs
    ]
    browser.find_element(By.ID, "expand-all").click()
    assert (
        browser.execute_script(
            "return document.querySelectorAll('details.fold:not([open])').length"
        )
        == 0
    )
    browser.find_element(By.ID, "collapse-all").click()
    assert (
        browser.execute_script("return document.querySelectorAll('details.fold[open]').length") == 0
    )
    assert browser.get_log("browser") == []
