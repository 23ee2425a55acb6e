"""The baseline of bench_predict.py: a plain eager PyTorch loop over a run's architecture and images,
as a user would write it (PIL decode, torchvision transforms, NCHW fp32, no_grad, batch 32, one view),
writing path,label,score to a CSV.

    python benchmarks/plain_loop.py RUN IMAGE_FOLDER OUT.csv

Prints one JSON line: images, seconds in the model's forward passes, seconds in all (this process).
"""
import csv
import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision import transforms  # noqa: E402

from benthos.runs import load_run  # noqa: E402  (only to build the same architecture with its weights)


class Files(torch.utils.data.Dataset):
    def __init__(self, paths, tf):
        self.paths, self.tf = paths, tf

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.tf(Image.open(self.paths[i]).convert("RGB"))


def main() -> None:
    run, folder, out = sys.argv[1:4]
    model, meta = load_run(run)
    pre = meta["preprocessing"]
    size = pre["input_size"]
    tf = transforms.Compose([transforms.Resize(round(size / pre.get("crop_fraction", 0.875))),
                             transforms.CenterCrop(size), transforms.ToTensor(),
                             transforms.Normalize(pre["mean"], pre["std"])])
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    loader = torch.utils.data.DataLoader(Files(paths, tf), batch_size=32)
    model.eval()
    forward_s, rows = 0.0, []
    with torch.no_grad():
        for x in loader:
            t = time.perf_counter()
            p = model(x).softmax(1)
            forward_s += time.perf_counter() - t
            score, label = p.max(1)
            rows += [(meta["classes"][i], f"{s:.4f}") for i, s in zip(label.tolist(), score.tolist())]
    with open(out, "w", newline="") as fh:
        csv.writer(fh).writerows((str(p), *r) for p, r in zip(paths, rows))
    print(json.dumps({"images": len(paths), "forward_s": forward_s, "process_s": time.perf_counter() - T0}))


if __name__ == "__main__":
    main()
