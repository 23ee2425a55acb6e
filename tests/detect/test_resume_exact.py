"""A detector run killed after a checkpoint and resumed ends with the weights of a run never stopped."""
import pytest
import torch
from safetensors.torch import load_file

from benthos.detect.config import DetectConfig
from benthos.tasks.detect import train


def _cfg(**kw):
    return DetectConfig(model="yolo_lite0", backbone="test_efficientnet", input_size=64, epochs=3, batch_size=2,
                        limit_train_batches=2, pretrained_backbone=False, val_fraction=0.25, color_jitter=0.3, **kw)


@pytest.mark.parametrize("kill_at", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_resumed_run_equals_the_uninterrupted_one(coco_factory, tmp_path, kill_at):
    coco = coco_factory(tmp_path / "data", n=6)
    train(coco, tmp_path / "whole", _cfg(), log=lambda s: None)

    def dies(line: str) -> None:  # killed as epoch `kill_at` ends, before its checkpoint is written
        if line.startswith(f"epoch={kill_at} "):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(coco, tmp_path / "killed", _cfg(), log=dies)
    said = []
    train(coco, tmp_path / "killed", _cfg(), log=said.append)
    assert any("resuming from" in s and f"at epoch {kill_at - 1}" in s for s in said)
    a, b = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(tmp_path / "killed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    whole = (tmp_path / "whole" / "logs" / "metrics.csv").read_text().splitlines()
    resumed = (tmp_path / "killed" / "logs" / "metrics.csv").read_text().splitlines()
    strip = lambda rows: [",".join(c for i, c in enumerate(r.split(",")) if i != 2) for r in rows]  # noqa: E731 (seconds)
    assert strip(whole) == strip(resumed)
