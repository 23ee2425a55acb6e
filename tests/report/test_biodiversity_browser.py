"""Open the biodiversity page in headless Chromium: it renders with no console errors, every plot
loads, long tables are folded and unfold on a click, headers carry their formulas as tooltips.

Skipped without Debian's chromium + chromium-driver (scripts/ensure_chromium.sh).
Set BENTHOS_BIODIVERSITY_SCREENSHOT=/some/file.png to keep a copy of the screenshot.
"""
import os
import shutil

import pytest

from benthos.cli.main import main
from benthos.ecology.correction import Evaluation
from benthos.ecology.predictions import Predictions
from benthos.runs.atomic import atomic_write_json


@pytest.mark.timeout(180)
def test_biodiversity_page_renders_in_chromium(driver, tmp_path):
    from selenium.webdriver.common.by import By

    p = Predictions.example("classification", n_images=40)
    p.images = [f"site_{i % 14:02d}/img_{i:03d}.jpg" for i in range(len(p))]
    p.write(tmp_path / "preds.csv")
    atomic_write_json(tmp_path / "evaluation.json", Evaluation.example().to_dict())
    page = tmp_path / "biodiversity.html"
    assert main(["ecology", "report", str(tmp_path / "preds.csv"), "--by", "folder", "--evaluation",
                 str(tmp_path / "evaluation.json"), "--bootstrap", "5", "--out", str(page)]) == 0
    driver.get(page.resolve().as_uri())

    assert driver.title == "Biodiversity report"
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    plots = driver.find_elements(By.CSS_SELECTOR, "img.plot")
    assert {p.get_attribute("alt") for p in plots} == {"composition of each sample (stacked bars)",
                                                       "rarefaction and extrapolation curves", "species accumulation curve"}
    for img in plots:
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
    folded = driver.find_element(By.CSS_SELECTOR, "#counts details")
    table = folded.find_element(By.TAG_NAME, "table")
    assert not table.is_displayed()
    folded.find_element(By.TAG_NAME, "summary").click()
    assert table.is_displayed() and len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 14
    shannon = driver.find_element(By.XPATH, "//section[@id='diversity']//th[text()='Shannon index']")
    assert "ln p" in shannon.get_attribute("title")

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(height + 120, 12000))
    shot = tmp_path / "biodiversity.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("BENTHOS_BIODIVERSITY_SCREENSHOT"):
        shutil.copy(shot, os.environ["BENTHOS_BIODIVERSITY_SCREENSHOT"])
