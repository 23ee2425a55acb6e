"""A fake run folder: run.json with history, an evaluation on random data, mistake images."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from benthos.evaluate import classification_metrics

CLASSES = ["Acropora", "Porites", "Pocillopora", "crustose coralline algae", "turf algae", "sand", "sponge"]


@pytest.fixture
def fake_run(tmp_path):
    rng = np.random.default_rng(0)
    run_dir = tmp_path / "run-resnet18"
    run_dir.mkdir()
    history = [
        {"epoch": e, "train_loss": 1.9 * 0.8**e, "val_loss": 2.0 * 0.85**e + 0.05 * e / 10, "val_acc": 0.3 + 0.06 * e}
        for e in range(1, 11)
    ]
    run = {
        "architecture": "resnet18",
        "classes": CLASSES,
        "preprocessing": {"size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "config": {"train": {"strategy": "finetune", "epochs": 10, "lr": 0.001}},
        "metrics": {"val_acc": 0.84},
        "history": history,
        "data": {"source": "coralnet", "n_train": 700, "n_val": 150, "n_test": 150},
        "duration_s": 754.2,
        "versions": {"benthos": "0.1.0", "torch": "2.4.0"},
    }
    (run_dir / "run.json").write_text(json.dumps(run))
    n, c = 150, len(CLASSES)
    y = rng.integers(0, c, size=n)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    evaluation = classification_metrics(y, probs, CLASSES)
    mistakes = []
    for i in range(4):
        path = tmp_path / f"img{i}.jpg"
        arr = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
        Image.fromarray(arr).save(path)
        box = (140, 100, 200, 160) if i == 0 else None  # runs past the right and bottom edges: padded
        mistakes.append({"path": str(path), "true": CLASSES[i], "pred": CLASSES[i + 1], "score": 0.5 + 0.1 * i, "box": box})
    return run_dir, evaluation, mistakes


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def driver():
    """Headless Chromium through Selenium; the test is skipped where Chromium is not installed."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium/chromedriver not installed: run scripts/ensure_chromium.sh (as root)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path keeps Selenium Manager from trying to download one
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
