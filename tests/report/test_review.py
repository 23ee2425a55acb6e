"""`benthos review`: confirm or correct predictions in the browser; the answers train the next model."""
import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from benthos.cli.main import main

CLASSES = ["fish", "starfish"]


def _predictions(tmp_path, points: bool):
    """A `benthos predict`-style CSV over three photos (paths relative to the CSV, as when predicting
    from its folder), scores 0.9 / 0.55 / 0.7."""
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    rows = []
    for k, (label, p) in enumerate([("fish", 0.9), ("starfish", 0.55), ("fish", 0.7)]):
        name = f"photos/p{k}.jpg"
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(tmp_path / name)
        probs = {"fish": p, "starfish": 1 - p} if label == "fish" else {"fish": 1 - p, "starfish": p}
        row = {"image": name, "label": label, "score": p, **{f"prob:{c}": probs[c] for c in CLASSES}, "energy": -3.0}
        if points:
            row.update(row=10 + 50 * k, column=390)  # the last point's patch runs past the right edge
        rows.append(row)
    path = tmp_path / "preds.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


AWAIT = "window.benthosReview.{}.then(() => arguments[arguments.length - 1]())"


def _stored(driver):
    """Wait until every answer given on the page is in the browser's store (IndexedDB writes are asynchronous)."""
    driver.execute_async_script(AWAIT.format("settled()"))


def _loaded(driver):
    """Wait until the page has read the answers stored for its predictions file."""
    driver.execute_async_script(AWAIT.format("ready"))


def _meta(page):
    return json.loads(re.search(r'<script type="application/json" id="review-meta">(.*?)</script>', page.read_text()).group(1))


@pytest.mark.parametrize("points", [False, True], ids=["images", "points"])
def test_review_page_lists_least_sure_first(tmp_path, points, capsys):
    preds = _predictions(tmp_path, points)
    assert main(["review", str(preds)]) == 0
    page = tmp_path / "preds_review.html"
    assert "3 of 3" in capsys.readouterr().out
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained, readable offline
    meta = _meta(page)
    assert [i["score"] for i in meta["items"]] == [0.55, 0.7, 0.9]
    assert all(i["path"].startswith(str(tmp_path)) for i in meta["items"])  # resolved beside the CSV
    assert meta["columns"] == (["Name", "Row", "Column", "Label"] if points else ["path", "label", "group"]) \
        + ["predicted", "score", "status"]
    assert text.count('class="card"') == 3 and text.count("data:image/jpeg;base64,") == 3
    assert main(["review", str(preds), "--order", "file", "--limit", "2", "--out", str(tmp_path / "two.html")]) == 0
    assert [i["score"] for i in _meta(tmp_path / "two.html")["items"]] == [0.9, 0.55]


def test_review_refuses_detections_and_bad_limits(tmp_path, capsys):
    det = tmp_path / "detections.csv"
    det.write_text("image,label,score,x0,y0,x1,y1\na.jpg,fish,0.9,1,2,3,4\n")
    assert main(["review", str(det)]) == 2
    assert "these are detections (boxes)" in capsys.readouterr().err
    assert main(["review", str(_predictions(tmp_path, False)), "--limit", "-3"]) == 2
    assert "limit -3" in capsys.readouterr().err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("points", [False, True], ids=["images", "points"])
def test_answers_survive_a_reload_and_train_the_next_model(tmp_path, driver, points):
    """In Chromium: one prediction confirmed, one corrected to a taxon the model does not know;
    the answers are still there after a reload, and the downloaded CSV is training data."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from benthos.data import load_classification

    preds = _predictions(tmp_path, points)
    assert main(["review", str(preds)]) == 0
    driver.get((tmp_path / "preds_review.html").resolve().as_uri())
    _loaded(driver)
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    cards = driver.find_elements(By.CSS_SELECTOR, ".card")
    assert len(cards) == 3
    for img in driver.find_elements(By.CSS_SELECTOR, ".card img"):
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
    cards[0].find_element(By.CSS_SELECTOR, "button.ok").click()  # 0.55 starfish: right
    box = cards[2].find_element(By.TAG_NAME, "input")  # 0.9 fish: actually a sea cucumber
    box.send_keys("sea cucumber", Keys.TAB)
    assert driver.find_element(By.ID, "progress").text == "2 of 3 answered (1 right, 1 corrected)"
    assert "right" in cards[0].get_attribute("class") and "corrected" in cards[2].get_attribute("class")

    _stored(driver)
    driver.refresh()  # nothing is lost with a reload (or a closed tab)
    _loaded(driver)
    assert driver.find_element(By.ID, "progress").text == "2 of 3 answered (1 right, 1 corrected)"
    assert driver.find_elements(By.CSS_SELECTOR, ".card input")[2].get_attribute("value") == "sea cucumber"

    text = driver.execute_script("return window.benthosReview.csv()")
    rows = list(csv.DictReader(text.splitlines()))
    assert [(r.get("Label") or r.get("label"), r["status"], r["predicted"]) for r in rows] == [
        ("starfish", "right", "starfish"), ("sea cucumber", "corrected", "fish")]
    answers = tmp_path / "answers.csv"
    answers.write_text(text)
    data = load_classification(answers)  # what `benthos train answers.csv` reads
    assert sorted(s.label for s in data.samples) == ["sea cucumber", "starfish"]
    assert sorted(s.path.name for s in data.samples) == ["p0.jpg", "p1.jpg"]
    if points:
        assert data.source == "coralnet" and all(s.box is not None for s in data.samples)


@pytest.mark.timeout(120)
def test_answers_follow_their_items_when_the_page_is_written_again(tmp_path, driver):
    """Answers belong to the photo (and point), not to a card position: another order or --limit,
    or new predictions in the same file, show each answer on its own item; items left off the page
    keep their answers without being downloaded; a changed prediction turns a "right" into a correction."""
    from selenium.webdriver.common.by import By

    preds = _predictions(tmp_path, points=True)
    assert main(["review", str(preds)]) == 0  # least sure first: p1 (0.55), p2 (0.7), p0 (0.9)
    driver.get((tmp_path / "preds_review.html").resolve().as_uri())
    _loaded(driver)
    driver.execute_script("window.benthosReview.answer(0, 'starfish'); window.benthosReview.answer(2, 'sea cucumber')")
    _stored(driver)

    def page(*args):
        out = tmp_path / f"page{len(list(tmp_path.glob('page*')))}.html"
        assert main(["review", str(preds), "--out", str(out), *args]) == 0
        driver.get(out.resolve().as_uri())
        _loaded(driver)
        rows = list(csv.DictReader(driver.execute_script("return window.benthosReview.csv()").splitlines()))
        return driver.find_element(By.ID, "progress").text, [(r["Name"][-6:], r["Label"], r["status"]) for r in rows]

    assert page("--order", "file", "--limit", "2") == (  # p0, p1
        "2 of 2 answered (1 right, 1 corrected)", [("p0.jpg", "sea cucumber", "corrected"), ("p1.jpg", "starfish", "right")])
    assert page("--order", "file", "--limit", "1") == (
        "1 of 1 answered (0 right, 1 corrected); 1 earlier answers are about items not on this page (kept, not downloaded)",
        [("p0.jpg", "sea cucumber", "corrected")])
    lines = preds.read_text().splitlines()
    assert lines[2].startswith("photos/p1.jpg,starfish,0.55,")
    lines[2] = lines[2].replace("photos/p1.jpg,starfish,0.55,", "photos/p1.jpg,fish,0.45,")  # a new model's prediction
    preds.write_text("\n".join(lines) + "\n")
    assert page("--order", "file") == ("2 of 3 answered (0 right, 2 corrected)",
                                      [("p0.jpg", "sea cucumber", "corrected"), ("p1.jpg", "starfish", "corrected")])

    # answers a page kept in localStorage (pages written before answers moved to IndexedDB) are moved over once
    page_id = _meta(tmp_path / "page2.html")["id"]
    p2 = json.loads(driver.execute_script("return JSON.stringify(window.benthosReview.answers())"))
    key = f"{(tmp_path / 'photos' / 'p2.jpg').resolve()}|110|390"  # p2's point, not answered yet
    assert key not in p2
    driver.execute_script("localStorage.setItem(arguments[0], arguments[1])", f"benthos-review:{page_id}",
                          json.dumps({key: {"label": "fish"}, next(iter(p2)): {"label": "an older answer"}}))
    driver.execute_async_script(AWAIT.format("refresh()"))  # as on loading the page (a reload would race localStorage)
    assert driver.find_element(By.ID, "progress").text == "3 of 3 answered (1 right, 2 corrected)"  # the newer p0 answer kept
    assert driver.execute_script("return localStorage.getItem(arguments[0])", f"benthos-review:{page_id}") is None

    # "Clear answers" forgets every answer for this predictions file, stored ones included
    driver.execute_script("window.confirm = () => true; document.getElementById('clear').click()")
    _stored(driver)
    driver.refresh()
    _loaded(driver)
    assert driver.find_element(By.ID, "progress").text == "0 of 3 answered (0 right, 0 corrected)"
