"""Open the report in headless Chromium: it must render with no console errors.

Needs Debian's chromium + chromium-driver (scripts/ensure_chromium.sh); skipped without them.
Set BENTHOS_REPORT_SCREENSHOT=/some/file.png to keep a copy of the screenshot.
"""
import os
import shutil

import pytest

from benthos.report.classification import write_report


@pytest.mark.timeout(120)
def test_report_renders_in_chromium(fake_run, driver, tmp_path):
    from selenium.webdriver.common.by import By

    run_dir, evaluation, mistakes = fake_run
    report = write_report(run_dir, evaluation, mistakes)
    driver.get(report.resolve().as_uri())

    assert driver.title == f"Classification report: {run_dir.name}"
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    plots = driver.find_elements(By.CSS_SELECTOR, "img.plot")
    assert {p.get_attribute("alt") for p in plots} == {"learning curves", "confusion matrix", "reliability diagram"}
    thumbs = driver.find_elements(By.CSS_SELECTOR, ".gallery img")
    assert len(thumbs) == len(mistakes)
    for img in plots + thumbs:
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
    per_class = driver.find_element(By.CSS_SELECTOR, "#per-class table")
    rows = per_class.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == len(evaluation["classes"]) and rows[0].is_displayed()
    assert rows[0].find_element(By.TAG_NAME, "td").text == evaluation["classes"][0]

    # grow the window to the whole page so the screenshot shows every section
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(height + 120, 12000))
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("BENTHOS_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["BENTHOS_REPORT_SCREENSHOT"])
